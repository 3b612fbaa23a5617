/*
 * cuda_sample.cu -- picks one token per logits row on the GPU with the
 * host sampler's rules (engine/lmd_sampler.c): logit bias, repetition,
 * frequency and presence penalties, then greedy, or temperature, top_k,
 * top_p, min_p and a seeded draw; the log-probability of the chosen id
 * under the raw logits on the side.
 *
 * Plan.  One CTA of 512 threads per row; the row is read from global
 * memory (L2) in a few passes, never sorted whole.
 *
 *   1. (logprob wanted) max and sum of exp of the raw logits.
 *   2. Bias and penalties touch only the ids of the row's lists.  `work`
 *      holds per row two vocab-sized words, flags[] and saved[]: the
 *      list ids' flags are cleared, then set with integer atomics (prompt
 *      bit, bias bit, +1 per output occurrence); one atomicExch per list
 *      entry elects exactly one thread per distinct id, which applies the
 *      biases in list order and the penalties (the host's float
 *      operations, rounded alike, no contraction), keeping the raw value
 *      in saved[] for the log-probability.
 *   3. One pass: y = logit / temperature (NaN as -inf) into flags[] (now
 *      free, so later passes skip the division), max m and the lowest id
 *      holding it.  Greedy, or an infinite m, stops here.
 *   4. Weights w = expf(y - m) (the best weighs 1) in 40-bit fixed point
 *      (fx = floor(w * 2^40)): every mass below is an exact integer sum,
 *      the same in any order, so thresholds and draws are deterministic.
 *      Tokens with w < 2^-40 weigh nothing (the host would pick one with
 *      a probability under 2^-40).
 *   5. No top_k/top_p: a draw in id order over the tokens min_p keeps
 *      (below).  Else a histogram of w by exponent (16 bins of 3 binades
 *      each, per-thread counts and masses in shared memory, no atomics)
 *      gives the smallest set S = {w >= 2^-(3B+2)} that surely holds the
 *      result: at least top_k tokens, or top_p of the mass.  If S has at
 *      most 8192 tokens (the fast path), it is gathered into shared
 *      memory as 64-bit keys (y descending, id ascending), sorted
 *      (bitonic), cut to the first top_k, re-keyed and sorted by (w
 *      descending, id ascending) -- the host's candidate order -- and the
 *      nucleus is the shortest prefix whose mass reaches top_p of the
 *      candidates' mass (the whole vocabulary's without top_k).  min_p
 *      keeps w >= min_p or w >= 1.  The draw walks that order.
 *   6. Otherwise (the slow path: a flat distribution, a huge top_k) the
 *      same thresholds come from radix selection over the row: 8 passes
 *      of 4 bits each on the 32-bit key (y's for top_k, w's for top_p),
 *      each pass a 16-bin histogram of count and mass of the tokens still
 *      in the window; ties at the threshold are cut by id (the n-th
 *      matching id found by a hierarchical prefix search); the draw then
 *      walks the surviving tokens in id order.
 *
 * Draws: Philox4x32-10 with key = seed, counter = (draw, 0): 64 random
 * bits r, target t = floor(r * total / 2^64); the token picked is the
 * first whose cumulative fixed-point weight exceeds t -- in (w desc, id
 * asc) order on the fast path, in id order otherwise.  Same
 * distribution as the host's; not the same tokens (its generator is
 * xoshiro256**).
 *
 * Ties follow the host: top_k keeps the lowest ids among tokens equal to
 * the k-th; the nucleus takes equal weights in id order; greedy and an
 * infinite maximum take the lowest id.
 */

#include "cuda_kernels.h"

#include <math.h>
#include <stdint.h>

#include <cuda_runtime.h>

#define SMP_NT          512             /* threads per row */
#define SMP_NW          (SMP_NT / 32)
#define SMP_NBIN        16              /* histogram bins = warps */
#define SMP_CAP         8192            /* fast-path candidates */
#define SMP_FULL        0xffffffffu
#define SMP_NONE        0xffffffffu
#define SMP_MAX_VOCAB   (1u << 23)      /* fixed-point sums < 2^63 */
#define SMP_MAX_DEV     16

/* Dynamic shared memory: per-thread histograms (masses, then counts),
 * overlaid by the fast path's keys. */
#define SMP_HIST_MASS   (SMP_NBIN * SMP_NT * 8)
#define SMP_DYN_BYTES   (SMP_HIST_MASS + SMP_NBIN * SMP_NT * 4)

/* flags[] bits while the penalties are applied. */
#define SMP_PROMPT      0x80000000u
#define SMP_BIAS        0x40000000u
#define SMP_COUNT       0x3fffffffu     /* output occurrences */

static_assert(SMP_NBIN == SMP_NW, "one warp reduces one bin");
static_assert(SMP_CAP * 8 <= SMP_HIST_MASS, "keys fit the histograms");


