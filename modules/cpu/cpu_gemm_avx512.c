/*
 * cpu_gemm_avx512.c -- the matrix kernel for AVX-512 (F, BW, VL, DQ;
 * BF16 for vdpbf16ps).  Built with the AVX-512 -m flags: cpu_isa.c calls
 * into it only where cpuid has them.
 *
 * A register tile is P panels (16 rows each, one zmm) x T tokens: per
 * column k it loads P weight vectors (widened to f32: F16 by vcvtph2ps,
 * BF16 by a shift or a mask of the pair; I8 has its own kernel,
 * cpu_gemm_i8_vnni.c),
 * broadcasts x[t][k] and does P x T FMAs, each accumulator one lane per
 * (row, token) chain in k order (cpu_gemm.h).
 *
 * Decode (m <= 8): W is read once, straight from the panels, P panels x
 * m tokens, one stream per panel with a software prefetch CPU_512_PF
 * bytes ahead.  For m <= 2, P is as small as the FMA latency allows (1
 * for vdpbf16ps, 2 for F32/F16/BF16 by FMA), since the prefetchers keep
 * up with few streams far better than with many; else P is 4.
 *
 * Prompts (m > 8): for each block of CPU_512_NC tokens, each group of 4
 * panels, each block of CPU_512_KC columns, the weights are widened once
 * into an interleaved f32 buffer (64 KiB, L2) and every 4 x 6 token tile
 * of the block runs on it: the conversions leave the FMA loop and the
 * 24 accumulators keep the FMA unit busy.  The next block is prefetched
 * while the tiles run (spread over them).  Partial sums go to y between
 * column blocks (the group's 192 x 64 floats stay in cache) and come
 * back bit for bit.
 *
 * Measured on Zen 4 (one core, peak 115 GFLOP/s FMA, 230 vdpbf16ps):
 * prompts about 95-100 GFLOP/s for F32/F16 and 180-190 for BF16.
 *
 * BF16 with xb (x rounded to bf16 pairs): vdpbf16ps, one instruction per
 * column pair, the chain stepping over pairs (twice the FMA rate).
 */

#include <immintrin.h>

#include "cpu_gemm.h"

#define CPU_512_KC      256     /* columns per block (even) */
#define CPU_512_KC_DP   512     /* the same for vdpbf16ps */
#define CPU_512_NC      192     /* tokens per block */
#define CPU_512_PF      256     /* decode: prefetch distance, bytes */
#define CPU_512_PMAX    4
#define CPU_512_TMAX    6

enum {
    CPU_K_F32 = 0,
    CPU_K_F16,
    CPU_K_BF16,                 /* widened to f32, FMA */
    CPU_K_BF16DP,               /* vdpbf16ps on x rounded to bf16 */
    CPU_K_COUNT
};

struct cpu_tile {
    const char      *w;         /* first panel of the group, column k0 */
    size_t           pstride;   /* bytes from panel to panel */
    size_t           ks;        /* bytes from column to column (pair to
                                   pair for BF16 and BF16DP) */
    const float     *x;         /* first token of the tile, column k0 */
    const uint32_t  *xb;        /* BF16DP: the same as bf16 pairs */
    size_t           xs;        /* floats from token to token */
    size_t           xbs;       /* pairs from token to token */
    float           *y;         /* first token, first row of the group */
    size_t           ys;        /* floats from token to token (rows) */
    uint32_t         n;         /* columns; odd only at the matrix end */
    int              first;     /* k0 == 0: start from zero */
    size_t           pf;        /* prefetch distance in bytes, or 0 */
    __mmask16        mask[CPU_512_PMAX];    /* rows of each panel */
};


/* Column k of a panel, as 16 f32. */
static inline __attribute__((always_inline)) __m512
cpu_512_load(const int kind, const char *p)
{
    switch (kind) {
    case CPU_K_F32:
        return _mm512_loadu_ps(p);
    default:
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) p));
    }
}


