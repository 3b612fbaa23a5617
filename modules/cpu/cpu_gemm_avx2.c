/* cpu_gemm_avx2.c: placeholder, being written. */