struct smp_shared {
    uint64_t    red[SMP_NW];            /* per-warp partials */
    float       redf[SMP_NW];
    float       redg[SMP_NW];
    uint32_t    redu[SMP_NW];
    uint64_t    bin_mass[SMP_NBIN];
    uint32_t    bin_cnt[SMP_NBIN];
    uint32_t    found;
    uint32_t    counter;
    uint32_t    touched;
};

/* What every pass needs of the row. */
struct smp_row {
    const uint32_t  *yc;                /* [vocab] y as float bits */
    uint32_t         vocab;
    float            m;                 /* max y, finite */
    float            min_p;
};

/* One token as the selection sees it. */
struct smp_elem {
    float       w;
    uint32_t    ky;                     /* y, ordered as unsigned */
    uint32_t    kw;                     /* w's bits (w >= 0) */
    uint64_t    fx;                     /* floor(w * 2^40) */
};

/* The result of a threshold search: keys above `t` are in, keys equal to
 * it are in up to id `cut` (SMP_NONE: all). */
struct smp_cut {
    uint32_t    t;
    uint32_t    cut;
};


/* ------------------------------------------------------------------------
 * Small pieces
 * ------------------------------------------------------------------------ */

static __host__ __device__ __forceinline__ void
smp_philox(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    uint32_t  hi0, lo0, hi1, lo1;
    int       i;

    for (i = 0; i < 10; i++) {
        if (i > 0) {
            k0 += 0x9e3779b9u;
            k1 += 0xbb67ae85u;
        }
        lo0 = 0xd2511f53u * c[0];
        hi0 = (uint32_t) (((uint64_t) 0xd2511f53u * c[0]) >> 32);
        lo1 = 0xcd9e8d57u * c[2];
        hi1 = (uint32_t) (((uint64_t) 0xcd9e8d57u * c[2]) >> 32);
        c[0] = hi1 ^ c[1] ^ k0;
        c[1] = lo1;
        c[2] = hi0 ^ c[3] ^ k1;
        c[3] = lo0;
    }
}


/* 64 random bits of (seed, draw). */
static __device__ uint64_t
smp_random(uint64_t seed, uint64_t draw)
{
    uint32_t  c[4];

    c[0] = (uint32_t) draw;
    c[1] = (uint32_t) (draw >> 32);
    c[2] = 0;
    c[3] = 0;
    smp_philox(c, (uint32_t) seed, (uint32_t) (seed >> 32));
    return (uint64_t) c[0] << 32 | c[1];
}


/* Float bits as an unsigned that orders like the float (no NaN here). */
static __device__ __forceinline__ uint32_t
smp_ord(float y)
{
    uint32_t  u = __float_as_uint(y);

    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}


static __device__ __forceinline__ float
smp_unord(uint32_t k)
{
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}


static __device__ __forceinline__ struct smp_elem
smp_load(const struct smp_row *rw, uint32_t i)
{
    struct smp_elem  e;
    float            y = __uint_as_float(rw->yc[i]);

    e.w = expf(y - rw->m);
    e.ky = smp_ord(y);
    e.kw = __float_as_uint(e.w);
    e.fx = __float2ull_rz(e.w * 0x1p40f);
    return e;
}


/* The host's min_p rule: dropped when below min_p and not the best. */
static __device__ __forceinline__ bool
smp_keep(float w, float min_p)
{
    return !(w < min_p && w < 1.0f);
}


/* Histogram bin of a weight: 3 binades per bin from 1 down; bin b <= 14
 * holds w >= 2^-(3b+2), bin 15 what is left (fx 0). */
static __device__ __forceinline__ int
smp_ebin(float w)
{
    int  d = 127 - (int) (__float_as_uint(w) >> 23);

    d = d > 0 ? d / 3 : 0;
    return d < 15 ? d : 15;
}


static __device__ __forceinline__ uint64_t
smp_warp_sum(uint64_t x)
{
    int  o;

    for (o = 16; o > 0; o >>= 1) {
        x += __shfl_xor_sync(SMP_FULL, x, o);
    }
    return x;
}


/* The sum over the block, on every thread. */
static __device__ uint64_t
smp_block_sum(struct smp_shared *sh, uint64_t x)
{
    uint64_t  t = 0;
    int       k;

    x = smp_warp_sum(x);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) {
        sh->red[threadIdx.x >> 5] = x;
    }
    __syncthreads();
    for (k = 0; k < SMP_NW; k++) {
        t += sh->red[k];
    }
    return t;
}


