/*
 * lmd_model_text.c -- placeholder: a served model's tokenizer and chat
 * template.
 */

#include "lmd_common.h"
