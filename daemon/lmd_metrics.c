/*
 * lmd_metrics.c -- placeholder: GET /metrics.
 */

#include "lmd_common.h"