/* Inclusive prefix sum in thread order; *total gets the block's sum. */
static __device__ uint64_t
smp_block_scan(struct smp_shared *sh, uint64_t x, uint64_t *total)
{
    uint64_t  y, pre = 0, t = 0;
    uint32_t  lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    int       o, k;

    for (o = 1; o < 32; o <<= 1) {
        y = __shfl_up_sync(SMP_FULL, x, o);
        if (lane >= (uint32_t) o) {
            x += y;
        }
    }
    __syncthreads();
    if (lane == 31) {
        sh->red[w] = x;
    }
    __syncthreads();
    for (k = 0; k < SMP_NW; k++) {
        pre += (uint32_t) k < w ? sh->red[k] : 0;
        t += sh->red[k];
    }
    *total = t;
    return x + pre;
}


/* (v, id) pairs: the larger v wins, then the lower id. */
static __device__ __forceinline__ void
smp_best(float *v, uint32_t *id, float ov, uint32_t oid)
{
    if (ov > *v || (ov == *v && oid < *id)) {
        *v = ov;
        *id = oid;
    }
}


static __device__ void
smp_block_argmax(struct smp_shared *sh, float *v, uint32_t *id)
{
    uint32_t  lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    float     bv;
    uint32_t  bi;
    int       o, k;

    for (o = 16; o > 0; o >>= 1) {
        smp_best(v, id, __shfl_xor_sync(SMP_FULL, *v, o),
                 __shfl_xor_sync(SMP_FULL, *id, o));
    }
    __syncthreads();
    if (lane == 0) {
        sh->redf[w] = *v;
        sh->redu[w] = *id;
    }
    __syncthreads();
    bv = sh->redf[0];
    bi = sh->redu[0];
    for (k = 1; k < SMP_NW; k++) {
        smp_best(&bv, &bi, sh->redf[k], sh->redu[k]);
    }
    *v = bv;
    *id = bi;
}


/* Running (max, sum of exp(x - max)) pairs, merged. */
static __device__ __forceinline__ float
smp_rescale(float m, float s, float to)
{
    return m == to ? s : s * expf(m - to);
}


static __device__ __forceinline__ void
smp_lse_merge(float *m, float *s, float om, float os)
{
    float  t = fmaxf(*m, om);

    *s = smp_rescale(*m, *s, t) + smp_rescale(om, os, t);
    *m = t;
}


static __device__ void
smp_block_lse(struct smp_shared *sh, float *m, float *s)
{
    uint32_t  lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    float     bm, bs;
    int       o, k;

    for (o = 16; o > 0; o >>= 1) {
        smp_lse_merge(m, s, __shfl_xor_sync(SMP_FULL, *m, o),
                      __shfl_xor_sync(SMP_FULL, *s, o));
    }
    __syncthreads();
    if (lane == 0) {
        sh->redf[w] = *m;
        sh->redg[w] = *s;
    }
    __syncthreads();
    bm = sh->redf[0];
    bs = sh->redg[0];
    for (k = 1; k < SMP_NW; k++) {
        smp_lse_merge(&bm, &bs, sh->redf[k], sh->redg[k]);
    }
    *m = bm;
    *s = bs;
}


/* floor(top_p * total), at least 1: the nucleus' mass. */
static __device__ __forceinline__ uint64_t
smp_want(float top_p, uint64_t total)
{
    double  x = (double) top_p * (double) total;

    return x >= 1.0 ? (uint64_t) x : 1;
}


/* ------------------------------------------------------------------------
 * Passes over the row
 * ------------------------------------------------------------------------ */

/* A 16-bin histogram of count and fixed-point mass: bin(i, &fx) returns
 * the bin of token i, or -1 to skip it.  Each thread counts in its own
 * column of shared memory; warp b then sums bin b in a fixed order.
 * Results in sh->bin_cnt and sh->bin_mass. */
template <class F>
static __device__ void
smp_hist(struct smp_shared *sh, uint64_t *pm, uint32_t *pc, uint32_t n,
    F bin)
{
    uint32_t  tid = threadIdx.x, lane = tid & 31, w = tid >> 5, i, c = 0;
    uint64_t  fx, m = 0;
    int       b;

    for (b = 0; b < SMP_NBIN; b++) {
        pm[b * SMP_NT + tid] = 0;
        pc[b * SMP_NT + tid] = 0;
    }
    for (i = tid; i < n; i += SMP_NT) {
        b = bin(i, &fx);
        if (b >= 0) {
            pm[b * SMP_NT + tid] += fx;
            pc[b * SMP_NT + tid] += 1;
        }
    }
    __syncthreads();
    for (i = lane; i < SMP_NT; i += 32) {
        m += pm[w * SMP_NT + i];
        c += pc[w * SMP_NT + i];
    }
    m = smp_warp_sum(m);
    for (b = 16; b > 0; b >>= 1) {
        c += __shfl_xor_sync(SMP_FULL, c, b);
    }
    if (lane == 0) {
        sh->bin_mass[w] = m;
        sh->bin_cnt[w] = c;
    }
    __syncthreads();
}


