/*
 * cpu_gemm_avx2.c -- the matrix kernel for AVX2 + FMA + F16C.  Built with
 * those -m flags: cpu_isa.c calls into it only where cpuid has them.
 *
 * The same scheme as cpu_gemm_avx512.c with 8-lane registers: a 16-row
 * panel is two ymm, a tile is P panels x T tokens (2 x 3 for prompts, 12
 * accumulators of the 16 registers; 4 x 1 for decode), each lane one
 * (row, token) chain of FMAs in k order, so the results equal the
 * AVX-512 FMA kernel's bit for bit (BF16 there may use vdpbf16ps
 * instead).  For prompts each group's column block of F16 or BF16
 * weights is widened once into an f32 buffer that every token tile of
 * the block reuses.  I8 has its own kernel, cpu_gemm_i8_avx2.c.
 */

#include <immintrin.h>

#include "cpu_gemm.h"

#define CPU_256_KC      256     /* columns per block (even) */
#define CPU_256_NC      192     /* tokens per block */
#define CPU_256_PMAX    4
#define CPU_256_TMAX    3

enum {
    CPU_K_F32 = 0,
    CPU_K_F16,
    CPU_K_BF16,
    CPU_K_COUNT
};

struct cpu_tile {
    const char      *w;         /* first panel of the group, column 0 */
    size_t           pstride;   /* bytes from panel to panel */
    const float     *x;         /* first token of the tile, column 0 */
    size_t           xs;        /* floats from token to token */
    float           *y;         /* first token, first row of the group */
    size_t           ys;        /* floats from token to token (rows) */
    uint32_t         k0, k1;    /* columns [k0, k1); k0 even */
    uint32_t         kw;        /* the column w points at */
    size_t           ks;        /* bytes from column to column of w
                                   (F32, F16) */
    int              first;     /* k0 == 0: start from zero */
    int              nv[CPU_256_PMAX];      /* rows of each panel */
};


/* Rows 8h .. 8h + 7 of the panel column at p, as f32. */
static inline __attribute__((always_inline)) __m256
cpu_256_load(const int kind, const char *p, int h)
{
    switch (kind) {
    case CPU_K_F32:
        return _mm256_loadu_ps((const float *) (p + h * 32));
    default:
        return _mm256_cvtph_ps(
            _mm_loadu_si128((const __m128i *) (p + h * 16)));
    }
}


/* y's 16 rows of one panel for a token; rows past nv are not touched. */
static inline __attribute__((always_inline)) void
cpu_256_ld(const float *y, int nv, __m256 *lo, __m256 *hi)
{
    float  buf[16];
    int    i;

    if (nv >= 16) {
        *lo = _mm256_loadu_ps(y);
        *hi = _mm256_loadu_ps(y + 8);
        return;
    }
    for (i = 0; i < 16; i++) {
        buf[i] = i < nv ? y[i] : 0.0f;
    }
    *lo = _mm256_loadu_ps(buf);
    *hi = _mm256_loadu_ps(buf + 8);
}


static inline __attribute__((always_inline)) void
cpu_256_st(float *y, int nv, __m256 lo, __m256 hi)
{
    float  buf[16];
    int    i;

    if (nv >= 16) {
        _mm256_storeu_ps(y, lo);
        _mm256_storeu_ps(y + 8, hi);
        return;
    }
    _mm256_storeu_ps(buf, lo);
    _mm256_storeu_ps(buf + 8, hi);
    for (i = 0; i < nv; i++) {
        y[i] = buf[i];
    }
}


