/*
 * cuda_ops.cu -- the cuda-awq module's elementwise passes: embedding
 * lookup, RMSNorm, bias + RoPE + KV cache write, SiLU gating and row
 * gathers (cuda_kernels.h, "cuda_ops.cu: elementwise").
 *
 * Plan.  Every pass reads and writes each element once, so all are
 * bound by memory bandwidth: threads of a warp touch consecutive 16-byte
 * pieces (8 halves, 4 floats) wherever the row length and the pointers
 * allow it, and fall back to narrower pieces (the same code with a
 * smaller vector width VW) otherwise.  The launchers pick VW from the
 * sizes and the pointers' alignment; the kernels are templates on the
 * 16-bit type (f16 or bf16) and VW.
 *
 * - embed: one block per token, threads along the row.
 * - rmsnorm: one block per row; each thread keeps its NV pieces of the
 *   row in registers, sums their squares in a fixed order, and the block
 *   adds the threads' sums through warp shuffles and shared memory, also
 *   in a fixed order, so a row's result depends only on its n values
 *   (never on rows or timing).  Rows longer than the registers can hold
 *   (more than 32768 floats) take a loop that reads the row twice.
 * - qkv_rope: one block per token; the first head_dim / 2 threads make
 *   the token's cos and sin in shared memory, then the block walks the
 *   (n_heads + 2 n_kv_heads) heads of its row in pieces of VW pairs
 *   (i, i + head_dim / 2): q and k pieces are rotated, v pieces copied,
 *   q goes to q_out and k, v to the cache slot of the token.
 * - silu_mul and gather_rows: a 2-D grid, rows along y, pieces along x.
 *
 * Arithmetic is f32 in the cpu engine's order (modules/cpu/cpu_ops.c);
 * RoPE's is in cuda_rope.cuh.
 */

#include "cuda_kernels.h"
#include "cuda_act.cuh"
#include "cuda_pdl.cuh"
#include "cuda_rope.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define OPS_MAX_HALF    128         /* head_dim <= 256 */
#define OPS_GRID_Y_MAX  65535u


/* ---------------------------------------------------------- helpers */

/* N elements of E read or written as one access (at most 16 bytes). */
template <int N, typename E>
struct alignas(sizeof(E) * N) ops_vec {
    E   e[N];
};


/* f[0 .. N-1] = p[0 .. N-1] as f32; p aligned to N * 2 bytes. */
template <typename T, int N>
static __device__ __forceinline__ void
ops_ld_act(const T *p, float *f)
{
    ops_vec<N, T>  v = *reinterpret_cast<const ops_vec<N, T> *>(p);

#pragma unroll
    for (int k = 0; k < N; k++) {
        f[k] = act_f32(v.e[k]);
    }
}


/* p[0 .. N-1] = f[0 .. N-1] rounded to T; p aligned to N * 2 bytes. */
template <typename T, int N>
static __device__ __forceinline__ void
ops_st_act(T *p, const float *f)
{
    ops_vec<N, T>  v;

#pragma unroll
    for (int k = 0; k < N; k++) {
        v.e[k] = act_round<T>(f[k]);
    }
    *reinterpret_cast<ops_vec<N, T> *>(p) = v;
}


/* N floats in pieces of at most 4 (16 bytes); p aligned to the piece. */
template <int N>
static __device__ __forceinline__ void
ops_ld_f32(const float *p, float *f)
{
    constexpr int  W = N < 4 ? N : 4;

#pragma unroll
    for (int j = 0; j < N; j += W) {
        ops_vec<W, float>  v = *reinterpret_cast<const ops_vec<W, float> *>(
                                   p + j);
#pragma unroll
        for (int k = 0; k < W; k++) {
            f[j + k] = v.e[k];
        }
    }
}


template <int N>
static __device__ __forceinline__ void
ops_st_f32(float *p, const float *f)
{
    constexpr int  W = N < 4 ? N : 4;

#pragma unroll
    for (int j = 0; j < N; j += W) {
        ops_vec<W, float>  v;

#pragma unroll
        for (int k = 0; k < W; k++) {
            v.e[k] = f[j + k];
        }
        *reinterpret_cast<ops_vec<W, float> *>(p + j) = v;
    }
}


static inline int
ops_aligned(const void *p, size_t a)
{
    return ((uintptr_t) p & (a - 1)) == 0;
}


