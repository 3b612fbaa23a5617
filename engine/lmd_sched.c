/*
 * lmd_sched.c -- placeholder: the continuous-batching scheduler.
 */

#include "lmd_common.h"
