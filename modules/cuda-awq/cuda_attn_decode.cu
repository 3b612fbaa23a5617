/*
 * cuda_attn_decode.cu -- paged attention for decode steps (one new token
 * per sequence), split along the context ("flash-decoding"), for head_dim
 * 64, 128 or 256 and up to 8 query heads per KV head.
 *
 * Plan.  A CTA of 128 threads takes one (sequence, KV head, part): the
 * part's positions, for every query head of the group, so each key and
 * value row is read once for the group.  The number of parts depends on
 * the batch size alone (enough CTAs for two waves over the SMs), never
 * on the context lengths, which come from device memory: the launch can
 * be captured in a CUDA graph and replayed as the contexts grow.  A part
 * covers ceil(ctx / parts) positions rounded up to a tile of 32; parts
 * past the context write an empty partial.
 *
 * A tile of 32 positions goes in two phases:
 *   scores  lanes in groups of hd / 16, each lane 16 elements of a key
 *           row (two 16-byte loads), q of the group's heads in shared
 *           memory as f32; partial dot products summed in the group by
 *           shuffles: s[h][t] in shared memory;
 *   values  one warp per head updates the running max and sum (online
 *           softmax, f32) and writes the tile's weights; then each thread
 *           owns two dims (a half2 of each value row) for a share of the
 *           tile's positions, accumulating every head's output at once.
 * The part's (max, sum, output) per head go to `work` as f32; a second
 * kernel combines the parts in order (deterministic) and rounds once.
 */

#include "cuda_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#define DEC_THREADS     128
#define DEC_TILE        32
#define DEC_MAX_G       8
#define DEC_MAX_PARTS   64
#define DEC_MAX_SMS     256         /* work is sized for this many */


template <typename T> struct dec_t;

template <> struct dec_t<__half> {
    static __device__ __forceinline__ float2 f2(uint32_t u) {
        __half2  h = *reinterpret_cast<__half2 *>(&u);
        return __half22float2(h);
    }
    static __device__ __forceinline__ __half from(float v) {
        return __float2half_rn(v);
    }
};

template <> struct dec_t<__nv_bfloat16> {
    static __device__ __forceinline__ float2 f2(uint32_t u) {
        __nv_bfloat162  h = *reinterpret_cast<__nv_bfloat162 *>(&u);
        return __bfloat1622float2(h);
    }
    static __device__ __forceinline__ __nv_bfloat16 from(float v) {
        return __float2bfloat16_rn(v);
    }
};


/* The parts a context is split in, for n_seqs sequences. */
static int
dec_parts(uint32_t n_seqs, uint32_t n_kv_heads, int sms)
{
    uint32_t  ctas = n_seqs * n_kv_heads, p;

    sms = sms < DEC_MAX_SMS ? sms : DEC_MAX_SMS;
    p = (2u * (uint32_t) sms + ctas - 1) / ctas;
    return (int) (p < 1 ? 1 : p > DEC_MAX_PARTS ? DEC_MAX_PARTS : p);
}