static inline uint32_t
ops_round32(uint32_t n)
{
    return (n + 31) / 32 * 32;
}


/* Every lane gets the same sum: the butterfly adds the same pairs in
 * every lane (a + b == b + a exactly). */
static __device__ __forceinline__ float
ops_warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}


/* The sum of v over the block, in a fixed order, to every thread.
 * blockDim.x is a multiple of 32; sh has 32 floats. */
static __device__ __forceinline__ float
ops_block_sum(float v, float *sh)
{
    uint32_t  lane = threadIdx.x & 31, nw = blockDim.x / 32;

    v = ops_warp_sum(v);
    if (nw == 1) {
        return v;
    }
    if (lane == 0) {
        sh[threadIdx.x / 32] = v;
    }
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0f;
    return ops_warp_sum(v);
}


static int
ops_launched(void)
{
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}


/* ------------------------------------------------------------ embed */

template <typename T, int VW>
static __global__ void
ops_embed_kernel(const T *table, const int32_t *tokens, float *x,
    uint32_t hidden)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    uint32_t   t = blockIdx.x;
    const T   *src = table + (size_t) tokens[t] * hidden;
    float     *dst = x + (size_t) t * hidden;
    float      f[VW];

    for (uint32_t c = threadIdx.x * VW; c < hidden; c += blockDim.x * VW) {
        ops_ld_act<T, VW>(src + c, f);
        ops_st_f32<VW>(dst + c, f);
    }
}


template <typename T>
static int
ops_embed(const void *table, const struct cuda_step *st, float *x,
    uint32_t hidden, cudaStream_t s)
{
    const T   *tb = (const T *) table;
    uint32_t   vw, threads;

    vw = hidden % 8 == 0 && ops_aligned(table, 16) && ops_aligned(x, 16)
         ? 8 : 1;
    threads = ops_round32((hidden / vw + 1) / 2);   /* >= 2 pieces each */
    threads = threads > 256 ? 256 : threads;
    if (vw == 8) {
        pdl_launch(ops_embed_kernel<T, 8>,
            st->n_tokens, threads, 0, s, tb, st->tokens, x, hidden);
    } else {
        pdl_launch(ops_embed_kernel<T, 1>,
            st->n_tokens, threads, 0, s, tb, st->tokens, x, hidden);
    }
    return ops_launched();
}


extern "C" int
cuda_embed(int act, const void *table, const struct cuda_step *st,
    float *x, uint32_t hidden, cudaStream_t s)
{
    if (table == NULL || st == NULL || st->tokens == NULL || x == NULL
        || hidden == 0)
    {
        return -1;
    }
    if (st->n_tokens == 0) {
        return 0;
    }
    switch (act) {
    case CUDA_ACT_F16:
        return ops_embed<__half>(table, st, x, hidden, s);
    case CUDA_ACT_BF16:
        return ops_embed<__nv_bfloat16>(table, st, x, hidden, s);
    }
    return -1;
}


/* ---------------------------------------------------------- rmsnorm */

/* One block per row.  NV > 0: thread k holds pieces k, k + blockDim.x,
 * ... (NV of them) of VW floats in registers; NV == 0: any n, the row is
 * read a second time for the output (from L1 / L2).  Launched with up to
 * 1024 threads, hence the bound (at most 64 registers). */