/* The register tile, P and T constants once inlined. */
static inline __attribute__((always_inline)) void
cpu_512_tile(const int kind, const int P, const int T,
    const struct cpu_tile *a)
{
    __m512          acc[CPU_512_PMAX][CPU_512_TMAX];
    __m512          wv[CPU_512_PMAX], wo[CPU_512_PMAX], xv, xo;
    __m512i         wi[CPU_512_PMAX];
    const char     *wp[CPU_512_PMAX];
    const float    *xp[CPU_512_TMAX];
    const uint32_t *bp[CPU_512_TMAX];
    const __m512i   hi = _mm512_set1_epi32((int) 0xffff0000u);
    const size_t    ks = a->ks, pf = a->pf;
    size_t          k, kk, n = a->n;
    int             p, t;

#pragma GCC unroll 8
    for (p = 0; p < P; p++) {
        wp[p] = a->w + (size_t) p * a->pstride;
    }
#pragma GCC unroll 8
    for (t = 0; t < T; t++) {
        xp[t] = a->x + (size_t) t * a->xs;
        bp[t] = a->xb + (size_t) t * a->xbs;
    }
#pragma GCC unroll 8
    for (t = 0; t < T; t++) {
#pragma GCC unroll 8
        for (p = 0; p < P; p++) {
            acc[p][t] = a->first
                ? _mm512_setzero_ps()
                : _mm512_maskz_loadu_ps(a->mask[p],
                      a->y + (size_t) t * a->ys + (size_t) p * 16);
        }
    }

    if (kind == CPU_K_BF16DP) {
        /* One step per column pair; an odd last column is paired with
         * the zero pad of both W and xb. */
        for (kk = 0; kk < (n + 1) / 2; kk++) {
            if (pf) {
#pragma GCC unroll 8
                for (p = 0; p < P; p++) {
                    _mm_prefetch(wp[p] + kk * ks + pf, _MM_HINT_T0);
                }
            }
#pragma GCC unroll 8
            for (p = 0; p < P; p++) {
                wi[p] = _mm512_loadu_si512(wp[p] + kk * ks);
            }
#pragma GCC unroll 8
            for (t = 0; t < T; t++) {
                __m512i  xi = _mm512_set1_epi32((int) bp[t][kk]);

#pragma GCC unroll 8
                for (p = 0; p < P; p++) {
                    acc[p][t] = _mm512_dpbf16_ps(acc[p][t],
                        (__m512bh) wi[p], (__m512bh) xi);
                }
            }
        }

    } else if (kind == CPU_K_BF16) {
        /* A 64-byte load is 16 rows x the pair (k, k + 1): the even
         * column is the low half of each lane, the odd one the high. */
        for (kk = 0; kk < n / 2; kk++) {
            if (pf) {
#pragma GCC unroll 8
                for (p = 0; p < P; p++) {
                    _mm_prefetch(wp[p] + kk * ks + pf, _MM_HINT_T0);
                }
            }
#pragma GCC unroll 8
            for (p = 0; p < P; p++) {
                wi[p] = _mm512_loadu_si512(wp[p] + kk * ks);
                wv[p] = _mm512_castsi512_ps(_mm512_slli_epi32(wi[p], 16));
                wo[p] = _mm512_castsi512_ps(_mm512_and_si512(wi[p], hi));
            }
#pragma GCC unroll 8
            for (t = 0; t < T; t++) {
                xv = _mm512_set1_ps(xp[t][2 * kk]);
                xo = _mm512_set1_ps(xp[t][2 * kk + 1]);
#pragma GCC unroll 8
                for (p = 0; p < P; p++) {
                    acc[p][t] = _mm512_fmadd_ps(wv[p], xv, acc[p][t]);
                    acc[p][t] = _mm512_fmadd_ps(wo[p], xo, acc[p][t]);
                }
            }
        }
        if (n & 1) {
            kk = n / 2;
#pragma GCC unroll 8
            for (p = 0; p < P; p++) {
                wi[p] = _mm512_loadu_si512(wp[p] + kk * ks);
                wv[p] = _mm512_castsi512_ps(_mm512_slli_epi32(wi[p], 16));
            }
#pragma GCC unroll 8
            for (t = 0; t < T; t++) {
                xv = _mm512_set1_ps(xp[t][2 * kk]);
#pragma GCC unroll 8
                for (p = 0; p < P; p++) {
                    acc[p][t] = _mm512_fmadd_ps(wv[p], xv, acc[p][t]);
                }
            }
        }

    } else {
        for (k = 0; k < n; k++) {
            /* One prefetch per 64-byte line of each panel. */
            if (pf && ((k * ks) & 63) == 0) {
#pragma GCC unroll 8
                for (p = 0; p < P; p++) {
                    _mm_prefetch(wp[p] + k * ks + pf, _MM_HINT_T0);
                }
            }
#pragma GCC unroll 8
            for (p = 0; p < P; p++) {
                wv[p] = cpu_512_load(kind, wp[p] + k * ks);
            }
#pragma GCC unroll 8
            for (t = 0; t < T; t++) {
                xv = _mm512_set1_ps(xp[t][k]);
#pragma GCC unroll 8
                for (p = 0; p < P; p++) {
                    acc[p][t] = _mm512_fmadd_ps(wv[p], xv, acc[p][t]);
                }
            }
        }
    }

#pragma GCC unroll 8
    for (t = 0; t < T; t++) {
#pragma GCC unroll 8
        for (p = 0; p < P; p++) {
            _mm512_mask_storeu_ps(a->y + (size_t) t * a->ys + (size_t) p * 16,
                                  a->mask[p], acc[p][t]);
        }
    }
}