/* The token of [0, n) at which the running sum of wt (in id order) first
 * exceeds `target`; with `draw`, target = floor(rnd * total / 2^64).
 * The range narrows 16-fold per round (each warp sums one sixteenth),
 * then one token per thread is scanned.  SMP_NONE if the sum never
 * exceeds it. */
template <class F>
static __device__ uint32_t
smp_find(struct smp_shared *sh, uint32_t n, F wt, bool draw, uint64_t rnd,
    uint64_t target)
{
    uint32_t  tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
    uint32_t  lo = 0, hi = n, len, s0, s1, i, k;
    uint64_t  acc, pre, tot, v, incl;
    bool      have = !draw;

    while (hi - lo > SMP_NT) {
        len = (hi - lo + SMP_NW - 1) / SMP_NW;
        s0 = lo + w * len;
        s1 = s0 + len < hi ? s0 + len : hi;
        acc = 0;
        for (i = s0 + lane; i < s1; i += 32) {
            acc += wt(i);
        }
        acc = smp_warp_sum(acc);
        __syncthreads();
        if (lane == 0) {
            sh->red[w] = acc;
        }
        __syncthreads();
        if (!have) {
            tot = 0;
            for (k = 0; k < SMP_NW; k++) {
                tot += sh->red[k];
            }
            target = __umul64hi(rnd, tot);
            have = true;
        }
        pre = 0;
        for (k = 0; k < SMP_NW; k++) {
            if (pre + sh->red[k] > target) {
                break;
            }
            pre += sh->red[k];
        }
        if (k == SMP_NW) {
            lo = hi;                    /* not reached: nothing found */
            break;
        }
        target -= pre;
        lo += k * len;
        hi = lo + len < hi ? lo + len : hi;
    }

    if (tid == 0) {
        sh->found = SMP_NONE;
    }
    i = lo + tid;
    v = i < hi ? wt(i) : 0;
    incl = smp_block_scan(sh, v, &tot);
    if (!have) {
        target = __umul64hi(rnd, tot);
    }
    if (v > 0 && incl > target && incl - v <= target) {
        sh->found = i;
    }
    __syncthreads();
    i = sh->found;
    __syncthreads();
    return i;
}


/* The threshold (key and id cut) of the first `target` tokens, or of the
 * shortest run reaching top_p of the mass (by_mass), in (key desc, id
 * asc) order among the tokens `in` accepts.  Radix selection: 8 passes
 * of 4 bits from the top; a pass histograms the tokens whose key agrees
 * with the prefix found so far and keeps the bin where the running
 * count (mass) from above reaches the target. */
template <bool KEY_W, class P>
static __device__ struct smp_cut
smp_select(struct smp_shared *sh, uint64_t *pm, uint32_t *pc,
    const struct smp_row *rw, P in, bool by_mass, uint64_t target,
    float top_p)
{
    struct smp_cut  r;
    uint32_t        prefix = 0, shift = 32, eq = 0, need, k;
    uint64_t        above_c = 0, above_m = 0, tot, v, a, fxt;
    int             b, level;

    for (level = 0; level < 8; level++) {
        shift -= 4;
        smp_hist(sh, pm, pc, rw->vocab,
            [&](uint32_t i, uint64_t *fx) -> int {
                struct smp_elem  e = smp_load(rw, i);
                uint32_t         key = KEY_W ? e.kw : e.ky;

                if (((uint64_t) (key ^ prefix) >> (shift + 4)) != 0
                    || !in(i, e))
                {
                    return -1;
                }
                *fx = e.fx;
                return (int) ((key >> shift) & 15);
            });
        if (level == 0 && by_mass) {
            tot = 0;
            for (b = 0; b < SMP_NBIN; b++) {
                tot += sh->bin_mass[b];
            }
            target = smp_want(top_p, tot);
        }
        for (b = SMP_NBIN - 1; b > 0; b--) {
            v = by_mass ? sh->bin_mass[b] : sh->bin_cnt[b];
            a = by_mass ? above_m : above_c;
            if (a + v >= target) {
                break;
            }
            above_c += sh->bin_cnt[b];
            above_m += sh->bin_mass[b];
        }
        prefix |= (uint32_t) b << shift;
        eq = sh->bin_cnt[b];
    }

    /* How many of the tokens equal to the threshold are in. */
    if (by_mass) {
        fxt = __float2ull_rz(__uint_as_float(prefix) * 0x1p40f);
        need = fxt > 0 && target > above_m
               ? (uint32_t) ((target - above_m + fxt - 1) / fxt) : 1;
    } else {
        need = target > above_c ? (uint32_t) (target - above_c) : 1;
    }
    need = need > 0 ? need : 1;
    r.t = prefix;
    r.cut = SMP_NONE;
    if (need < eq) {
        k = prefix;
        r.cut = smp_find(sh, rw->vocab,
            [&](uint32_t i) -> uint64_t {
                struct smp_elem  e = smp_load(rw, i);

                return (KEY_W ? e.kw : e.ky) == k && in(i, e);
            }, false, 0, need - 1);
    }
    return r;
}


