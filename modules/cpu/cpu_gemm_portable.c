/* cpu_gemm_portable.c: placeholder, being written. */
