/*
 * lmd_openai_parse.c -- placeholder: parsing of completion requests
 * (lmd_openai.h).
 */

#include "lmd_common.h"
