/*
 * lmd_engine_nosym.c -- a shared object that is not an lmd module (it
 * exports no `lmd_module`): the loader must say so.
 */

#include "lmd_module.h"

LMD_MODULE_EXPORT int  lmd_not_a_module = 1;
