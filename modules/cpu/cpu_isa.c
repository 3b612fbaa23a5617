/*
 * cpu_isa.c -- picks the cpu engine's kernels at run time: the best
 * instruction set this CPU has (cpuid), or a lower one that LMD_CPU_ISA
 * (portable, avx2, avx512) asks for.  A request for a set the CPU lacks
 * is ignored.  The choice is made once and kept for the process, since
 * the kernels of different sets round differently.
 *
 * BF16 weights: on AVX512_BF16 they are computed with vdpbf16ps, x rounded
 * to bf16 once per product (twice the FMA rate for prompts, decode being
 * bound by memory either way); elsewhere, or with LMD_CPU_BF16=fma, by
 * conversion to f32 and FMA like the other formats.
 */

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_common.h"
#include "cpu_gemm.h"

static const struct cpu_gemm_ops  cpu_ops_portable = {
    CPU_ISA_PORTABLE, cpu_gemm_portable, NULL, cpu_gemm_i8_portable,
    cpu_softmax_portable, cpu_swiglu_portable
};

#if defined(__x86_64__)

static const struct cpu_gemm_ops  cpu_ops_avx2 = {
    CPU_ISA_AVX2, cpu_gemm_avx2, NULL, cpu_gemm_i8_avx2,
    cpu_softmax_avx2, cpu_swiglu_avx2
};

/* [bf16 by vdpbf16ps][i8 by vpdpbusd] */
static const struct cpu_gemm_ops  cpu_ops_avx512[2][2] = {
    {
        { CPU_ISA_AVX512, cpu_gemm_avx512, NULL, cpu_gemm_i8_avx2,
          cpu_softmax_avx512, cpu_swiglu_avx512 },
        { CPU_ISA_AVX512, cpu_gemm_avx512, NULL, cpu_gemm_i8_vnni,
          cpu_softmax_avx512, cpu_swiglu_avx512 }
    },
    {
        { CPU_ISA_AVX512, cpu_gemm_avx512, cpu_x_to_bf16_avx512,
          cpu_gemm_i8_avx2, cpu_softmax_avx512, cpu_swiglu_avx512 },
        { CPU_ISA_AVX512, cpu_gemm_avx512, cpu_x_to_bf16_avx512,
          cpu_gemm_i8_vnni, cpu_softmax_avx512, cpu_swiglu_avx512 }
    }
};

#endif

static _Atomic(const struct cpu_gemm_ops *)  cpu_ops_current;


int
cpu_isa_supported(int isa)
{
    switch (isa) {
    case CPU_ISA_PORTABLE:
        return 1;
#if defined(__x86_64__)
    case CPU_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2")
               && __builtin_cpu_supports("fma")
               && __builtin_cpu_supports("f16c");
    case CPU_ISA_AVX512:
        /* cpu_gemm_avx512.c is built for F/BW/VL/DQ (the compiler may use
         * any of them), plus the AVX2 set. */
        return cpu_isa_supported(CPU_ISA_AVX2)
               && __builtin_cpu_supports("avx512f")
               && __builtin_cpu_supports("avx512bw")
               && __builtin_cpu_supports("avx512vl")
               && __builtin_cpu_supports("avx512dq");
#endif
    default:
        return 0;
    }
}


static int
cpu_has_avx512_bf16(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    return cpu_isa_supported(CPU_ISA_AVX512)
           && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}


static const struct cpu_gemm_ops *
cpu_ops_for(int isa, int bf16_dp)
{
#if defined(__x86_64__)
    if (isa == CPU_ISA_AVX512) {
        if (bf16_dp < 0) {
            const char  *e = getenv("LMD_CPU_BF16");

            bf16_dp = !(e != NULL && strcmp(e, "fma") == 0);
        }
        __builtin_cpu_init();
        return &cpu_ops_avx512[bf16_dp && cpu_has_avx512_bf16()]
                              [__builtin_cpu_supports("avx512vnni") != 0];
    }
    if (isa == CPU_ISA_AVX2) {
        return &cpu_ops_avx2;
    }
#endif
    (void) bf16_dp;
    return &cpu_ops_portable;
}


static const struct cpu_gemm_ops *
cpu_ops_choose(void)
{
    int          isa, want;
    const char  *e;

    isa = CPU_ISA_PORTABLE;
    if (cpu_isa_supported(CPU_ISA_AVX512)) {
        isa = CPU_ISA_AVX512;
    } else if (cpu_isa_supported(CPU_ISA_AVX2)) {
        isa = CPU_ISA_AVX2;
    }

    e = getenv("LMD_CPU_ISA");
    if (e != NULL) {
        want = -1;
        if (strcmp(e, "portable") == 0) {
            want = CPU_ISA_PORTABLE;
        } else if (strcmp(e, "avx2") == 0) {
            want = CPU_ISA_AVX2;
        } else if (strcmp(e, "avx512") == 0) {
            want = CPU_ISA_AVX512;
        }
        if (want >= 0 && want < isa) {
            isa = want;
        }
    }

    return cpu_ops_for(isa, -1);
}


const struct cpu_gemm_ops *
cpu_gemm_ops(void)
{
    const struct cpu_gemm_ops  *ops, *expected;

    ops = atomic_load_explicit(&cpu_ops_current, memory_order_acquire);
    if (ops != NULL) {
        return ops;
    }

    /* First use; racing threads agree, as they compute the same. */
    ops = cpu_ops_choose();
    expected = NULL;
    if (!atomic_compare_exchange_strong(&cpu_ops_current, &expected, ops)) {
        ops = expected;
    }
    return ops;
}


int
cpu_isa(void)
{
    return cpu_gemm_ops()->isa;
}


const char *
cpu_isa_name(int isa)
{
    switch (isa) {
    case CPU_ISA_PORTABLE:
        return "portable";
    case CPU_ISA_AVX2:
        return "avx2";
    case CPU_ISA_AVX512:
        return "avx512";
    default:
        return "unknown";
    }
}


int
cpu_isa_set(int isa, int bf16_dp)
{
    if (!cpu_isa_supported(isa)) {
        return LMD_ERROR;
    }
    atomic_store(&cpu_ops_current, cpu_ops_for(isa, bf16_dp));
    return LMD_OK;
}