/* Bitonic sort, ascending, of n (a power of two) keys in shared memory. */
static __device__ void
smp_sort(uint64_t *key, uint32_t n)
{
    uint32_t  size, stride, i, lo;
    uint64_t  a, b;

    __syncthreads();
    for (size = 2; size <= n; size <<= 1) {
        for (stride = size >> 1; stride > 0; stride >>= 1) {
            for (i = threadIdx.x; i < n / 2; i += SMP_NT) {
                lo = 2 * i - (i & (stride - 1));
                a = key[lo];
                b = key[lo + stride];
                if ((a > b) == ((lo & size) == 0)) {
                    key[lo] = b;
                    key[lo + stride] = a;
                }
            }
            __syncthreads();
        }
    }
}


/* In sorted shared keys [0, n): the first index at which the running sum
 * of wt exceeds target (with draw: floor(rnd * total / 2^64)). */
template <class F>
static __device__ uint32_t
smp_find_sorted(struct smp_shared *sh, uint32_t n, F wt, bool draw,
    uint64_t rnd, uint64_t target)
{
    uint32_t  base, j;
    uint64_t  acc = 0, carry = 0, v, incl, tot;

    if (draw) {
        for (j = threadIdx.x; j < n; j += SMP_NT) {
            acc += wt(j);
        }
        target = __umul64hi(rnd, smp_block_sum(sh, acc));
    }
    if (threadIdx.x == 0) {
        sh->found = SMP_NONE;
    }
    __syncthreads();
    for (base = 0; base < n; base += SMP_NT) {
        j = base + threadIdx.x;
        v = j < n ? wt(j) : 0;
        incl = smp_block_scan(sh, v, &tot) + carry;
        if (v > 0 && incl > target && incl - v <= target) {
            sh->found = j;
        }
        carry += tot;
        __syncthreads();
        if (sh->found != SMP_NONE) {
            break;
        }
    }
    j = sh->found;
    __syncthreads();
    return j;
}


static __device__ __forceinline__ uint32_t
smp_pow2(uint32_t n)
{
    uint32_t  p = 1;

    while (p < n) {
        p <<= 1;
    }
    return p;
}


/* ------------------------------------------------------------------------
 * The row's steps
 * ------------------------------------------------------------------------ */

/* Bias and penalties on the list ids (see the plan, step 2). */
static __device__ void
smp_penalize(const struct cuda_sample_row *p, float *x, uint32_t vocab,
    const int32_t *hist, const struct cuda_logit_bias *bias,
    uint32_t *flags, float *saved, uint64_t n_h)
{
    uint64_t   n_e = n_h + p->n_bias, j, q;
    uint32_t   f, c, id;
    int32_t    sid;
    float      raw, v, rp = p->repetition_penalty;

#define SMP_ENTRY(j)                                                     \
    ((j) < n_h ? hist[p->hist_start + (j)]                               \
               : bias[p->bias_start + ((j) - n_h)].id)

    for (j = threadIdx.x; j < n_e; j += SMP_NT) {
        sid = SMP_ENTRY(j);
        if (sid >= 0 && (uint32_t) sid < vocab) {
            flags[sid] = 0;
        }
    }
    __syncthreads();
    for (j = threadIdx.x; j < n_e; j += SMP_NT) {
        sid = SMP_ENTRY(j);
        if (sid < 0 || (uint32_t) sid >= vocab) {
            continue;
        }
        if (j < p->n_prompt && j < n_h) {
            atomicOr(&flags[sid], SMP_PROMPT);
        } else if (j < n_h) {
            atomicAdd(&flags[sid], 1u);  /* < 2^30 output ids */
        } else {
            atomicOr(&flags[sid], SMP_BIAS);
        }
    }
    __syncthreads();
    for (j = threadIdx.x; j < n_e; j += SMP_NT) {
        sid = SMP_ENTRY(j);
        if (sid < 0 || (uint32_t) sid >= vocab) {
            continue;
        }
        f = atomicExch(&flags[sid], 0u);
        if (f == 0) {
            continue;                   /* another entry of the same id */
        }
        id = (uint32_t) sid;
        raw = x[id];
        v = raw;
        if (f & SMP_BIAS) {
            for (q = 0; q < p->n_bias; q++) {
                if (bias[p->bias_start + q].id == sid) {
                    v = __fadd_rn(v, bias[p->bias_start + q].bias);
                }
            }
        }
        if (f & (SMP_PROMPT | SMP_COUNT)) {
            if (rp > 0.0f && rp != 1.0f) {
                v = v > 0.0f ? __fdiv_rn(v, rp) : __fmul_rn(v, rp);
            }
            c = f & SMP_COUNT;
            if (c > 0) {
                v = __fsub_rn(v, __fadd_rn(__fmul_rn(__uint2float_rn(c),
                                               p->frequency_penalty),
                                           p->presence_penalty));
            }
        }
        x[id] = v;
        saved[id] = raw;
    }
    __syncthreads();

#undef SMP_ENTRY
}


