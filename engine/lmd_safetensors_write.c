/* lmd_safetensors_write.c: placeholder, being written. */