/* The instances: [kind][P 1, 4, 2][T]. */

typedef void (*cpu_512_tile_pt)(const struct cpu_tile *a);

#define CPU_TILE(K, P, T)                                                     \
    static void                                                               \
    cpu_512_##K##_##P##_##T(const struct cpu_tile *a)                         \
    {                                                                         \
        cpu_512_tile(K, P, T, a);                                             \
    }

#define CPU_TILES(K)                                                          \
    CPU_TILE(K, 1, 1) CPU_TILE(K, 1, 2) CPU_TILE(K, 1, 3)                     \
    CPU_TILE(K, 1, 4) CPU_TILE(K, 1, 5) CPU_TILE(K, 1, 6)                     \
    CPU_TILE(K, 4, 1) CPU_TILE(K, 4, 2) CPU_TILE(K, 4, 3)                     \
    CPU_TILE(K, 4, 4) CPU_TILE(K, 4, 5) CPU_TILE(K, 4, 6)                     \
    CPU_TILE(K, 2, 1) CPU_TILE(K, 2, 2)

#define CPU_TILE_ROW(K)                                                       \
    {                                                                         \
        { NULL, cpu_512_##K##_1_1, cpu_512_##K##_1_2, cpu_512_##K##_1_3,      \
          cpu_512_##K##_1_4, cpu_512_##K##_1_5, cpu_512_##K##_1_6 },          \
        { NULL, cpu_512_##K##_4_1, cpu_512_##K##_4_2, cpu_512_##K##_4_3,      \
          cpu_512_##K##_4_4, cpu_512_##K##_4_5, cpu_512_##K##_4_6 },          \
        { NULL, cpu_512_##K##_2_1, cpu_512_##K##_2_2, NULL, NULL, NULL,       \
          NULL }                                                              \
    }

CPU_TILES(CPU_K_F32)
CPU_TILES(CPU_K_F16)
CPU_TILES(CPU_K_BF16)
CPU_TILES(CPU_K_BF16DP)

static const cpu_512_tile_pt  cpu_512_tiles[CPU_K_COUNT][3][7] = {
    CPU_TILE_ROW(CPU_K_F32),
    CPU_TILE_ROW(CPU_K_F16),
    CPU_TILE_ROW(CPU_K_BF16),
    CPU_TILE_ROW(CPU_K_BF16DP)
};


/* Widens columns [k0, k1) of np panels from panel g into buf as f32,
 * interleaved: column k of panel p at (k - k0) * np + p (64 bytes each);
 * for BF16DP copies the pairs the same way. */
static void
cpu_512_pack(const struct cpu_weight *w, int kind, uint32_t g, uint32_t np,
    uint32_t k0, uint32_t k1, size_t pstride, __m512 *buf)
{
    const char  *src;
    uint32_t     p, k, kk;
    __m512i      v;

    for (p = 0; p < np; p++) {
        src = (const char *) w->data + (size_t) (g + p) * pstride;
        switch (kind) {
        case CPU_K_F32:
            for (k = k0; k < k1; k++) {
                buf[(k - k0) * np + p] = _mm512_loadu_ps(src + k * 64);
            }
            break;
        case CPU_K_F16:
            for (k = k0; k < k1; k++) {
                buf[(k - k0) * np + p] = cpu_512_load(kind, src + k * 32);
            }
            break;
        case CPU_K_BF16:
            for (k = k0; k < k1; k += 2) {
                v = _mm512_loadu_si512(src + (size_t) k * 32);
                buf[(k - k0) * np + p] =
                    _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
                if (k + 1 < k1) {
                    buf[(k + 1 - k0) * np + p] = _mm512_castsi512_ps(
                        _mm512_and_si512(v, _mm512_set1_epi32(
                            (int) 0xffff0000u)));
                }
            }
            break;
        default:
            for (kk = k0 / 2; kk < (k1 + 1) / 2; kk++) {
                buf[(kk - k0 / 2) * np + p] =
                    _mm512_loadu_ps(src + (size_t) kk * 64);
            }
            break;
        }
    }
}


/* The weights the next pack will read: np regions of len bytes. */
struct cpu_512_next {
    const char  *at[4];
    size_t       len;
    uint32_t     np;
};


/* The group size at panel g of [g, p1) for tiles of P panels. */
static uint32_t
cpu_512_np(uint32_t g, uint32_t p1, uint32_t P)
{
    if (P <= 2) {
        return p1 - g >= P ? P : 1;
    }
    return p1 - g >= P ? P : (p1 - g >= 4 ? 4 : 1);
}


/* After block (g, k0) comes (g', k0') in the order the driver walks:
 * columns inside groups (kfirst 0) or groups inside columns.  Fills nx
 * with the weights that block's pack will read (np 0: none). */
static void
cpu_512_next(const struct cpu_weight *w, int kinner, uint32_t g,
    uint32_t k0, uint32_t kc, uint32_t p0, uint32_t p1, size_t pstride,
    size_t esize, struct cpu_512_next *nx)
{
    uint32_t  p, np, k1;

    np = cpu_512_np(g, p1, 4);
    k1 = w->cols - k0 > kc ? k0 + kc : w->cols;
    if (kinner) {
        if (k1 < w->cols) {
            k0 = k1;
        } else {
            g += np;
            k0 = 0;
        }
    } else {
        g += np;
        if (g >= p1 && k1 < w->cols) {
            g = p0;
            k0 = k1;
        }
    }
    nx->np = g < p1 ? cpu_512_np(g, p1, 4) : 0;
    k1 = w->cols - k0 > kc ? k0 + kc : w->cols;
    nx->len = (size_t) (k1 - k0) * CPU_PANEL * esize;
    for (p = 0; p < nx->np; p++) {
        nx->at[p] = (const char *) w->data + (size_t) (g + p) * pstride
                    + (size_t) k0 * CPU_PANEL * esize;
    }
}


/* Part i of n of the next block, into L2. */
static void
cpu_512_prefetch(const struct cpu_512_next *nx, uint32_t i, uint32_t n)
{
    size_t    lines, l0, l1, l, per;
    uint32_t  p;

    per = (nx->len + 63) / 64;
    lines = per * nx->np;
    l0 = lines * i / n;
    l1 = lines * (i + 1) / n;
    for (l = l0; l < l1; l++) {
        p = (uint32_t) (l / per);
        /* asm: GCC drops a loop of nothing but __builtin_prefetch. */
        __asm__ __volatile__("prefetcht0 %0"
                             : : "m" (*(nx->at[p] + (l % per) * 64)));
    }
}


void
cpu_gemm_avx512(const struct cpu_gemm_job *job, uint32_t p0, uint32_t p1)
{
    const struct cpu_weight  *w = job->w;
    struct cpu_tile           a;
    uint32_t                  m, kp, kc, k0, k1, t0, t1, t, nt, g, np;
    uint32_t                  P, T, TP, pi;
    size_t                    esize, ks, pstride;
    int                       kind, tkind, pack, kinner, p, nv;
    struct cpu_512_next       next = { { NULL }, 0, 0 };
    /* A group's column block, widened: 4 panels x CPU_512_KC columns
     * (or x CPU_512_KC_DP / 2 pairs), 64 KiB. */
    __m512                    buf[4 * CPU_512_KC];

    m = job->m;
    kp = cpu_weight_kp(w);
    switch (w->dtype) {
    case LMD_DTYPE_F32:
        kind = CPU_K_F32;
        esize = 4;
        break;
    case LMD_DTYPE_F16:
        kind = CPU_K_F16;
        esize = 2;
        break;
    default:
        kind = job->xb != NULL ? CPU_K_BF16DP : CPU_K_BF16;
        esize = 2;
        break;
    }
    pstride = (size_t) kp * CPU_PANEL * esize;
    ks = CPU_PANEL * esize * (kind >= CPU_K_BF16 ? 2 : 1);

    /* Decode (m <= 8): W streamed once in full columns, straight from
     * the panels, P x m tiles for m <= 2 (4 x 4 for BF16 by FMA: its
     * pairs need 8 registers for W).  Prompts: column blocks widened
     * once into buf and reused by every 4 x 6 token tile of the token
     * block, so the conversions leave the FMA loop. */
    pack = m > 8;
    if (m <= 2) {
        /* Fewer panels, fewer streams: each panel is a stream of its
         * own, and 8 per core left the hardware prefetchers behind
         * (tinyllama decode 7-9% slower for BF16 than 1 panel, 8% for
         * F32 than 2). */
        P = kind == CPU_K_BF16DP ? 1 : 2;
        T = m;
        kc = kp;
    } else {
        P = 4;
        T = kind == CPU_K_BF16 && !pack ? 4 : 6;
        kc = !pack ? kp : (kind == CPU_K_BF16DP ? CPU_512_KC_DP
                                                : CPU_512_KC);
    }
    tkind = !pack ? kind : (kind == CPU_K_BF16DP ? CPU_K_BF16DP
                                                 : CPU_K_F32);

    a.pf = pack ? 0 : CPU_512_PF;
    a.xs = w->cols;
    a.xbs = kp / 2;
    a.ys = w->rows;

    /* Token block, then panel group, then column block, so the group's
     * partial sums for the block (192 x 64 floats) stay in cache between
     * column blocks; but where the token block's x (192 x cols floats)
     * would not fit in L2, column block before group, so that each
     * column block of x is read from L2 by every group. */
    kinner = (size_t) CPU_512_NC * w->cols * sizeof(float) <= (512 << 10);

    for (t0 = 0; t0 < m; t0 = t1) {
        t1 = m - t0 > CPU_512_NC ? t0 + CPU_512_NC : m;
        g = p0;
        k0 = 0;

        while (g < p1) {
            np = cpu_512_np(g, p1, P);
            pi = np == 4 ? 1 : (np == 2 ? 2 : 0);
            TP = np == 2 ? 2 : T;
            for (p = 0; p < (int) np; p++) {
                nv = (int) w->rows - (int) (g + p) * CPU_PANEL;
                a.mask[p] = nv >= 16 ? 0xffff : (__mmask16) ((1u << nv) - 1);
            }
            k1 = w->cols - k0 > kc ? k0 + kc : w->cols;
            a.n = k1 - k0;
            a.first = k0 == 0;

            if (pack) {
                cpu_512_pack(w, kind, g, np, k0, k1, pstride, buf);
                a.w = (const char *) buf;
                a.pstride = 64;
                a.ks = (size_t) np * 64;
                cpu_512_next(w, kinner, g, k0, kc, p0, p1, pstride, esize,
                             &next);
            } else {
                a.w = (const char *) w->data + (size_t) g * pstride
                      + (size_t) (kind >= CPU_K_BF16 ? k0 / 2 : k0) * ks;
                a.pstride = pstride;
                a.ks = ks;
            }

            for (t = t0; t < t1; t += nt) {
                nt = t1 - t > TP ? TP : t1 - t;
                if (pack) {
                    /* Spread over the tiles: the next block to cache. */
                    cpu_512_prefetch(&next, (t - t0) / TP,
                                     (t1 - t0 + TP - 1) / TP);
                }
                a.x = job->x + (size_t) t * w->cols + k0;
                a.xb = job->xb != NULL
                       ? job->xb + (size_t) t * a.xbs + k0 / 2 : NULL;
                a.y = job->y + (size_t) t * w->rows + (size_t) g * CPU_PANEL;
                cpu_512_tiles[tkind][pi][nt](&a);
            }

            /* The next block in the walk's order. */
            if (kinner || !pack) {
                if (k1 < w->cols) {
                    k0 = k1;
                } else {
                    g += np;
                    k0 = 0;
                }
            } else {
                g += np;
                if (g >= p1 && k1 < w->cols) {
                    g = p0;
                    k0 = k1;
                }
            }
        }
    }
}


void
cpu_x_to_bf16_avx512(const float *x, uint32_t m, uint32_t cols,
    uint32_t *xb)
{
    uint32_t     i, k, n;
    __mmask16    mlo, mhi;
    const float *xi;
    uint16_t    *out;
    __m512       lo, hi;

    /* Pair j holds bf16(x[2j]) low and bf16(x[2j + 1]) high: in memory
     * that is x in order, one bf16 each, then a zero when cols is odd. */
    for (i = 0; i < m; i++) {
        xi = x + (size_t) i * cols;
        out = (uint16_t *) (xb + (size_t) i * ((cols + 1) / 2));
        for (k = 0; k + 32 <= cols; k += 32) {
            lo = _mm512_loadu_ps(xi + k);
            hi = _mm512_loadu_ps(xi + k + 16);
            _mm512_storeu_si512(out + k,
                (__m512i) _mm512_cvtne2ps_pbh(hi, lo));
        }
        if (k < cols) {
            n = cols - k;
            mlo = n >= 16 ? 0xffff : (__mmask16) ((1u << n) - 1);
            mhi = n >= 32 ? 0xffff
                          : (n > 16 ? (__mmask16) ((1u << (n - 16)) - 1) : 0);
            lo = _mm512_maskz_loadu_ps(mlo, xi + k);
            hi = _mm512_maskz_loadu_ps(mhi, xi + k + 16);
            n = (n + 1) & ~1u;
            _mm512_mask_storeu_epi16(out + k,
                n >= 32 ? 0xffffffffu : (__mmask32) ((1u << n) - 1),
                (__m512i) _mm512_cvtne2ps_pbh(hi, lo));
        }
    }
}
