/*
 * lmd_http_completions.c -- placeholder: the completion endpoints.
 */

#include "lmd_common.h"
