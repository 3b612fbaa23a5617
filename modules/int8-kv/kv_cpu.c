/*
 * kv_cpu.c -- the int8 and int4 KV codecs' cpu hooks (format in
 * kv_quant.h): quantize a position on write, and dequantize inside the
 * two loops of attention, so that no f32 copy of a run is made.
 *
 *   scores:     s_p = sum_i q_i (lo_p + k_pi step_p)
 *                   = step_p (sum_i q_i k_pi) + lo_p (sum_i q_i)
 *               the integer codes summed against q eight positions to a
 *               vector (keys are transposed), then one fma a position;
 *   accumulate: sum_p w_p v_p = sum_p (w_p step_p) v_p + sum_p w_p lo_p
 *               one scaled row a position, the lo term once at the end.
 *
 * Sums run in a fixed order (i, then p ascending), so results do not
 * depend on the caller's chunking of positions beyond where p0 and p1
 * fall.  unpack dequantizes a whole run into a tile in the cpu engine's
 * f32 layout, for callers that serve many query rows from one block
 * (the cpu engine: one tile per attention task and block, in cache).
 * The compiler vectorizes the inner loops (-O3).
 */

#include "kv_quant.h"

#include <math.h>
#include <string.h>

#define KV_CHUNK    64          /* positions scored at a time */


static size_t
kv_params_bytes(uint32_t positions)
{
    return ((size_t) positions * 8 + 63) & ~(size_t) 63;
}


static size_t
kv_run_bytes(uint32_t positions, uint32_t head_dim, unsigned bits)
{
    size_t  data = (size_t) positions * head_dim * bits / 8;

    return kv_params_bytes(positions) + ((data + 63) & ~(size_t) 63);
}


static inline const float *
kv_lo(const void *run)
{
    return (const float *) run;
}


static inline const float *
kv_step(const void *run, uint32_t positions)
{
    return (const float *) run + positions;
}


static inline uint8_t *
kv_data(const void *run, uint32_t positions)
{
    return (uint8_t *) run + kv_params_bytes(positions);
}


/* The code of number i of a row of n `bits`-wide codes.  int4 keeps
 * numbers i and i + n/2 in the low and high nibble of byte i (n/2
 * bytes), so that unpacking is two plain loops. */
static inline unsigned
kv_code(const uint8_t *row, uint32_t i, uint32_t n, unsigned bits)
{
    return bits == 8 ? row[i]
           : i < n / 2 ? row[i] & 15u : row[i - n / 2] >> 4;
}


static inline void
kv_set_code(uint8_t *row, uint32_t i, uint32_t n, unsigned bits,
    unsigned q)
{
    if (bits == 8) {
        row[i] = (uint8_t) q;
    } else if (i < n / 2) {
        row[i] = (uint8_t) ((row[i] & 0xf0) | q);
    } else {
        row[i - n / 2] = (uint8_t) ((row[i - n / 2] & 0x0f) | q << 4);
    }
}


/* lo and step for numbers in [mn, mx]: lo + levels * step >= mx. */
static void
kv_range(float mn, float mx, unsigned levels, float *lo, float *step)
{
    float  s = (mx - mn) / (float) levels;

    while (mn + (float) levels * s < mx) {
        s = nextafterf(s, INFINITY);
    }
    *lo = mn;
    *step = s;
}