template <typename T, int VW, int NV>
static __global__ void __launch_bounds__(1024)
ops_rmsnorm_kernel(const float *x, const float *w, T *out, uint32_t n,
    float eps)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    __shared__ float  sh[32];
    const float      *xr = x + (size_t) blockIdx.x * n;
    T                *orow = out + (size_t) blockIdx.x * n;
    uint32_t          nv = n / VW, j;
    float             ss = 0.0f, r, f[NV > 0 ? NV : 1][VW], wv[VW], o[VW];

    if (NV > 0) {
#pragma unroll
        for (int k = 0; k < NV; k++) {
            j = threadIdx.x + k * blockDim.x;
            if (j < nv) {
                ops_ld_f32<VW>(xr + (size_t) j * VW, f[k]);
            } else {
#pragma unroll
                for (int e = 0; e < VW; e++) {
                    f[k][e] = 0.0f;
                }
            }
#pragma unroll
            for (int e = 0; e < VW; e++) {
                ss += f[k][e] * f[k][e];
            }
        }
    } else {
        for (j = threadIdx.x; j < nv; j += blockDim.x) {
            ops_ld_f32<VW>(xr + (size_t) j * VW, f[0]);
#pragma unroll
            for (int e = 0; e < VW; e++) {
                ss += f[0][e] * f[0][e];
            }
        }
    }

    /* as cpu_rmsnorm: the mean rounded to f32, r = 1 / sqrt(mean + eps),
     * out = w * (x * r) */
    ss = ops_block_sum(ss, sh);
    r = 1.0f / sqrtf(ss / (float) n + eps);

    if (NV > 0) {
#pragma unroll
        for (int k = 0; k < NV; k++) {
            j = threadIdx.x + k * blockDim.x;
            if (j < nv) {
                ops_ld_f32<VW>(w + (size_t) j * VW, wv);
#pragma unroll
                for (int e = 0; e < VW; e++) {
                    o[e] = wv[e] * (f[k][e] * r);
                }
                ops_st_act<T, VW>(orow + (size_t) j * VW, o);
            }
        }
    } else {
        for (j = threadIdx.x; j < nv; j += blockDim.x) {
            ops_ld_f32<VW>(xr + (size_t) j * VW, f[0]);
            ops_ld_f32<VW>(w + (size_t) j * VW, wv);
#pragma unroll
            for (int e = 0; e < VW; e++) {
                o[e] = wv[e] * (f[0][e] * r);
            }
            ops_st_act<T, VW>(orow + (size_t) j * VW, o);
        }
    }
}


/* The block size and NV depend on n alone (and the alignment), so a row
 * gets the same bits in any batch. */
template <typename T, int VW>
static int
ops_rmsnorm_vw(const float *x, const float *w, T *out, uint32_t rows,
    uint32_t n, float eps, cudaStream_t s)
{
    uint32_t  nv = n / VW, nvt, threads;

    /* the fewest pieces per thread that keep blocks at <= 256 threads,
     * then up to 1024 threads with 8 pieces each */
    for (nvt = 1; nvt < 8 && (nv + nvt - 1) / nvt > 256; nvt *= 2) {
        /* next */
    }
    threads = ops_round32((nv + nvt - 1) / nvt);
    if (threads > 1024) {
        nvt = 0;
        threads = 1024;
    }
    switch (nvt) {
    case 1:
        pdl_launch(ops_rmsnorm_kernel<T, VW, 1>, rows, threads, 0, s, x, w,
            out, n, eps);
        break;
    case 2:
        pdl_launch(ops_rmsnorm_kernel<T, VW, 2>, rows, threads, 0, s, x, w,
            out, n, eps);
        break;
    case 4:
        pdl_launch(ops_rmsnorm_kernel<T, VW, 4>, rows, threads, 0, s, x, w,
            out, n, eps);
        break;
    case 8:
        pdl_launch(ops_rmsnorm_kernel<T, VW, 8>, rows, threads, 0, s, x, w,
            out, n, eps);
        break;
    default:
        pdl_launch(ops_rmsnorm_kernel<T, VW, 0>, rows, threads, 0, s, x, w,
            out, n, eps);
        break;
    }
    return ops_launched();
}


template <typename T>
static int
ops_rmsnorm(const float *x, const float *w, void *out, uint32_t rows,
    uint32_t n, float eps, cudaStream_t s)
{
    if (n % 4 == 0 && ops_aligned(x, 16) && ops_aligned(w, 16)
        && ops_aligned(out, 8))
    {
        return ops_rmsnorm_vw<T, 4>(x, w, (T *) out, rows, n, eps, s);
    }
    return ops_rmsnorm_vw<T, 1>(x, w, (T *) out, rows, n, eps, s);
}


extern "C" int
cuda_rmsnorm(int act, const float *x, const float *w, void *out,
    uint32_t rows, uint32_t n, float eps, cudaStream_t s)
{
    if (x == NULL || w == NULL || out == NULL || n == 0) {
        return -1;
    }
    if (rows == 0) {
        return 0;
    }
    switch (act) {
    case CUDA_ACT_F16:
        return ops_rmsnorm<__half>(x, w, out, rows, n, eps, s);
    case CUDA_ACT_BF16:
        return ops_rmsnorm<__nv_bfloat16>(x, w, out, rows, n, eps, s);
    }
    return -1;
}


/* --------------------------------------------------------- qkv_rope */