/* top_k / top_p / min_p and the draw when S fits shared memory. */
static __device__ uint32_t
smp_fast(struct smp_shared *sh, uint64_t *key, const struct smp_row *rw,
    const struct cuda_sample_row *p, int B, bool use_k, bool use_p,
    uint64_t total, uint64_t rnd)
{
    uint32_t  tid = threadIdx.x, lane = tid & 31, base, i, j, n, nk, nf;
    uint32_t  ballot, pos = 0, k = (uint32_t) p->top_k, np;
    uint64_t  acc = 0, kv = 0;
    float     min_p = rw->min_p, w;
    bool      pred;

    /* Gather S: keys (y descending, id ascending) ascending. */
    if (tid == 0) {
        sh->counter = 0;
    }
    __syncthreads();
    for (base = 0; base < rw->vocab; base += SMP_NT) {
        i = base + tid;
        pred = false;
        if (i < rw->vocab) {
            struct smp_elem  e = smp_load(rw, i);

            pred = smp_ebin(e.w) <= B;
            kv = (uint64_t) ~e.ky << 32 | i;
        }
        ballot = __ballot_sync(SMP_FULL, pred);
        if (ballot == 0) {
            continue;
        }
        if (lane == (uint32_t) __ffs(ballot) - 1) {
            pos = atomicAdd(&sh->counter, (uint32_t) __popc(ballot));
        }
        pos = __shfl_sync(SMP_FULL, pos, __ffs(ballot) - 1);
        j = pos + __popc(ballot & ((1u << lane) - 1));
        if (pred && j < SMP_CAP) {
            key[j] = kv;
        }
    }
    __syncthreads();
    n = sh->counter < SMP_CAP ? sh->counter : SMP_CAP;
    np = smp_pow2(n);
    for (j = n + tid; j < np; j += SMP_NT) {
        key[j] = ~0ull;
    }
    smp_sort(key, np);

    /* The first top_k, re-keyed by (w descending, id ascending). */
    nk = use_k && k < n ? k : n;
    np = smp_pow2(nk);
    for (j = tid; j < np; j += SMP_NT) {
        if (j < nk) {
            w = expf(smp_unord(~(uint32_t) (key[j] >> 32)) - rw->m);
            key[j] = (uint64_t) ~__float_as_uint(w) << 32
                     | (key[j] & 0xffffffffu);
        } else {
            key[j] = ~0ull;
        }
    }
    smp_sort(key, np);

#define SMP_W(j)   __uint_as_float(~(uint32_t) (key[j] >> 32))
#define SMP_FX(j)  __float2ull_rz(SMP_W(j) * 0x1p40f)

    nf = nk;
    if (use_p) {
        if (use_k) {
            acc = 0;
            for (j = tid; j < nk; j += SMP_NT) {
                acc += SMP_FX(j);
            }
            total = smp_block_sum(sh, acc);
        }
        j = smp_find_sorted(sh, nk,
            [&](uint32_t q) -> uint64_t { return SMP_FX(q); }, false, 0,
            smp_want(p->top_p, total) - 1);
        nf = j != SMP_NONE ? j + 1 : nk;
    }
    j = smp_find_sorted(sh, nf,
        [&](uint32_t q) -> uint64_t {
            return smp_keep(SMP_W(q), min_p) ? SMP_FX(q) : 0;
        }, true, rnd, 0);
    j = j != SMP_NONE ? j : 0;
    return (uint32_t) (key[j] & 0xffffffffu);

#undef SMP_W
#undef SMP_FX
}


/* The same selection over the row in global memory (plan, step 6). */
static __device__ uint32_t
smp_slow(struct smp_shared *sh, uint64_t *pm, uint32_t *pc,
    const struct smp_row *rw, const struct cuda_sample_row *p,
    bool use_k, bool use_p, uint64_t rnd)
{
    struct smp_cut  ck = { 0, SMP_NONE }, cp = { 0, SMP_NONE };
    float           min_p = rw->min_p;

    auto all = [](uint32_t, const struct smp_elem &) { return true; };
    auto in_k = [&](uint32_t i, const struct smp_elem &e) {
        return !use_k || e.ky > ck.t || (e.ky == ck.t && i <= ck.cut);
    };

    if (use_k) {
        ck = smp_select<false>(sh, pm, pc, rw, all, false,
                               (uint64_t) p->top_k, 0.0f);
    }
    if (use_p) {
        cp = smp_select<true>(sh, pm, pc, rw, in_k, true, 0, p->top_p);
    }
    return smp_find(sh, rw->vocab,
        [&](uint32_t i) -> uint64_t {
            struct smp_elem  e = smp_load(rw, i);

            if (!in_k(i, e) || !smp_keep(e.w, min_p)
                || (use_p && !(e.kw > cp.t
                               || (e.kw == cp.t && i <= cp.cut))))
            {
                return 0;
            }
            return e.fx;
        }, true, rnd, 0);
}


