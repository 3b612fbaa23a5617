/* lmd_safetensors.c: placeholder, being written. */