struct ops_rope_args {
    const void         *qkv;            /* act [T][qkv_dim] */
    const float        *bias;           /* [qkv_dim] or NULL */
    void               *q_out;          /* act [T][q_dim] */
    void               *cache;          /* act, struct cuda_kv's data */
    const uint32_t     *tok_seq;
    const uint32_t     *tok_pos;
    const uint32_t     *block_table;
    const float        *inv_freq;
    const float        *pos_scale;
    uint64_t            block_stride;
    uint64_t            layer_off;      /* layer * layer_stride */
    uint32_t            block_size;
    uint32_t            n_blocks;
    uint32_t            max_blocks;
    uint32_t            n_heads;
    uint32_t            n_kv_heads;
    uint32_t            head_dim;
    uint32_t            q_dim;
    uint32_t            qkv_dim;
};


template <typename T, int VW>
static __global__ void
ops_qkv_rope_kernel(struct ops_rope_args a)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    __shared__ float  cs[OPS_MAX_HALF], sn[OPS_MAX_HALF];
    uint32_t          t = blockIdx.x, half = a.head_dim / 2;
    uint32_t          seq = a.tok_seq[t], pos = a.tok_pos[t];
    uint32_t          per_head = half / VW, rot = a.n_heads + a.n_kv_heads;
    uint32_t          n_items = (rot + a.n_kv_heads) * per_head;
    uint32_t          blk, slot, j, hh, i;
    const T          *row = (const T *) a.qkv + (size_t) t * a.qkv_dim;
    T                *dst, *kv;
    float             x1[VW], x2[VW], b1[VW], b2[VW], y1[VW], y2[VW];

    rope_angles(pos, a.pos_scale[seq], a.inv_freq + (size_t) seq * half,
                half, cs, sn);

    blk = a.block_table[(size_t) seq * a.max_blocks + pos / a.block_size];
    slot = pos % a.block_size;
    /* a bad table entry must not write outside the cache: the token's
     * k and v are dropped instead (the host checks the tables) */
    kv = blk < a.n_blocks
         ? (T *) a.cache + blk * a.block_stride + a.layer_off
           + (size_t) slot * a.head_dim
         : NULL;
    __syncthreads();

    for (j = threadIdx.x; j < n_items; j += blockDim.x) {
        hh = j / per_head;              /* head of the fused row */
        i = (j - hh * per_head) * VW;

        ops_ld_act<T, VW>(row + (size_t) hh * a.head_dim + i, x1);
        ops_ld_act<T, VW>(row + (size_t) hh * a.head_dim + i + half, x2);
        if (a.bias != NULL) {
            ops_ld_f32<VW>(a.bias + (size_t) hh * a.head_dim + i, b1);
            ops_ld_f32<VW>(a.bias + (size_t) hh * a.head_dim + i + half,
                           b2);
#pragma unroll
            for (int e = 0; e < VW; e++) {
                x1[e] = __fadd_rn(x1[e], b1[e]);
                x2[e] = __fadd_rn(x2[e], b2[e]);
            }
        }

        if (hh < rot) {
            /* v' = v cos + rotate_half(v) sin, rotate_half = (-x2, x1) */
#pragma unroll
            for (int e = 0; e < VW; e++) {
                rope_rotate(x1[e], x2[e], cs[i + e], sn[i + e], &y1[e],
                            &y2[e]);
            }
        } else {
#pragma unroll
            for (int e = 0; e < VW; e++) {
                y1[e] = x1[e];
                y2[e] = x2[e];
            }
        }

        if (hh < a.n_heads) {
            dst = (T *) a.q_out + (size_t) t * a.q_dim
                  + (size_t) hh * a.head_dim + i;
        } else if (kv != NULL) {
            /* k head h is cache head h, v head h is n_kv_heads + h: both
             * are hh - n_heads of the fused row */
            dst = kv + (size_t) (hh - a.n_heads) * a.block_size * a.head_dim
                  + i;
        } else {
            continue;
        }
        ops_st_act<T, VW>(dst, y1);
        ops_st_act<T, VW>(dst + half, y2);
    }
}