template <typename T, int HD>
static __global__ void __launch_bounds__(DEC_THREADS)
dec_kernel(const T *q, const T *cache, struct cuda_kv kv, uint32_t layer,
    const uint32_t *seq_ctx, const uint32_t *block_table,
    uint32_t max_blocks, uint32_t n_heads, uint32_t n_kv_heads,
    uint32_t window, float scale, float *work)
{
    constexpr int   LP = HD / 16;               /* lanes per key row */
    constexpr int   RPW = 32 / LP;              /* rows per warp pass */
    constexpr int   COLS = HD / 2;              /* half2 columns */
    constexpr int   GROUPS = DEC_THREADS / COLS; /* position groups */

    __shared__ float  qs[DEC_MAX_G][HD];
    __shared__ float  sc[DEC_MAX_G][DEC_TILE];
    __shared__ float  corr[DEC_MAX_G];
    __shared__ float  red[GROUPS > 1 ? GROUPS - 1 : 1][DEC_MAX_G][HD];
    __shared__ size_t rows[DEC_TILE];

    uint32_t  seq = blockIdx.x, kvh = blockIdx.y, part = blockIdx.z;
    uint32_t  parts = gridDim.z, g = n_heads / n_kv_heads;
    uint32_t  tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    uint32_t  ctx = seq_ctx[seq], bs = kv.block_size;
    uint32_t  lo = window > 0 && ctx > window ? ctx - window : 0;
    uint32_t  span = ctx - lo, len, p0, p1, t0, t, h, i;
    uint32_t  col = tid % COLS, grp = tid / COLS;
    float     m_run[2] = { -INFINITY, -INFINITY };  /* warp w's heads */
    float     l_run[2] = { 0.0f, 0.0f };            /* w and w + 4 */
    float     acc[DEC_MAX_G][2];
    size_t    head_off, v_off;

    len = (span + parts - 1) / parts;
    len = (len + DEC_TILE - 1) / DEC_TILE * DEC_TILE;
    p0 = lo + part * len;
    p1 = p0 + len < ctx ? p0 + len : ctx;
    head_off = (size_t) layer * kv.layer_stride + (size_t) kvh * bs * HD;
    v_off = (size_t) n_kv_heads * bs * HD;

    for (i = tid; i < g * HD; i += DEC_THREADS) {
        h = i / HD;
        qs[h][i % HD] = (float) q[(size_t) seq * n_heads * HD
                                  + (size_t) (kvh * g + h) * HD + i % HD]
                        * scale;
    }
#pragma unroll
    for (h = 0; h < DEC_MAX_G; h++) {
        acc[h][0] = 0.0f;
        acc[h][1] = 0.0f;
    }
    __syncthreads();

    for (t0 = p0; t0 < p1; t0 += DEC_TILE) {
        /* where the tile's rows are */
        if (tid < DEC_TILE) {
            t = t0 + tid;
            rows[tid] = t < p1
                ? (size_t) block_table[(size_t) seq * max_blocks + t / bs]
                  * kv.block_stride + head_off + (size_t) (t % bs) * HD
                : 0;
        }
        __syncthreads();

        /* scores: warp w, pass r: row w * RPW * passes + ... */
        for (uint32_t r = warp * RPW + lane / LP; r < DEC_TILE;
             r += (DEC_THREADS / 32) * RPW)
        {
            uint32_t  sub = lane % LP;
            float     kf[16];
            uint4     a, b;

            t = t0 + r;
            if (t < p1) {
                const uint4 *kp = reinterpret_cast<const uint4 *>(
                    cache + rows[r] + sub * 16);
                a = kp[0];
                b = kp[1];
            } else {
                a = make_uint4(0, 0, 0, 0);
                b = a;
            }
            float2 f;
            f = dec_t<T>::f2(a.x); kf[0] = f.x; kf[1] = f.y;
            f = dec_t<T>::f2(a.y); kf[2] = f.x; kf[3] = f.y;
            f = dec_t<T>::f2(a.z); kf[4] = f.x; kf[5] = f.y;
            f = dec_t<T>::f2(a.w); kf[6] = f.x; kf[7] = f.y;
            f = dec_t<T>::f2(b.x); kf[8] = f.x; kf[9] = f.y;
            f = dec_t<T>::f2(b.y); kf[10] = f.x; kf[11] = f.y;
            f = dec_t<T>::f2(b.z); kf[12] = f.x; kf[13] = f.y;
            f = dec_t<T>::f2(b.w); kf[14] = f.x; kf[15] = f.y;
#pragma unroll
            for (h = 0; h < DEC_MAX_G; h++) {
                float  s = 0.0f;

                if (h < g) {
                    const float4 *qv = reinterpret_cast<const float4 *>(
                        &qs[h][sub * 16]);
#pragma unroll
                    for (i = 0; i < 4; i++) {
                        float4  x = qv[i];

                        s = fmaf(x.x, kf[4 * i], s);
                        s = fmaf(x.y, kf[4 * i + 1], s);
                        s = fmaf(x.z, kf[4 * i + 2], s);
                        s = fmaf(x.w, kf[4 * i + 3], s);
                    }
                }
#pragma unroll
                for (i = LP / 2; i > 0; i /= 2) {
                    s += __shfl_xor_sync(0xffffffffu, s, i);
                }
                if (h < g && sub == 0) {
                    sc[h][r] = t < p1 ? s : -INFINITY;
                }
            }
        }
        __syncthreads();

        /* online softmax: warp w takes heads w, w + 4 */
        for (h = warp; h < g; h += DEC_THREADS / 32) {
            uint32_t  k = h / (DEC_THREADS / 32);
            float     s = sc[h][lane], mx = s, e, sum, m_new, f;

            for (i = 16; i > 0; i /= 2) {
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, i));
            }
            m_new = fmaxf(m_run[k], mx);
            e = s == -INFINITY ? 0.0f : expf(s - m_new);
            sum = e;
            for (i = 16; i > 0; i /= 2) {
                sum += __shfl_xor_sync(0xffffffffu, sum, i);
            }
            sc[h][lane] = e;
            f = m_run[k] == -INFINITY ? 0.0f : expf(m_run[k] - m_new);
            if (lane == 0) {
                corr[h] = f;
            }
            l_run[k] = l_run[k] * f + sum;
            m_run[k] = m_new;
        }
        __syncthreads();

        /* values: thread (grp, col) adds rows grp, grp + GROUPS, ... */
