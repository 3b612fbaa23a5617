/* lmd_cmd_generate.c: placeholder, being written. */