template <typename T>
static int
ops_qkv_rope(const struct ops_rope_args *a, uint32_t n_tokens,
    cudaStream_t s)
{
    uint32_t  half = a->head_dim / 2, vw, threads = 128;

    /* VW pairs per piece: VW halves at i and at i + half must be VW * 2
     * byte aligned, which head_dim, the strides and the bases decide */
    for (vw = 8; vw > 1; vw /= 2) {
        if (half % vw == 0 && ops_aligned(a->qkv, vw * 2)
            && ops_aligned(a->q_out, vw * 2) && ops_aligned(a->cache, vw * 2)
            && (a->bias == NULL
                || ops_aligned(a->bias, (vw < 4 ? vw : 4) * 4)))
        {
            break;
        }
    }
    switch (vw) {
    case 8:
        pdl_launch(ops_qkv_rope_kernel<T, 8>, n_tokens, threads, 0, s, *a);
        break;
    case 4:
        pdl_launch(ops_qkv_rope_kernel<T, 4>, n_tokens, threads, 0, s, *a);
        break;
    case 2:
        pdl_launch(ops_qkv_rope_kernel<T, 2>, n_tokens, threads, 0, s, *a);
        break;
    default:
        pdl_launch(ops_qkv_rope_kernel<T, 1>, n_tokens, threads, 0, s, *a);
        break;
    }
    return ops_launched();
}


extern "C" int
cuda_qkv_rope(int act, const void *qkv, const float *bias,
    void *q_out, const struct cuda_kv *kv, uint32_t layer,
    const struct cuda_step *st, const struct cuda_dims *d, cudaStream_t s)
{
    struct ops_rope_args  a;
    uint64_t              hs;

    if (qkv == NULL || q_out == NULL || kv == NULL || kv->data == NULL
        || st == NULL || d == NULL || st->tok_seq == NULL
        || st->tok_pos == NULL || st->block_table == NULL
        || st->inv_freq == NULL || st->pos_scale == NULL)
    {
        return -1;
    }
    if (d->head_dim == 0 || d->head_dim % 2 != 0
        || d->head_dim > 2 * OPS_MAX_HALF || d->n_heads == 0
        || d->n_kv_heads == 0 || d->q_dim != d->n_heads * d->head_dim
        || d->kv_dim != d->n_kv_heads * d->head_dim
        || d->qkv_dim != d->q_dim + 2 * d->kv_dim)
    {
        return -1;
    }
    hs = (uint64_t) kv->block_size * d->head_dim;
    if (kv->block_size == 0 || kv->n_blocks == 0 || st->max_blocks == 0
        || kv->layer_stride != 2 * d->n_kv_heads * hs
        || (uint64_t) (layer + 1) * kv->layer_stride > kv->block_stride)
    {
        return -1;
    }
    if (st->n_tokens == 0) {
        return 0;
    }

    a.qkv = qkv;
    a.bias = bias;
    a.q_out = q_out;
    a.cache = kv->data;
    a.tok_seq = st->tok_seq;
    a.tok_pos = st->tok_pos;
    a.block_table = st->block_table;
    a.inv_freq = st->inv_freq;
    a.pos_scale = st->pos_scale;
    a.block_stride = kv->block_stride;
    a.layer_off = (uint64_t) layer * kv->layer_stride;
    a.block_size = kv->block_size;
    a.n_blocks = kv->n_blocks;
    a.max_blocks = st->max_blocks;
    a.n_heads = d->n_heads;
    a.n_kv_heads = d->n_kv_heads;
    a.head_dim = d->head_dim;
    a.q_dim = d->q_dim;
    a.qkv_dim = d->qkv_dim;

    switch (act) {
    case CUDA_ACT_F16:
        return ops_qkv_rope<__half>(&a, st->n_tokens, s);
    case CUDA_ACT_BF16:
        return ops_qkv_rope<__nv_bfloat16>(&a, st->n_tokens, s);
    }
    return -1;
}


/* --------------------------------------------------------- silu_mul */

template <typename T, int VW>
static __global__ void
ops_silu_mul_kernel(const T *gu, T *out, uint32_t rows, uint32_t inter)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    uint32_t  nv = inter / VW, r, j, c;
    float     g[VW], u[VW], o[VW];

    j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= nv) {
        return;
    }
    c = j * VW;
    for (r = blockIdx.y; r < rows; r += gridDim.y) {
        const T  *gr = gu + (size_t) r * 2 * inter;

        ops_ld_act<T, VW>(gr + c, g);
        ops_ld_act<T, VW>(gr + inter + c, u);
#pragma unroll
        for (int e = 0; e < VW; e++) {
            o[e] = g[e] / (1.0f + expf(-g[e])) * u[e];
        }
        ops_st_act<T, VW>(out + (size_t) r * inter + c, o);
    }
}