#pragma unroll
        for (h = 0; h < DEC_MAX_G; h++) {
            if (h < g) {
                acc[h][0] *= corr[h];
                acc[h][1] *= corr[h];
            }
        }
        for (t = grp; t < DEC_TILE && t0 + t < p1; t += GROUPS) {
            uint32_t  u = reinterpret_cast<const uint32_t *>(
                              cache + rows[t] + v_off)[col];
            float2    v = dec_t<T>::f2(u);

#pragma unroll
            for (h = 0; h < DEC_MAX_G; h++) {
                if (h < g) {
                    float  w = sc[h][t];

                    acc[h][0] = fmaf(w, v.x, acc[h][0]);
                    acc[h][1] = fmaf(w, v.y, acc[h][1]);
                }
            }
        }
        __syncthreads();
    }

    /* the groups' sums meet in group 0 (in group order) */
    if (GROUPS > 1) {
        if (grp > 0) {
#pragma unroll
            for (h = 0; h < DEC_MAX_G; h++) {
                if (h < g) {
                    red[grp - 1][h][2 * col] = acc[h][0];
                    red[grp - 1][h][2 * col + 1] = acc[h][1];
                }
            }
        }
        __syncthreads();
        if (grp == 0) {
            for (i = 0; i + 1 < GROUPS; i++) {
#pragma unroll
                for (h = 0; h < DEC_MAX_G; h++) {
                    if (h < g) {
                        acc[h][0] += red[i][h][2 * col];
                        acc[h][1] += red[i][h][2 * col + 1];
                    }
                }
            }
        }
    }

    /* work[seq][head][part]: m, l, then HD sums */
    {
        size_t  stride = 2 + HD;
        float  *base = work + ((size_t) seq * n_heads + kvh * g)
                              * parts * stride;

        for (h = warp; h < g; h += DEC_THREADS / 32) {
            if (lane == 0) {
                base[((size_t) h * parts + part) * stride]
                    = m_run[h / (DEC_THREADS / 32)];
                base[((size_t) h * parts + part) * stride + 1]
                    = l_run[h / (DEC_THREADS / 32)];
            }
        }
        if (grp == 0) {
#pragma unroll
            for (h = 0; h < DEC_MAX_G; h++) {
                if (h < g) {
                    float  *o = base + ((size_t) h * parts + part) * stride
                                + 2;

                    o[2 * col] = acc[h][0];
                    o[2 * col + 1] = acc[h][1];
                }
            }
        }
    }
}