static inline __attribute__((always_inline)) void
cpu_256_tile(const int kind, const int P, const int T,
    const struct cpu_tile *a)
{
    __m256          acc[2 * CPU_256_PMAX][CPU_256_TMAX];
    __m256          wv[2 * CPU_256_PMAX], wo[2 * CPU_256_PMAX], xv, xo;
    __m256i         wi;
    const char     *wp[CPU_256_PMAX];
    const float    *xp[CPU_256_TMAX];
    const __m256i   hi = _mm256_set1_epi32((int) 0xffff0000u);
    size_t          k, kk;
    int             p, t, v;

#pragma GCC unroll 4
    for (p = 0; p < P; p++) {
        wp[p] = a->w + (size_t) p * a->pstride;
    }
#pragma GCC unroll 4
    for (t = 0; t < T; t++) {
        xp[t] = a->x + (size_t) t * a->xs;
    }
#pragma GCC unroll 4
    for (t = 0; t < T; t++) {
#pragma GCC unroll 4
        for (p = 0; p < P; p++) {
            if (a->first) {
                acc[2 * p][t] = _mm256_setzero_ps();
                acc[2 * p + 1][t] = _mm256_setzero_ps();
            } else {
                cpu_256_ld(a->y + (size_t) t * a->ys + (size_t) p * 16,
                           a->nv[p], &acc[2 * p][t], &acc[2 * p + 1][t]);
            }
        }
    }

    if (kind == CPU_K_BF16) {
        for (kk = a->k0 / 2; kk < (a->k1 + 1) / 2; kk++) {
#pragma GCC unroll 8
            for (v = 0; v < 2 * P; v++) {
                wi = _mm256_loadu_si256(
                    (const __m256i *) (wp[v / 2] + kk * 64 + (v % 2) * 32));
                wv[v] = _mm256_castsi256_ps(_mm256_slli_epi32(wi, 16));
                wo[v] = _mm256_castsi256_ps(_mm256_and_si256(wi, hi));
            }
            if (2 * kk + 1 < a->k1) {
#pragma GCC unroll 4
                for (t = 0; t < T; t++) {
                    xv = _mm256_broadcast_ss(xp[t] + 2 * kk);
                    xo = _mm256_broadcast_ss(xp[t] + 2 * kk + 1);
#pragma GCC unroll 8
                    for (v = 0; v < 2 * P; v++) {
                        acc[v][t] = _mm256_fmadd_ps(wv[v], xv, acc[v][t]);
                        acc[v][t] = _mm256_fmadd_ps(wo[v], xo, acc[v][t]);
                    }
                }
            } else {
                /* An odd last column. */
#pragma GCC unroll 4
                for (t = 0; t < T; t++) {
                    xv = _mm256_broadcast_ss(xp[t] + 2 * kk);
#pragma GCC unroll 8
                    for (v = 0; v < 2 * P; v++) {
                        acc[v][t] = _mm256_fmadd_ps(wv[v], xv, acc[v][t]);
                    }
                }
            }
        }

    } else {
        const size_t  ks = a->ks;
        size_t        off = (a->k0 - a->kw) * ks;

        for (k = a->k0; k < a->k1; k++, off += ks) {
#pragma GCC unroll 8
            for (v = 0; v < 2 * P; v++) {
                wv[v] = cpu_256_load(kind, wp[v / 2] + off, v % 2);
            }
#pragma GCC unroll 4
            for (t = 0; t < T; t++) {
                xv = _mm256_broadcast_ss(xp[t] + k);
#pragma GCC unroll 8
                for (v = 0; v < 2 * P; v++) {
                    acc[v][t] = _mm256_fmadd_ps(wv[v], xv, acc[v][t]);
                }
            }
        }
    }


#pragma GCC unroll 4
    for (t = 0; t < T; t++) {
#pragma GCC unroll 4
        for (p = 0; p < P; p++) {
            cpu_256_st(a->y + (size_t) t * a->ys + (size_t) p * 16, a->nv[p],
                       acc[2 * p][t], acc[2 * p + 1][t]);
        }
    }
}


/* The instances: [kind][P 1, 2, 4][T]. */

typedef void (*cpu_256_tile_pt)(const struct cpu_tile *a);

#define CPU_TILE(K, P, T)                                                     \
    static void                                                               \
    cpu_256_##K##_##P##_##T(const struct cpu_tile *a)                         \
    {                                                                         \
        cpu_256_tile(K, P, T, a);                                             \
    }

#define CPU_TILES(K)                                                          \
    CPU_TILE(K, 1, 1) CPU_TILE(K, 1, 2) CPU_TILE(K, 1, 3)                     \
    CPU_TILE(K, 2, 1) CPU_TILE(K, 2, 2) CPU_TILE(K, 2, 3)                     \
    CPU_TILE(K, 4, 1)

