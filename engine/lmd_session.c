/* lmd_session.c: placeholder, being written. */