/* out[seq][head] from the parts, in part order. */
template <typename T, int HD>
static __global__ void
dec_combine(const float *work, uint32_t parts, uint32_t n_heads, T *out)
{
    uint32_t      seq = blockIdx.x, h = blockIdx.y, d, p;
    size_t        stride = 2 + HD;
    const float  *base = work + ((size_t) seq * n_heads + h) * parts
                                * stride;
    float         m = -INFINITY, l = 0.0f, f;

    for (p = 0; p < parts; p++) {
        m = fmaxf(m, base[p * stride]);
    }
    for (p = 0; p < parts; p++) {
        if (base[p * stride] != -INFINITY) {
            l += base[p * stride + 1] * expf(base[p * stride] - m);
        }
    }
    for (d = threadIdx.x; d < HD; d += blockDim.x) {
        float  s = 0.0f;

        for (p = 0; p < parts; p++) {
            if (base[p * stride] != -INFINITY) {
                f = expf(base[p * stride] - m);
                s = fmaf(base[p * stride + 2 + d], f, s);
            }
        }
        out[((size_t) seq * n_heads + h) * HD + d] = dec_t<T>::from(s / l);
    }
}


template <typename T, int HD>
static int
dec_launch(const void *q, const struct cuda_kv *kv, uint32_t layer,
    const struct cuda_step *st, const struct cuda_dims *d, void *out,
    void *work, int sms, cudaStream_t s)
{
    int   parts = dec_parts(st->n_seqs, d->n_kv_heads, sms);
    dim3  grid(st->n_seqs, d->n_kv_heads, parts);

    dec_kernel<T, HD><<<grid, DEC_THREADS, 0, s>>>((const T *) q,
        (const T *) kv->data, *kv, layer, st->seq_ctx, st->block_table,
        st->max_blocks, d->n_heads, d->n_kv_heads, d->window, d->att_scale,
        (float *) work);
    dec_combine<T, HD><<<dim3(st->n_seqs, d->n_heads), HD < 128 ? HD : 128,
                         0, s>>>((const float *) work, (uint32_t) parts,
                                 d->n_heads, (T *) out);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}


static int
dec_sms(void)
{
    static int  sms;
    int         dev;

    if (sms == 0) {
        if (cudaGetDevice(&dev) != cudaSuccess
            || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount,
                                      dev) != cudaSuccess)
        {
            sms = 108;
        }
    }
    return sms;
}


extern "C" size_t
cuda_attention_decode_work_bytes(uint32_t max_seqs,
    const struct cuda_dims *d)
{
    /* parts * n_seqs * n_kv_heads < 2 * sms + n_seqs * n_kv_heads */
    return ((size_t) 2 * DEC_MAX_SMS + (size_t) max_seqs * d->n_kv_heads)
           * (d->n_heads / (d->n_kv_heads ? d->n_kv_heads : 1))
           * (2 + d->head_dim) * sizeof(float);
}


extern "C" int
cuda_attention_decode(int act, const void *q, const struct cuda_kv *kv,
    uint32_t layer, const struct cuda_step *st, const struct cuda_dims *d,
    void *out, void *work, cudaStream_t s)
{
    int  sms = dec_sms();

    if (!st->decode || st->n_seqs != st->n_tokens || d->n_kv_heads == 0
        || d->n_heads % d->n_kv_heads != 0
        || d->n_heads / d->n_kv_heads > DEC_MAX_G || work == NULL
        || (d->head_dim != 64 && d->head_dim != 128 && d->head_dim != 256)
        || (act != CUDA_ACT_F16 && act != CUDA_ACT_BF16))
    {
        return -1;
    }
    if (st->n_seqs == 0) {
        return 0;
    }
#define DEC_CASE(HDV)                                                        \
    if (d->head_dim == HDV) {                                                \
        return act == CUDA_ACT_F16                                           \
            ? dec_launch<__half, HDV>(q, kv, layer, st, d, out, work, sms,   \
                                      s)                                     \
            : dec_launch<__nv_bfloat16, HDV>(q, kv, layer, st, d, out, work, \
                                             sms, s);                        \
    }
    DEC_CASE(64)
    DEC_CASE(128)
    DEC_CASE(256)
#undef DEC_CASE
    return -1;
}
