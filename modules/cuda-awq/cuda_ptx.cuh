/*
 * cuda_ptx.cuh -- the inline PTX the tensor-core kernels share
 * (cuda_att_core.cuh, awq_gemm.cu, awq_gemv.cu, and the int8-kv module's
 * kernels): 16- and 8-byte asynchronous copies into shared memory,
 * ldmatrix and mma.m16n8k16 with f32 accumulation.  Shared-memory
 * operands are 32-bit shared addresses (ptx_smem).
 */

#ifndef CUDA_PTX_CUH
#define CUDA_PTX_CUH

#include <stdint.h>

#include <cuda_runtime.h>


static __device__ __forceinline__ uint32_t
ptx_smem(const void *p)
{
    return (uint32_t) __cvta_generic_to_shared(p);
}


/* 16 bytes from src to shared dst, cached in L2 only; the first `bytes`
 * (16 or 0) are read, the rest zero-filled (0: src is not read). */
static __device__ __forceinline__ void
ptx_cp16(uint32_t dst, const void *src, int bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;"
                 :: "r"(dst), "l"(src), "r"(bytes) : "memory");
}


/* The same through L1 too, for data other CTAs of the SM reuse. */
static __device__ __forceinline__ void
ptx_cp16_ca(uint32_t dst, const void *src, int bytes)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;"
                 :: "r"(dst), "l"(src), "r"(bytes) : "memory");
}


/* 8 bytes from src (8-byte aligned) to shared dst, through L1; the
 * first `bytes` (8 or 0) are read, the rest zero-filled. */
static __device__ __forceinline__ void
ptx_cp8(uint32_t dst, const void *src, int bytes)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;"
                 :: "r"(dst), "l"(src), "r"(bytes) : "memory");
}


/* Plain shared-memory loads and stores at shared addresses. */
static __device__ __forceinline__ uint32_t
ptx_lds32(uint32_t addr)
{
    uint32_t  v;

    asm volatile("ld.shared.u32 %0, [%1];" : "=r"(v) : "r"(addr));
    return v;
}


static __device__ __forceinline__ uint2
ptx_lds64(uint32_t addr)
{
    uint2  v;

    asm volatile("ld.shared.v2.u32 {%0, %1}, [%2];"
                 : "=r"(v.x), "=r"(v.y) : "r"(addr));
    return v;
}


static __device__ __forceinline__ uint4
ptx_lds128(uint32_t addr)
{
    uint4  v;

    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr));
    return v;
}


static __device__ __forceinline__ void
ptx_sts128(uint32_t addr, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};"
                 :: "r"(addr), "r"(a), "r"(b), "r"(c), "r"(d) : "memory");
}


static __device__ __forceinline__ void
ptx_commit(void)
{
    asm volatile("cp.async.commit_group;" ::: "memory");
}


/* Waits until at most N of this thread's copy groups are in flight. */
template <int N>
static __device__ __forceinline__ void
ptx_wait(void)
{
    asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory");
}


static __device__ __forceinline__ void
ptx_ldsm4(uint32_t *d, uint32_t addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 "
                 "{%0, %1, %2, %3}, [%4];"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(addr));
}


static __device__ __forceinline__ void
ptx_ldsm4_t(uint32_t *d, uint32_t addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 "
                 "{%0, %1, %2, %3}, [%4];"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(addr));
}


/* d += a b on f16 operands (A row-major 16 x 16, B col-major 16 x 8). */
static __device__ __forceinline__ void
ptx_mma_f16(float *d, const uint32_t *a, uint32_t b0, uint32_t b1)
{
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}


static __device__ __forceinline__ void
ptx_mma_bf16(float *d, const uint32_t *a, uint32_t b0, uint32_t b1)
{
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}


/* 16 bytes that no kernel writes (weights), read without L1 allocation. */
static __device__ __forceinline__ uint4
ptx_ld_stream(const uint4 *p)
{
    uint4  r;

    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, "
                 "[%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "l"(p));
    return r;
}


/* a - b and a * b on half2 held in 32-bit registers. */
static __device__ __forceinline__ uint32_t
ptx_hsub2(uint32_t a, uint32_t b)
{
    uint32_t  r;

    asm("sub.rn.f16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
    return r;
}


static __device__ __forceinline__ uint32_t
ptx_hmul2(uint32_t a, uint32_t b)
{
    uint32_t  r;

    asm("mul.rn.f16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

#endif /* CUDA_PTX_CUH */