/* Calls f(i, x[i]) for this thread's share of a row, in increasing i:
 * 16-byte loads, four in flight, where the row is aligned (one CTA
 * reads a whole row, so the loads in flight set its speed), then the
 * ragged tail one by one. */
template <typename F>
static __device__ __forceinline__ void
smp_each(const float *x, uint32_t n, F f)
{
    const float4  *x4 = reinterpret_cast<const float4 *>(x);
    uint32_t       n4 = ((uintptr_t) x % 16 == 0) ? n / 4 : 0;
    uint32_t       i = threadIdx.x, k;
    float4         a[4];

    for (; i + 3 * SMP_NT < n4; i += 4 * SMP_NT) {
        for (k = 0; k < 4; k++) {
            a[k] = x4[i + k * SMP_NT];
        }
        for (k = 0; k < 4; k++) {
            uint32_t  b = 4 * (i + k * SMP_NT);

            f(b, a[k].x);
            f(b + 1, a[k].y);
            f(b + 2, a[k].z);
            f(b + 3, a[k].w);
        }
    }
    for (; i < n4; i += SMP_NT) {
        a[0] = x4[i];
        f(4 * i, a[0].x);
        f(4 * i + 1, a[0].y);
        f(4 * i + 2, a[0].z);
        f(4 * i + 3, a[0].w);
    }
    for (i = 4 * n4 + threadIdx.x; i < n; i += SMP_NT) {
        f(i, x[i]);
    }
}