static void
kv_put(void *run, int which, uint32_t positions, uint32_t head_dim,
    uint32_t pos, const float *x, unsigned bits)
{
    const unsigned  levels = (1u << bits) - 1;
    uint8_t        *data = kv_data(run, positions);
    float           mn = x[0], mx = x[0], lo, step, inv;
    uint32_t        i;

    for (i = 1; i < head_dim; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    kv_range(mn, mx, levels, &lo, &step);
    ((float *) run)[pos] = lo;
    ((float *) run)[positions + pos] = step;
    inv = step > 0 ? 1.0f / step : 0.0f;

    for (i = 0; i < head_dim; i++) {
        float     f = rintf((x[i] - lo) * inv);
        unsigned  q = f <= 0 ? 0 : f >= (float) levels ? levels
                      : (unsigned) f;

        if (which == 0) {
            /* keys: row i of [head_dim][positions] */
            kv_set_code(data + (size_t) i * positions * bits / 8, pos,
                        positions, bits, q);
        } else {
            kv_set_code(data + (size_t) pos * head_dim * bits / 8, i,
                        head_dim, bits, q);
        }
    }
}


static void
kv_get(const void *run, int which, uint32_t positions, uint32_t head_dim,
    uint32_t p0, uint32_t p1, float *out, unsigned bits)
{
    const float    *lo = kv_lo(run), *step = kv_step(run, positions);
    const uint8_t  *data = kv_data(run, positions);
    uint32_t        p, i;

    for (p = p0; p < p1; p++) {
        for (i = 0; i < head_dim; i++) {
            unsigned  q = which == 0
                ? kv_code(data + (size_t) i * positions * bits / 8, p,
                          positions, bits)
                : kv_code(data + (size_t) p * head_dim * bits / 8, i,
                          head_dim, bits);

            *out++ = lo[p] + (float) q * step[p];
        }
    }
}


static void
kv_scores(const void *run, uint32_t positions, uint32_t head_dim,
    uint32_t p0, uint32_t p1, const float *q, float *s, unsigned bits)
{
    const float    *lo = kv_lo(run), *step = kv_step(run, positions);
    const uint8_t  *data = kv_data(run, positions);
    float           qsum = 0, acc[KV_CHUNK];
    uint32_t        i, c0, n, j;

    for (i = 0; i < head_dim; i++) {
        qsum += q[i];
    }
    for (c0 = p0; c0 < p1; c0 += n) {
        n = p1 - c0 < KV_CHUNK ? p1 - c0 : KV_CHUNK;
        memset(acc, 0, sizeof(acc));
        for (i = 0; i < head_dim; i++) {
            const uint8_t  *row = data + (size_t) i * positions * bits / 8;
            const float     qi = q[i];

            if (bits == 8) {
                for (j = 0; j < n; j++) {
                    acc[j] += qi * (float) row[c0 + j];
                }
            } else {
                for (j = 0; j < n; j++) {
                    acc[j] += qi * (float) kv_code(row, c0 + j, positions,
                                                   4);
                }
            }
        }
        for (j = 0; j < n; j++) {
            s[c0 - p0 + j] = fmaf(step[c0 + j], acc[j], lo[c0 + j] * qsum);
        }
    }
}


static void
kv_accumulate(const void *run, uint32_t positions, uint32_t head_dim,
    uint32_t p0, uint32_t p1, const float *w, float *out, unsigned bits)
{
    const float    *lo = kv_lo(run), *step = kv_step(run, positions);
    const uint8_t  *data = kv_data(run, positions);
    float           c = 0;
    uint32_t        p, i;

    for (p = p0; p < p1; p++) {
        const uint8_t  *row = data + (size_t) p * head_dim * bits / 8;
        const float     a = w[p - p0] * step[p];

        c += w[p - p0] * lo[p];
        if (bits == 8) {
            for (i = 0; i < head_dim; i++) {
                out[i] += a * (float) row[i];
            }
        } else {
            for (i = 0; i < head_dim / 2; i++) {
                out[i] += a * (float) (row[i] & 15u);
            }
            for (i = 0; i < head_dim / 2; i++) {
                out[head_dim / 2 + i] += a * (float) (row[i] >> 4);
            }
        }
    }
    for (i = 0; i < head_dim; i++) {
        out[i] += c;
    }
}


/* The n (even) int4 codes of a row: o[p] = lo[p] + q_p step[p] with
 * lo and step per number (keys) -- two plain loops over the low and the
 * high nibbles. */
static void
kv_unpack4(const uint8_t *row, const float *lo, const float *step,
    uint32_t n, float *o)
{
    const uint32_t  h = n / 2;
    uint32_t        j;

    for (j = 0; j < h; j++) {
        o[j] = lo[j] + (float) (row[j] & 15u) * step[j];
    }
    for (j = 0; j < h; j++) {
        o[h + j] = lo[h + j] + (float) (row[j] >> 4) * step[h + j];
    }
}


static void
kv_unpack(const void *run, int which, uint32_t positions, uint32_t head_dim,
    float *out, unsigned bits)
{
    const float    *lo = kv_lo(run), *step = kv_step(run, positions);
    const uint8_t  *data = kv_data(run, positions);
    uint32_t        p, i;

    if (which == 0) {
        /* keys: out[i][p], a row of codes at a time */
        for (i = 0; i < head_dim; i++) {
            const uint8_t  *row = data + (size_t) i * positions * bits / 8;
            float          *o = out + (size_t) i * positions;

            if (bits == 8) {
                for (p = 0; p < positions; p++) {
                    o[p] = lo[p] + (float) row[p] * step[p];
                }
            } else {
                kv_unpack4(row, lo, step, positions, o);
            }
        }
        return;
    }
    for (p = 0; p < positions; p++) {
        const uint8_t  *row = data + (size_t) p * head_dim * bits / 8;
        float          *o = out + (size_t) p * head_dim;
        const float     l = lo[p], s = step[p];

        if (bits == 8) {
            for (i = 0; i < head_dim; i++) {
                o[i] = l + (float) row[i] * s;
            }
        } else {
            const uint32_t  h = head_dim / 2;

            for (i = 0; i < h; i++) {
                o[i] = l + (float) (row[i] & 15u) * s;
            }
            for (i = 0; i < h; i++) {
                o[h + i] = l + (float) (row[i] >> 4) * s;
            }
        }
    }
}


/* The two codecs: the generic functions above with bits fixed, so that
 * each inner loop is compiled for its width. */

static size_t
kv8_run_bytes(uint32_t positions, uint32_t head_dim)
{
    return kv_run_bytes(positions, head_dim, 8);
}

static void
kv8_put(void *run, int which, uint32_t positions, uint32_t head_dim,
    uint32_t pos, const float *x)
{
    kv_put(run, which, positions, head_dim, pos, x, 8);
}

static void
kv8_get(const void *run, int which, uint32_t positions, uint32_t head_dim,
    uint32_t p0, uint32_t p1, float *out)
{
    kv_get(run, which, positions, head_dim, p0, p1, out, 8);
}

static void
kv8_scores(const void *run, uint32_t positions, uint32_t head_dim,
    uint32_t p0, uint32_t p1, const float *q, float *s)
{
    kv_scores(run, positions, head_dim, p0, p1, q, s, 8);
}

static void
kv8_accumulate(const void *run, uint32_t positions, uint32_t head_dim,
    uint32_t p0, uint32_t p1, const float *w, float *out)
{
    kv_accumulate(run, positions, head_dim, p0, p1, w, out, 8);
}

static void
kv8_unpack(const void *run, int which, uint32_t positions, uint32_t head_dim,
    float *out)
{
    kv_unpack(run, which, positions, head_dim, out, 8);
}

static size_t
kv4_run_bytes(uint32_t positions, uint32_t head_dim)
{
    return kv_run_bytes(positions, head_dim, 4);
}

static void
kv4_put(void *run, int which, uint32_t positions, uint32_t head_dim,
    uint32_t pos, const float *x)
{
    kv_put(run, which, positions, head_dim, pos, x, 4);
}

static void
kv4_get(const void *run, int which, uint32_t positions, uint32_t head_dim,
    uint32_t p0, uint32_t p1, float *out)
{
    kv_get(run, which, positions, head_dim, p0, p1, out, 4);
}

static void
kv4_scores(const void *run, uint32_t positions, uint32_t head_dim,
    uint32_t p0, uint32_t p1, const float *q, float *s)
{
    kv_scores(run, positions, head_dim, p0, p1, q, s, 4);
}

static void
kv4_accumulate(const void *run, uint32_t positions, uint32_t head_dim,
    uint32_t p0, uint32_t p1, const float *w, float *out)
{
    kv_accumulate(run, positions, head_dim, p0, p1, w, out, 4);
}


static void
kv4_unpack(const void *run, int which, uint32_t positions, uint32_t head_dim,
    float *out)
{
    kv_unpack(run, which, positions, head_dim, out, 4);
}


const struct lmd_kv_codec_cpu  kv_cpu_int8 = {
    kv8_run_bytes, kv8_put, kv8_get, kv8_scores, kv8_accumulate, kv8_unpack,
    { NULL }
};

const struct lmd_kv_codec_cpu  kv_cpu_int4 = {
    kv4_run_bytes, kv4_put, kv4_get, kv4_scores, kv4_accumulate, kv4_unpack,
    { NULL }
};
