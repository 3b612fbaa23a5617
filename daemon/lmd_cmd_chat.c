/* lmd_cmd_chat.c: placeholder, being written. */