static __global__ void __launch_bounds__(SMP_NT)
smp_kernel(float *logits, uint32_t vocab,
    const struct cuda_sample_row *rows, const int32_t *hist,
    const struct cuda_logit_bias *bias, int32_t *ids, float *logprob,
    uint32_t *work)
{
    extern __shared__ uint64_t   smp_dyn[];
    __shared__ struct smp_shared sh;
    struct cuda_sample_row       p = rows[blockIdx.x];
    struct smp_row               rw;
    uint64_t                    *pm = smp_dyn;
    uint32_t                    *pc = (uint32_t *) (smp_dyn
                                          + SMP_NBIN * SMP_NT);
    float                       *x = logits + (size_t) blockIdx.x * vocab;
    uint32_t                    *flags = work
                                         + (size_t) blockIdx.x * 2 * vocab;
    float                       *saved = (float *) (flags + vocab);
    uint32_t                     tid = threadIdx.x, am = SMP_NONE;
    uint32_t                     chosen;
    uint64_t                     n_h = 0, total, cum_c, cum_m, want, rnd, j;
    float                        lm = -INFINITY, ls = 0.0f, bv;
    float                        t = p.temperature, raw;
    bool                         greedy, pen, use_k, use_p;
    int                          b, B;

    /* 1. The raw logits' log-sum-exp (NaN counts for nothing). */
    if (logprob != NULL) {
        smp_each(x, vocab, [&](uint32_t, float y) {
            if (y > lm) {
                ls = ls * expf(lm - y) + 1.0f;
                lm = y;
            } else if (y > -INFINITY) {
                ls += expf(y - lm);
            }
        });
        smp_block_lse(&sh, &lm, &ls);
    }

    /* 2. Bias and penalties. */
    pen = (p.repetition_penalty > 0.0f && p.repetition_penalty != 1.0f)
          || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
    if (pen) {
        n_h = (uint64_t) p.n_prompt + p.n_output;
    }
    if (n_h + p.n_bias > 0) {
        smp_penalize(&p, x, vocab, hist, bias, flags, saved, n_h);
    }

    /* 3. Scaled logits, their max and its lowest id. */
    greedy = !(t > 1e-5f);              /* NaN: greedy, as the host */
    bv = -INFINITY;
    smp_each(x, vocab, [&](uint32_t q, float y) {
        if (!greedy) {
            y = __fdiv_rn(y, t);
        }
        if (y != y) {
            y = -INFINITY;
        }
        if (y == 0.0f) {
            y = 0.0f;                   /* -0 ties +0 */
        }
        if (!greedy) {
            flags[q] = __float_as_uint(y);
        }
        if (y > bv) {
            bv = y;
            am = q;
        }
    });
    smp_block_argmax(&sh, &bv, &am);

    use_k = p.top_k > 0 && (uint32_t) p.top_k < vocab;
    use_p = p.top_p < 1.0f;
    if (greedy || isinf(bv)) {
        chosen = bv > -INFINITY ? am : 0;

    } else {
        rw.yc = flags;
        rw.vocab = vocab;
        rw.m = bv;
        rw.min_p = p.min_p;
        rnd = smp_random(p.seed, p.draw);

        if (!use_k && !use_p) {
            /* 5. The whole vocabulary in id order, min_p applied. */
            chosen = smp_find(&sh, vocab,
                [&](uint32_t q) -> uint64_t {
                    struct smp_elem  e = smp_load(&rw, q);

                    return smp_keep(e.w, rw.min_p) ? e.fx : 0;
                }, true, rnd, 0);

        } else {
            smp_hist(&sh, pm, pc, vocab,
                [&](uint32_t q, uint64_t *fx) -> int {
                    struct smp_elem  e = smp_load(&rw, q);

                    *fx = e.fx;
                    return smp_ebin(e.w);
                });
            total = 0;
            for (b = 0; b < SMP_NBIN; b++) {
                total += sh.bin_mass[b];
            }
            want = use_p ? smp_want(p.top_p, total) : 0;
            cum_c = 0;
            cum_m = 0;
            for (B = 0; B < 14; B++) {
                cum_c += sh.bin_cnt[B];
                cum_m += sh.bin_mass[B];
                if (use_k ? cum_c >= (uint64_t) p.top_k : cum_m >= want) {
                    break;
                }
            }
            if (B == 14) {
                cum_c += sh.bin_cnt[14];    /* every token of weight */
            }
            if (cum_c <= SMP_CAP) {
                chosen = smp_fast(&sh, pm, &rw, &p, B, use_k, use_p, total,
                                  rnd);
            } else {
                chosen = smp_slow(&sh, pm, pc, &rw, &p, use_k, use_p, rnd);
            }
        }
        if (chosen == SMP_NONE) {
            chosen = am;                /* not reached: weights sum > 0 */
        }
    }

    /* The raw logit of the chosen id: saved[] if a list touched it. */
    if (logprob != NULL) {
        if (tid == 0) {
            sh.touched = 0;
        }
        __syncthreads();
        for (j = tid; j < n_h + p.n_bias; j += SMP_NT) {
            if ((j < n_h ? hist[p.hist_start + j]
                 : bias[p.bias_start + (j - n_h)].id)
                == (int32_t) chosen)
            {
                sh.touched = 1;
            }
        }
        __syncthreads();
    }
    if (tid == 0) {
        ids[blockIdx.x] = (int32_t) chosen;
        if (logprob != NULL) {
            raw = sh.touched ? saved[chosen] : x[chosen];
            if (!isfinite(lm)) {
                logprob[blockIdx.x] = raw == lm ? 0.0f : -INFINITY;
            } else {
                logprob[blockIdx.x] = (float) ((double) raw - ((double) lm
                                          + log((double) ls)));
            }
        }
    }
}


/* ------------------------------------------------------------------------
 * Launch
 * ------------------------------------------------------------------------ */

static int  smp_ready[SMP_MAX_DEV];


extern "C" size_t
cuda_sample_work_bytes(uint32_t max_rows, uint32_t vocab)
{
    /* flags[] (then the scaled logits) and saved[] per row. */
    return (size_t) max_rows * vocab * 2 * sizeof(uint32_t);
}


extern "C" int
cuda_sample(float *logits, uint32_t n_rows, uint32_t vocab,
    const struct cuda_sample_row *rows, const int32_t *hist,
    const struct cuda_logit_bias *bias, int32_t *ids, float *logprob,
    void *work, cudaStream_t s)
{
    int  dev;

    if (n_rows == 0) {
        return 0;
    }
    if (logits == NULL || rows == NULL || ids == NULL || work == NULL
        || vocab == 0 || vocab > SMP_MAX_VOCAB || n_rows > 65535
        || ((uintptr_t) work & 3) != 0 || ((uintptr_t) logits & 3) != 0)
    {
        return -1;
    }
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0
        || dev >= SMP_MAX_DEV)
    {
        return -1;
    }
    if (!smp_ready[dev]) {
        if (cudaFuncSetAttribute(smp_kernel,
                cudaFuncAttributeMaxDynamicSharedMemorySize, SMP_DYN_BYTES)
            != cudaSuccess)
        {
            return -1;
        }
        smp_ready[dev] = 1;
    }
    smp_kernel<<<n_rows, SMP_NT, SMP_DYN_BYTES, s>>>(logits, vocab, rows,
        hist, bias, ids, logprob, (uint32_t *) work);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}