template <typename T>
static int
ops_silu_mul(const void *gu, void *out, uint32_t rows, uint32_t inter,
    cudaStream_t s)
{
    const T   *g = (const T *) gu;
    T         *o = (T *) out;
    uint32_t   vw, threads = 128;
    dim3       grid;

    if (inter % 8 == 0 && ops_aligned(gu, 16) && ops_aligned(out, 16)) {
        vw = 8;
    } else if (inter % 2 == 0 && ops_aligned(gu, 4) && ops_aligned(out, 4)) {
        vw = 2;
    } else {
        vw = 1;
    }
    grid.x = (inter / vw + threads - 1) / threads;
    grid.y = rows < OPS_GRID_Y_MAX ? rows : OPS_GRID_Y_MAX;
    grid.z = 1;
    switch (vw) {
    case 8:
        pdl_launch(ops_silu_mul_kernel<T, 8>, grid, threads, 0, s, g, o, rows,
            inter);
        break;
    case 2:
        pdl_launch(ops_silu_mul_kernel<T, 2>, grid, threads, 0, s, g, o, rows,
            inter);
        break;
    default:
        pdl_launch(ops_silu_mul_kernel<T, 1>, grid, threads, 0, s, g, o, rows,
            inter);
        break;
    }
    return ops_launched();
}


extern "C" int
cuda_silu_mul(int act, const void *gu, void *out, uint32_t rows,
    uint32_t inter, cudaStream_t s)
{
    if (gu == NULL || out == NULL || inter == 0) {
        return -1;
    }
    if (rows == 0) {
        return 0;
    }
    switch (act) {
    case CUDA_ACT_F16:
        return ops_silu_mul<__half>(gu, out, rows, inter, s);
    case CUDA_ACT_BF16:
        return ops_silu_mul<__nv_bfloat16>(gu, out, rows, inter, s);
    }
    return -1;
}


/* ------------------------------------------------------ gather_rows */

/* Rows of nu units of U (16, 4 or 2 bytes). */
template <typename U>
static __global__ void
ops_gather_kernel(U *dst, const U *src, const uint32_t *rows,
    uint32_t n_rows, uint32_t nu)
{
    pdl_wait();                 /* cuda_pdl.cuh */
    pdl_trigger();

    uint32_t  j = blockIdx.x * blockDim.x + threadIdx.x, r;

    if (j >= nu) {
        return;
    }
    for (r = blockIdx.y; r < n_rows; r += gridDim.y) {
        dst[(size_t) r * nu + j] = src[(size_t) rows[r] * nu + j];
    }
}


extern "C" int
cuda_gather_rows(void *dst, const void *src, const uint32_t *rows,
    uint32_t n_rows, uint32_t width, uint32_t elem_bytes, cudaStream_t s)
{
    uint64_t  rb = (uint64_t) width * elem_bytes;
    uint32_t  unit, nu, threads = 256;
    dim3      grid;

    if (dst == NULL || src == NULL || rows == NULL || width == 0
        || (elem_bytes != 2 && elem_bytes != 4))
    {
        return -1;
    }
    if (n_rows == 0) {
        return 0;
    }
    if (rb % 16 == 0 && ops_aligned(dst, 16) && ops_aligned(src, 16)) {
        unit = 16;
    } else if (rb % 4 == 0 && ops_aligned(dst, 4) && ops_aligned(src, 4)) {
        unit = 4;
    } else {
        unit = 2;
    }
    if (rb / unit > UINT32_MAX) {
        return -1;
    }
    nu = (uint32_t) (rb / unit);
    grid.x = (nu + threads - 1) / threads;
    grid.y = n_rows < OPS_GRID_Y_MAX ? n_rows : OPS_GRID_Y_MAX;
    grid.z = 1;
    switch (unit) {
    case 16:
        pdl_launch(ops_gather_kernel<uint4>, grid, threads, 0, s,
            (uint4 *) dst, (const uint4 *) src, rows, n_rows, nu);
        break;
    case 4:
        pdl_launch(ops_gather_kernel<uint32_t>, grid, threads, 0, s,
            (uint32_t *) dst, (const uint32_t *) src, rows, n_rows, nu);
        break;
    default:
        pdl_launch(ops_gather_kernel<uint16_t>, grid, threads, 0, s,
            (uint16_t *) dst, (const uint16_t *) src, rows, n_rows, nu);
        break;
    }
    return ops_launched();
}
