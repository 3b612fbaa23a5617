/* cpu_gemm_avx512.c: placeholder, being written. */