#define CPU_TILE_ROW(K)                                                       \
    {                                                                         \
        { NULL, cpu_256_##K##_1_1, cpu_256_##K##_1_2, cpu_256_##K##_1_3 },    \
        { NULL, cpu_256_##K##_2_1, cpu_256_##K##_2_2, cpu_256_##K##_2_3 },    \
        { NULL, cpu_256_##K##_4_1, NULL, NULL }                               \
    }

CPU_TILES(CPU_K_F32)
CPU_TILES(CPU_K_F16)
CPU_TILES(CPU_K_BF16)

static const cpu_256_tile_pt  cpu_256_tiles[CPU_K_COUNT][3][4] = {
    CPU_TILE_ROW(CPU_K_F32),
    CPU_TILE_ROW(CPU_K_F16),
    CPU_TILE_ROW(CPU_K_BF16)
};


/* Widens columns [k0, k1) of np panels from panel g into buf as f32,
 * interleaved: column k of panel p at ((k - k0) * np + p) * 16 floats. */
static void
cpu_256_pack(const struct cpu_weight *w, int kind, uint32_t g, uint32_t np,
    uint32_t k0, uint32_t k1, size_t pstride, float *buf)
{
    const char     *src;
    float          *o;
    uint32_t        p, k;
    int             h;
    __m256i         v;
    const __m256i   hi = _mm256_set1_epi32((int) 0xffff0000u);

    for (p = 0; p < np; p++) {
        src = (const char *) w->data + (size_t) (g + p) * pstride;
        for (k = k0; k < k1; k++) {
            o = buf + ((size_t) (k - k0) * np + p) * CPU_PANEL;
            for (h = 0; h < 2; h++) {
                switch (kind) {
                case CPU_K_F16:
                    _mm256_storeu_ps(o + h * 8,
                                     cpu_256_load(kind, src + k * 32, h));
                    break;
                default:
                    /* BF16 pairs: the even column low, the odd high. */
                    v = _mm256_loadu_si256((const __m256i *)
                        (src + (size_t) (k / 2) * 64 + h * 32));
                    v = k & 1 ? _mm256_and_si256(v, hi)
                              : _mm256_slli_epi32(v, 16);
                    _mm256_storeu_ps(o + h * 8, _mm256_castsi256_ps(v));
                    break;
                }
            }
        }
    }
}


void
cpu_gemm_avx2(const struct cpu_gemm_job *job, uint32_t p0, uint32_t p1)
{
    const struct cpu_weight  *w = job->w;
    struct cpu_tile           a;
    uint32_t                  m, kp, kc, k0, k1, t0, t1, t, nt, g, np;
    uint32_t                  P, T, pi;
    size_t                    esize, pstride;
    int                       kind, tkind, pack, p, nv;
    /* A group's column block widened to f32 (prompts): 2 panels x
     * CPU_256_KC columns, 32 KiB. */
    float                     buf[2 * CPU_256_KC * CPU_PANEL];

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
        kind = CPU_K_BF16;
        esize = 2;
        break;
    }

    /* Decode: 4 panels x 1 token, straight from the panels; 2 x 3 tiles
     * for a few tokens (BF16's pairs need registers: 1 x 3 there).
     * Prompts: each group's column block is widened once into buf (F16,
     * BF16) and every 2 x 3 token tile runs the F32 loop on it. */
    pack = m > 8 && kind != CPU_K_F32;
    if (m == 1) {
        P = 4;
        T = 1;
        kc = kp;
    } else {
        P = kind == CPU_K_BF16 && !pack ? 1 : 2;
        T = 3;
        kc = m <= 8 ? kp : CPU_256_KC;
    }
    tkind = pack ? CPU_K_F32 : kind;

    pstride = (size_t) kp * CPU_PANEL * esize;
    a.xs = w->cols;
    a.ys = w->rows;

    /* Token block, panel group, column block: the group's partial sums
     * stay in cache between column blocks. */
    for (t0 = 0; t0 < m; t0 = t1) {
        t1 = m - t0 > CPU_256_NC ? t0 + CPU_256_NC : m;

        for (g = p0; g < p1; g += np) {
            np = p1 - g >= P ? P : 1;
            pi = np == 4 ? 2 : (np == 2 ? 1 : 0);
            for (p = 0; p < (int) np; p++) {
                nv = (int) w->rows - (int) (g + p) * CPU_PANEL;
                a.nv[p] = nv > 16 ? 16 : nv;
            }

            for (k0 = 0; k0 < w->cols; k0 = k1) {
                k1 = w->cols - k0 > kc ? k0 + kc : w->cols;
                a.k0 = k0;
                a.k1 = k1;
                a.first = k0 == 0;
                if (pack) {
                    cpu_256_pack(w, kind, g, np, k0, k1, pstride, buf);
                    a.w = (const char *) buf;
                    a.pstride = 64;
                    a.kw = k0;
                    a.ks = (size_t) np * 64;
                } else {
                    a.w = (const char *) w->data + (size_t) g * pstride;
                    a.pstride = pstride;
                    a.kw = 0;
                    a.ks = CPU_PANEL * esize;
                }

                for (t = t0; t < t1; t += nt) {
                    nt = t1 - t > T ? T : t1 - t;
                    a.x = job->x + (size_t) t * w->cols;
                    a.y = job->y + (size_t) t * w->rows
                          + (size_t) g * CPU_PANEL;
                    cpu_256_tiles[tkind][pi][nt](&a);
                }
            }
        }
    }
}
