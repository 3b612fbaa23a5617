// sources: modules/int8-kv/kv_cuda_write.cu
// sources: modules/int8-kv/kv_cuda_attention.cu
// sources: modules/int8-kv/kv_cpu.c
// sources: modules/cuda-awq/cuda_attention.cu
// sources: engine/lmd_dtype.c
/*
 * kv_int8_check.cu -- the int8-kv module's CUDA backend (kv_cuda.h)
 * against float64 and against its cpu backend, and the time of its
 * attention next to the 16-bit cache's and the bandwidth floor.
 *
 * Each case writes every position of a few sequences through the
 * quantizing write (random q|k|v of the act type, one number in 64 of
 * k and v 10x the rest so that per-position ranges differ widely, RoPE
 * at theta 10000, block tables in a shuffled order over layer 1 of 2),
 * reads the cache
 * back, decodes it on the host by the documented format, and checks:
 *
 *   write    every stored number within half a step (plus f32
 *            rounding: 1e-6 of the position's largest) of the float64
 *            rotated input, lo at or below the position's smallest; q
 *            out within one act rounding of the float64 rotated q;
 *   cpu      value runs (no rotation: the same f32 numbers on both) hold
 *            the same (lo, step) and dequantized numbers as the cpu
 *            codec's put / get of those numbers, bit for bit;
 *   attend   the tensor-core path (head_dim 64, 128; with and without
 *            its split work buffer) and the generic path (every
 *            head_dim) against float64 attention over the dequantized
 *            cache: relative L2 within 4e-3 (f16) or 1.5e-2 (bf16) --
 *            the act rounding of the dequantized numbers (f16: made in
 *            half2 arithmetic, (lo, step) rounded to f16 too), of the
 *            softmax weights and of the output -- for the last `fresh`
 *            tokens of each sequence (prompt chunks, mixed steps, decode
 *            steps, sliding window);
 *   quant    the same output against float64 attention over the
 *            unquantized rotated k and v, relative L2 within 3e-2 (int8)
 *            or 6e-1 (int4): the cpu test's bounds for 10x outliers
 *            (test_kv_int8).
 *
 * Timing (without -c; -t: the batch-64 case alone): decode attention of
 * the llama-2-7b shape (32 heads of 128, MHA) at 4k context, batch 1
 * and 64, per launch (median of 7 runs of 20): the 16-bit cache
 * (cuda_attention), int8 and int4, each against its own floor (its KV
 * bytes over the copy bandwidth); and prompt chunks' attention (4 x 512
 * new tokens after 1536 cached, 32 x 256 new) against 784 TFLOP/s.
 */

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

#include "gpu_check.h"
#include "kv_cuda.h"

extern "C" {
#include "kv_quant.h"
}

#define N_LAYERS        2
#define LAYER           1

struct seqs { uint32_t ctx, fresh; };

/* One case: shapes, sequences (ctx positions each, the last `fresh` of
 * them the attention step's tokens), host and device arrays. */
struct kcase {
    int                      act;
    unsigned                 bits;
    uint32_t                 heads, kv_heads, hd, window, bs;
    std::vector<seqs>        list;

    uint32_t                 S, P, T, max_blocks, n_blocks, qkv_dim;
    size_t                   run_bytes, block_bytes;
    std::vector<uint32_t>    table, w_seq, w_pos, a_seq, a_pos, a_start,
                             ctx;
    std::vector<float>       inv_freq;
    std::vector<uint16_t>    qkv, qout;
    std::vector<uint8_t>     cache;
    char                    *dcache;
    void                    *dqkv, *dq, *dout, *dwork;
    uint32_t                *dints;
    float                   *dfreq, *dscale;
    struct lmd_kv_cuda_args  wa, aa;
};


/* The pieces of a run (kv_cuda.h). */
static const float *
run_ls(const struct kcase *c, size_t run, uint32_t slot)
{
    return (const float *) (c->cache.data() + run) + 2 * slot;
}


static unsigned
run_code(const struct kcase *c, size_t run, uint32_t slot, uint32_t i)
{
    const uint8_t  *row = c->cache.data() + run
                          + kv_cuda_params_bytes(c->bs)
                          + (size_t) slot * c->hd * c->bits / 8;

    if (c->bits == 8) {
        return row[i];
    }
    return i < c->hd / 2 ? row[i] & 15u : row[i - c->hd / 2] >> 4;
}


static double
run_num(const struct kcase *c, size_t run, uint32_t slot, uint32_t i)
{
    const float  *ls = run_ls(c, run, slot);

    return (double) ls[0] + (double) run_code(c, run, slot, i)
                            * (double) ls[1];
}


/* Offset of the run of (position p of sequence s, keys 0 / values 1,
 * KV head h), and p's slot. */
static size_t
run_of(const struct kcase *c, uint32_t s, uint32_t p, int w, uint32_t h,
    uint32_t *slot)
{
    uint32_t  blk = c->table[(size_t) s * c->max_blocks + p / c->bs];

    *slot = p % c->bs;
    return (size_t) blk * c->block_bytes
           + (((size_t) LAYER * 2 + w) * c->kv_heads + h) * c->run_bytes;
}


/* The float64 rotated k (w 0) or v (w 1) of head h at (s, p), or q of
 * query head h (w 2), from the act inputs; the angle is the f32 product
 * the kernels make. */
static void
ref_vec(const struct kcase *c, uint32_t row, uint32_t p, int w, uint32_t h,
    double *out)
{
    uint32_t         half = c->hd / 2, head;
    const uint16_t  *x;

    head = w == 2 ? h : c->heads + (w == 1 ? c->kv_heads : 0) + h;
    x = c->qkv.data() + (size_t) row * c->qkv_dim + (size_t) head * c->hd;
    for (uint32_t i = 0; i < half; i++) {
        double  x1 = from16(c->act, x[i]), x2 = from16(c->act, x[i + half]);
        double  ang = (double) ((float) p * c->inv_freq[i]);

        if (w == 1) {
            out[i] = x1;
            out[i + half] = x2;
        } else {
            out[i] = x1 * cos(ang) - x2 * sin(ang);
            out[i + half] = x2 * cos(ang) + x1 * sin(ang);
        }
    }
}


static void
setup(struct kcase *c)
{
    uint32_t               i, j, n, used = 0, half = c->hd / 2;
    std::vector<uint32_t>  perm, all;
    size_t                 o;

    c->S = (uint32_t) c->list.size();
    c->qkv_dim = (c->heads + 2 * c->kv_heads) * c->hd;
    c->max_blocks = 1;
    c->P = c->T = 0;
    c->a_start.assign(1, 0);
    for (i = 0; i < c->S; i++) {
        c->ctx.push_back(c->list[i].ctx);
        for (j = 0; j < c->list[i].ctx; j++) {
            c->w_seq.push_back(i);
            c->w_pos.push_back(j);
            if (j + c->list[i].fresh >= c->list[i].ctx) {
                c->a_seq.push_back(i);
                c->a_pos.push_back(j);
            }
        }
        c->P += c->list[i].ctx;
        c->T += c->list[i].fresh;
        c->a_start.push_back(c->T);
        n = (c->list[i].ctx + c->bs - 1) / c->bs;
        c->max_blocks = std::max(c->max_blocks, n);
        used += n;
    }
    c->n_blocks = used + used / 3 + 1;
    perm.resize(c->n_blocks);
    for (i = 0; i < c->n_blocks; i++) {
        perm[i] = i;
    }
    for (i = c->n_blocks - 1; i > 0; i--) {
        std::swap(perm[i], perm[gpu_irand(i + 1)]);
    }
    c->table.assign((size_t) c->S * c->max_blocks, 0);
    for (i = 0, used = 0; i < c->S; i++) {
        n = (c->list[i].ctx + c->bs - 1) / c->bs;
        for (j = 0; j < n; j++) {
            c->table[(size_t) i * c->max_blocks + j] = perm[used++];
        }
    }
    c->inv_freq.resize(half);
    for (i = 0; i < half; i++) {
        c->inv_freq[i] = (float) pow(10000.0, -2.0 * i / c->hd);
    }
    /* q scaled so that |q . k| * scale reaches ~10; about one number in
     * 64 of k and v 10x the rest */
    c->qkv.resize((size_t) c->P * c->qkv_dim);
    for (o = 0; o < c->qkv.size(); o++) {
        double  v = gpu_urand();

        if (o % c->qkv_dim < (size_t) c->heads * c->hd) {
            v *= 3.0;
        } else if (gpu_irand(64) == 0) {
            v *= 10.0;
        }
        c->qkv[o] = to16(c->act, v);
    }

    c->run_bytes = kv_cuda_run_bytes(c->bs, c->hd, c->bits);
    c->block_bytes = (size_t) N_LAYERS * 2 * c->kv_heads * c->run_bytes;
    CK(cudaMalloc(&c->dcache, c->block_bytes * c->n_blocks));
    CK(cudaMemset(c->dcache, 0, c->block_bytes * c->n_blocks));
    CK(cudaMalloc(&c->dqkv, c->qkv.size() * 2));
    CK(cudaMemcpy(c->dqkv, c->qkv.data(), c->qkv.size() * 2,
                  cudaMemcpyHostToDevice));
    CK(cudaMalloc(&c->dq, (size_t) c->P * c->heads * c->hd * 2));
    CK(cudaMalloc(&c->dout, (size_t) c->T * c->heads * c->hd * 2));
    CK(cudaMalloc(&c->dwork, kv_cuda_work_bytes(c->T, c->S, c->hd)));
    CK(cudaMalloc(&c->dfreq, (size_t) c->S * half * 4));
    CK(cudaMalloc(&c->dscale, (size_t) c->S * 4));
    for (i = 0; i < c->S; i++) {
        float  one = 1.0f;

        CK(cudaMemcpy(c->dfreq + (size_t) i * half, c->inv_freq.data(),
                      half * 4, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(c->dscale + i, &one, 4, cudaMemcpyHostToDevice));
    }
    all.insert(all.end(), c->w_seq.begin(), c->w_seq.end());
    all.insert(all.end(), c->w_pos.begin(), c->w_pos.end());
    all.insert(all.end(), c->a_seq.begin(), c->a_seq.end());
    all.insert(all.end(), c->a_pos.begin(), c->a_pos.end());
    all.insert(all.end(), c->a_start.begin(), c->a_start.end());
    all.insert(all.end(), c->ctx.begin(), c->ctx.end());
    all.insert(all.end(), c->table.begin(), c->table.end());
    CK(cudaMalloc(&c->dints, all.size() * 4));
    CK(cudaMemcpy(c->dints, all.data(), all.size() * 4,
                  cudaMemcpyHostToDevice));

    memset(&c->wa, 0, sizeof(c->wa));
    c->wa.act = c->act;
    c->wa.n_heads = c->heads;
    c->wa.n_kv_heads = c->kv_heads;
    c->wa.head_dim = c->hd;
    c->wa.window = c->window;
    c->wa.att_scale = (float) (1.0 / sqrt((double) c->hd));
    c->wa.cache = c->dcache;
    c->wa.block_bytes = c->block_bytes;
    c->wa.run_bytes = c->run_bytes;
    c->wa.n_blocks = c->n_blocks;
    c->wa.block_size = c->bs;
    c->wa.layer = LAYER;
    c->wa.max_blocks = c->max_blocks;
    c->wa.inv_freq = c->dfreq;
    c->wa.pos_scale = c->dscale;
    c->wa.block_table = c->dints + 2 * c->P + 2 * c->T + c->S + 1 + c->S;
    c->wa.seq_ctx = c->dints + 2 * c->P + 2 * c->T + c->S + 1;
    c->aa = c->wa;
    /* the write: every position as one prompt of the whole context */
    c->wa.n_tokens = c->P;
    c->wa.tok_seq = c->dints;
    c->wa.tok_pos = c->dints + c->P;
    /* the attention step: the last fresh tokens of each sequence */
    c->aa.n_tokens = c->T;
    c->aa.n_seqs = c->S;
    c->aa.tok_seq = c->dints + 2 * c->P;
    c->aa.tok_pos = c->dints + 2 * c->P + c->T;
    c->aa.seq_start = c->dints + 2 * c->P + 2 * c->T;
    for (i = 0; i < c->S; i++) {
        c->aa.max_seq_tokens = std::max(c->aa.max_seq_tokens,
                                        c->list[i].fresh);
        c->aa.max_ctx = std::max(c->aa.max_ctx, c->list[i].ctx);
    }
    c->aa.decode = c->aa.max_seq_tokens == 1;
}


static void
teardown(struct kcase *c)
{
    CK(cudaFree(c->dcache));
    CK(cudaFree(c->dqkv));
    CK(cudaFree(c->dq));
    CK(cudaFree(c->dout));
    CK(cudaFree(c->dwork));
    CK(cudaFree(c->dints));
    CK(cudaFree(c->dfreq));
    CK(cudaFree(c->dscale));
}


/* write and cpu: the stored runs against float64 and the cpu codec. */
static int
check_write(struct kcase *c, const char *name)
{
    const struct lmd_kv_codec_cpu  *cpu = c->bits == 8 ? &kv_cpu_int8
                                                       : &kv_cpu_int4;
    std::vector<double>             ref(c->hd);
    std::vector<float>              x(c->hd), got(c->hd);
    std::vector<uint8_t>            crun(cpu->run_bytes(8, c->hd) + 64);
    double                          worst = 0, qworst = 0;
    size_t                          bad = 0, cpu_bad = 0, qbad = 0;
    uint32_t                        slot;

    c->qout.resize((size_t) c->P * c->heads * c->hd);
    CK(cudaMemcpy(c->qout.data(), c->dq, c->qout.size() * 2,
                  cudaMemcpyDeviceToHost));
    for (uint32_t r = 0; r < c->P; r++) {
        uint32_t  s = c->w_seq[r], p = c->w_pos[r];

        for (uint32_t h = 0; h < c->heads; h++) {
            ref_vec(c, r, p, 2, h, ref.data());
            for (uint32_t i = 0; i < c->hd; i++) {
                double  g = from16(c->act,
                                   c->qout[((size_t) r * c->heads + h)
                                           * c->hd + i]);
                double  e = fabs(g - ref[i]);
                double  tol = fabs(ref[i]) * (c->act == 0 ? 0x1p-11
                                                          : 0x1p-8)
                              + 1e-6;

                qworst = std::max(qworst, e / tol);
                qbad += !(e <= tol);
            }
        }
        for (int w = 0; w < 2; w++) {
            for (uint32_t h = 0; h < c->kv_heads; h++) {
                size_t        run = run_of(c, s, p, w, h, &slot);
                const float  *ls = run_ls(c, run, slot);
                double        mn = INFINITY, mx = -INFINITY, tol;

                ref_vec(c, r, p, w, h, ref.data());
                for (uint32_t i = 0; i < c->hd; i++) {
                    mn = std::min(mn, ref[i]);
                    mx = std::max(mx, ref[i]);
                }
                /* f32 rounding (RoPE, x - lo): ulps of the largest */
                tol = 1e-6 * std::max(fabs(mn), fabs(mx));
                bad += !((double) ls[0] <= mn + tol);
                for (uint32_t i = 0; i < c->hd; i++) {
                    double  e = fabs(run_num(c, run, slot, i) - ref[i]);
                    double  lim = (double) ls[1] / 2 * (1 + 1e-5) + tol
                                  + 1e-30;

                    worst = std::max(worst, e / lim);
                    bad += !(e <= lim);
                }
                if (w == 1) {
                    /* the cpu codec on the same f32 numbers */
                    for (uint32_t i = 0; i < c->hd; i++) {
                        x[i] = (float) ref[i];
                    }
                    cpu->put(crun.data(), 1, 8, c->hd, 3, x.data());
                    cpu->get(crun.data(), 1, 8, c->hd, 3, 4, got.data());
                    for (uint32_t i = 0; i < c->hd; i++) {
                        long  q = ls[1] > 0
                                  ? lround((got[i] - ls[0]) / ls[1]) : 0;

                        cpu_bad += q != (long) run_code(c, run, slot, i);
                    }
                    cpu_bad += ((const float *) crun.data())[3] != ls[0]
                               || ((const float *) crun.data())[8 + 3]
                                  != ls[1];
                }
            }
        }
    }
    printf("write    %-40s %5u positions: worst |err| %.3f of half a step, "
           "%zu out; q %.2f of an act rounding, %zu out; cpu codec: %zu "
           "differ %s\n", name, c->P, worst, bad, qworst, qbad, cpu_bad,
           bad + qbad + cpu_bad == 0 ? "ok" : "FAIL");
    return bad + qbad + cpu_bad == 0 ? 0 : 1;
}


/* Float64 attention for every step token and head over the dequantized
 * cache (deq) or the unquantized float64 k and v. */
static void
reference(const struct kcase *c, bool deq, std::vector<double> &out)
{
    uint32_t             G = c->heads / c->kv_heads, hd = c->hd;
    std::vector<double>  qd(hd), sc, k(hd), v(hd);
    std::vector<size_t>  wrow;
    uint32_t             slot;

    /* the write row of (s, p) */
    wrow.assign(c->P, 0);
    out.assign((size_t) c->T * c->heads * hd, 0.0);
    for (uint32_t t = 0; t < c->T; t++) {
        uint32_t  s = c->a_seq[t], pos = c->a_pos[t], row0 = 0;
        uint32_t  lo = c->window > 0 && pos + 1 > c->window
                       ? pos + 1 - c->window : 0;

        for (uint32_t i = 0; i < s; i++) {
            row0 += c->list[i].ctx;
        }
        for (uint32_t h = 0; h < c->heads; h++) {
            double  mx = -INFINITY, sum = 0;
            double *o = &out[((size_t) t * c->heads + h) * hd];

            for (uint32_t i = 0; i < hd; i++) {
                /* the kernels' q: the write's act output */
                qd[i] = from16(c->act, c->qout[((size_t) (row0 + pos)
                                                * c->heads + h) * hd + i]);
            }
            sc.assign(pos + 1 - lo, 0.0);
            for (uint32_t p = lo; p <= pos; p++) {
                double  d = 0;

                if (deq) {
                    size_t  run = run_of(c, s, p, 0, h / G, &slot);

                    for (uint32_t i = 0; i < hd; i++) {
                        d += qd[i] * run_num(c, run, slot, i);
                    }
                } else {
                    ref_vec(c, row0 + p, p, 0, h / G, k.data());
                    for (uint32_t i = 0; i < hd; i++) {
                        d += qd[i] * k[i];
                    }
                }
                sc[p - lo] = d / sqrt((double) hd);
                mx = std::max(mx, sc[p - lo]);
            }
            for (uint32_t p = lo; p <= pos; p++) {
                sc[p - lo] = exp(sc[p - lo] - mx);
                sum += sc[p - lo];
            }
            for (uint32_t p = lo; p <= pos; p++) {
                double  w = sc[p - lo] / sum;

                if (deq) {
                    size_t  run = run_of(c, s, p, 1, h / G, &slot);

                    for (uint32_t i = 0; i < hd; i++) {
                        o[i] += w * run_num(c, run, slot, i);
                    }
                } else {
                    ref_vec(c, row0 + p, p, 1, h / G, v.data());
                    for (uint32_t i = 0; i < hd; i++) {
                        o[i] += w * v[i];
                    }
                }
            }
        }
    }
}


enum path { A_TC, A_TC1, A_GENERIC };
static const char *const  path_name[] = { "tc", "tc/1", "generic" };


static int
attend(struct kcase *c, enum path k)
{
    /* the step's q: the write's rotated q of the step's tokens, gathered
     * on the device by copying rows */
    return k == A_GENERIC
           ? kv_cuda_attention_generic(&c->aa, c->bits, c->dq, c->dout)
           : kv_cuda_attention_tc(&c->aa, c->bits, c->dq, c->dout,
                                  k == A_TC ? c->dwork : NULL);
}


/* The step's q rows (act) at dq in step order. */
static void
gather_q(struct kcase *c)
{
    size_t    rowb = (size_t) c->heads * c->hd * 2;
    uint32_t  t, row0;
    char     *tmp;

    CK(cudaMalloc(&tmp, (size_t) c->T * rowb));
    for (t = 0; t < c->T; t++) {
        row0 = 0;
        for (uint32_t i = 0; i < c->a_seq[t]; i++) {
            row0 += c->list[i].ctx;
        }
        CK(cudaMemcpy(tmp + t * rowb,
                      (char *) c->dq + (size_t) (row0 + c->a_pos[t]) * rowb,
                      rowb, cudaMemcpyDeviceToDevice));
    }
    CK(cudaFree(c->dq));
    c->dq = tmp;
}


static int
compare(struct kcase *c, enum path k, const std::vector<double> &deq,
    const std::vector<double> &raw, const char *name)
{
    std::vector<uint16_t>  got(deq.size());
    double                 n1 = 0, n2 = 0, d1 = 0, d2 = 0, b1, b2;
    size_t                 nan = 0;

    CK(cudaMemset(c->dout, 0xff, got.size() * 2));
    if (attend(c, k) != 0) {
        printf("attend   %-8s %-40s refused: FAIL\n", path_name[k], name);
        return 1;
    }
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(got.data(), c->dout, got.size() * 2,
                  cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < deq.size(); i++) {
        double  g = from16(c->act, got[i]);

        if (!std::isfinite(g)) {
            nan++;
            continue;
        }
        n1 += (g - deq[i]) * (g - deq[i]);
        d1 += deq[i] * deq[i];
        n2 += (g - raw[i]) * (g - raw[i]);
        d2 += raw[i] * raw[i];
    }
    n1 = sqrt(n1 / d1);
    n2 = sqrt(n2 / d2);
    b1 = c->act == 0 ? 4e-3 : 1.5e-2;
    b2 = c->bits == 8 ? 3e-2 : 6e-1;
    bool ok = nan == 0 && n1 <= b1 && n2 <= b2;
    printf("attend   %-8s %-40s T %4u: rel L2 %.2e of the dequantized "
           "(bound %.1e), %.2e of the unquantized (bound %.0e), unwritten "
           "%zu %s\n", path_name[k], name, c->T, n1, b1, n2, b2, nan,
           ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}


static int
check(int act, unsigned bits, uint32_t heads, uint32_t kv_heads,
    uint32_t hd, uint32_t window, uint32_t bs, std::vector<seqs> list,
    const char *what)
{
    struct kcase         c;
    std::vector<double>  deq, raw;
    char                 name[128];
    int                  fails = 0;

    c.act = act;
    c.bits = bits;
    c.heads = heads;
    c.kv_heads = kv_heads;
    c.hd = hd;
    c.window = window;
    c.bs = bs;
    c.list = list;
    setup(&c);
    snprintf(name, sizeof(name), "%s int%u %s hd%u G%u bs%u w%u", what,
             bits, act == 0 ? "f16" : "bf16", hd, heads / kv_heads, bs,
             window);
    if (kv_cuda_write(&c.wa, bits, c.dqkv, NULL, c.dq) != 0) {
        printf("write    %-40s refused: FAIL\n", name);
        teardown(&c);
        return 1;
    }
    CK(cudaDeviceSynchronize());
    c.cache.resize(c.block_bytes * c.n_blocks);
    CK(cudaMemcpy(c.cache.data(), c.dcache, c.cache.size(),
                  cudaMemcpyDeviceToHost));
    fails += check_write(&c, name);
    reference(&c, true, deq);
    reference(&c, false, raw);
    gather_q(&c);
    if (hd == 64 || hd == 128) {
        fails += compare(&c, A_TC, deq, raw, name);
        fails += compare(&c, A_TC1, deq, raw, name);
    }
    fails += compare(&c, A_GENERIC, deq, raw, name);
    teardown(&c);
    return fails;
}


/* ------------------------------------------------------------- timing */

static double
time_us(int (*fn)(void *), void *arg)
{
    cudaEvent_t          e0, e1;
    std::vector<double>  t;
    float                ms;

    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    if (fn(arg) != 0) {
        return -1;
    }
    for (int r = 0; r < 7; r++) {
        CK(cudaEventRecord(e0));
        for (int i = 0; i < 20; i++) {
            fn(arg);
        }
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        CK(cudaEventElapsedTime(&ms, e0, e1));
        t.push_back(ms * 1e3 / 20);
    }
    CK(cudaGetLastError());
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    std::sort(t.begin(), t.end());
    return t[3];
}


struct tdec {
    struct lmd_kv_cuda_args  a;
    unsigned                 bits;      /* 16: the act cache */
    struct cuda_kv           kv;
    struct cuda_step         st;
    struct cuda_dims         d;
    void                    *q, *out, *work;
};


static int
tdec_run(void *arg)
{
    struct tdec  *t = (struct tdec *) arg;

    if (t->bits == 16) {
        return cuda_attention(0, t->q, &t->kv, 0, &t->st, &t->d, t->out,
                              t->work, 0);
    }
    return kv_cuda_attention_tc(&t->a, t->bits, t->q, t->out, t->work);
}


/* One step's attention, heads x 128, block 64: b sequences of ctx
 * positions, the last `fresh` of them new (1: a decode step).  Decode
 * steps are timed against their floor, the KV bytes over the copy
 * bandwidth bw; prompt steps against PEAK_TFLOPS. */
#define PEAK_TFLOPS     784.0

static void
time_step(uint32_t heads, uint32_t b, uint32_t ctx, uint32_t fresh,
    double bw)
{
    static const unsigned  widths[] = { 16, 8, 4 };
    uint32_t               nb = (ctx + 63) / 64, i, j, T = b * fresh;
    std::vector<uint32_t>  ints;
    uint32_t              *dints;
    double                 us16 = 0, flops = 0;

    /* tok_seq, tok_pos, seq_start, seq_ctx, table */
    for (i = 0; i < T; i++) ints.push_back(i / fresh);
    for (i = 0; i < T; i++) ints.push_back(ctx - fresh + i % fresh);
    for (i = 0; i <= b; i++) ints.push_back(i * fresh);
    for (i = 0; i < b; i++) ints.push_back(ctx);
    for (i = 0; i < b; i++) {
        for (j = 0; j < nb; j++) {
            ints.push_back(i * nb + j);
        }
    }
    for (j = 0; j < fresh; j++) {
        flops += 4.0 * 128 * (ctx - fresh + j + 1);
    }
    flops *= (double) b * heads;
    CK(cudaMalloc(&dints, ints.size() * 4));
    CK(cudaMemcpy(dints, ints.data(), ints.size() * 4,
                  cudaMemcpyHostToDevice));

    for (unsigned w : widths) {
        struct tdec  t;
        size_t       run = w == 16 ? (size_t) 64 * 128 * 2
                           : kv_cuda_run_bytes(64, 128, w);
        size_t       block = (size_t) 2 * heads * run;
        double       bytes = (double) b * nb * block, us, fl;
        void        *cache;

        memset(&t, 0, sizeof(t));
        t.bits = w;
        CK(cudaMalloc(&cache, block * b * nb));
        CK(cudaMemset(cache, 0, block * b * nb));
        CK(cudaMalloc(&t.q, (size_t) T * heads * 128 * 2));
        CK(cudaMemset(t.q, 0, (size_t) T * heads * 128 * 2));
        CK(cudaMalloc(&t.out, (size_t) T * heads * 128 * 2));
        CK(cudaMalloc(&t.work, kv_cuda_work_bytes(T, b, 128)));
        t.d.n_heads = t.d.n_kv_heads = heads;
        t.d.head_dim = 128;
        t.d.q_dim = t.d.kv_dim = heads * 128;
        t.d.att_scale = 0.0883883f;
        t.kv.data = cache;
        t.kv.block_size = 64;
        t.kv.n_blocks = b * nb;
        t.kv.layer_stride = (uint64_t) 2 * heads * 64 * 128;
        t.kv.block_stride = t.kv.layer_stride;
        t.st.n_tokens = T;
        t.st.n_seqs = b;
        t.st.max_seq_tokens = fresh;
        t.st.max_ctx = ctx;
        t.st.max_blocks = nb;
        t.st.decode = fresh == 1;
        t.st.tok_seq = dints;
        t.st.tok_pos = dints + T;
        t.st.seq_start = dints + 2 * T;
        t.st.seq_ctx = dints + 2 * T + b + 1;
        t.st.block_table = dints + 2 * T + 2 * b + 1;
        t.a.act = 0;
        t.a.n_heads = t.a.n_kv_heads = heads;
        t.a.head_dim = 128;
        t.a.att_scale = t.d.att_scale;
        t.a.cache = cache;
        t.a.block_bytes = block;
        t.a.run_bytes = run;
        t.a.n_blocks = b * nb;
        t.a.block_size = 64;
        t.a.n_tokens = T;
        t.a.n_seqs = b;
        t.a.max_seq_tokens = fresh;
        t.a.max_ctx = ctx;
        t.a.max_blocks = nb;
        t.a.decode = fresh == 1;
        t.a.tok_seq = t.st.tok_seq;
        t.a.tok_pos = t.st.tok_pos;
        t.a.seq_start = t.st.seq_start;
        t.a.seq_ctx = t.st.seq_ctx;
        t.a.block_table = t.st.block_table;
        us = time_us(tdec_run, &t);
        if (w == 16) {
            us16 = us;
        }
        if (fresh == 1) {
            fl = bytes / bw / 1e3;
            printf("time decode %2u heads batch %3u ctx %5u KV %-4s: "
                   "%8.1f us, floor %7.1f us (%.3f of it), %.2fx the "
                   "16-bit cache's speed\n", heads, b, ctx,
                   w == 16 ? "f16" : w == 8 ? "int8" : "int4", us, fl,
                   fl / us, us16 / us);
        } else {
            printf("time prompt %2u heads %3u x (%4u cached + %4u new) KV "
                   "%-4s: %8.1f us = %6.1f TFLOP/s (%.3f of %.0f), %.2fx "
                   "the 16-bit cache's speed\n", heads, b, ctx - fresh,
                   fresh, w == 16 ? "f16" : w == 8 ? "int8" : "int4", us,
                   flops / us / 1e6, flops / us / 1e6 / PEAK_TFLOPS,
                   PEAK_TFLOPS, us16 / us);
        }
        CK(cudaFree(cache));
        CK(cudaFree(t.q));
        CK(cudaFree(t.out));
        CK(cudaFree(t.work));
    }
    CK(cudaFree(dints));
}


int
main(int argc, char **argv)
{
    int       fails = 0, act;
    unsigned  bits;

    if (argc > 1 && strcmp(argv[1], "-t") == 0) {
        /* one timing, nothing else (for a profiler) */
        time_step(32, 64, 4096, 1, copy_gbs());
        return 0;
    }
    for (act = 0; act < 2; act++) {
        for (bits = 8; bits >= 4; bits -= 4) {
            fails += check(act, bits, 8, 8, 128, 0, 16,
                           { { 1, 1 }, { 37, 37 }, { 69, 64 }, { 230, 130 },
                             { 128, 64 } }, "prompts");
            fails += check(act, bits, 16, 4, 64, 0, 64,
                           { { 150, 150 }, { 78, 1 }, { 265, 65 },
                             { 2, 2 } }, "GQA mixed");
            fails += check(act, bits, 8, 1, 128, 0, 256,
                           { { 270, 20 }, { 512, 1 } }, "G8 bs256");
            fails += check(act, bits, 4, 2, 128, 50, 32,
                           { { 210, 90 }, { 301, 1 } }, "window");
            fails += check(act, bits, 8, 4, 128, 0, 16,
                           { { 1, 1 }, { 41, 1 }, { 701, 1 }, { 129, 1 } },
                           "decode");
            fails += check(act, bits, 16, 4, 64, 0, 64,
                           { { 1, 1 }, { 300, 1 }, { 64, 1 } }, "decode");
            fails += check(act, bits, 8, 8, 8, 0, 16,
                           { { 60, 60 }, { 33, 1 } }, "hd8 (stories)");
            fails += check(act, bits, 6, 2, 96, 0, 64,
                           { { 100, 40 }, { 70, 1 } }, "hd96");
        }
    }
    printf("checks: %d failed\n", fails);
    if (argc > 1 && strcmp(argv[1], "-c") == 0) {
        return fails != 0;
    }
    double  bw = copy_gbs();
    printf("copy %.0f GB/s\n", bw);
    time_step(32, 1, 4096, 1, bw);
    time_step(32, 64, 4096, 1, bw);
    time_step(32, 64, 1024, 1, bw);
    time_step(32, 4, 2048, 512, bw);    /* long cached prefixes */
    time_step(32, 32, 256, 256, bw);    /* one 8192-token chunk */
    return fails != 0;
}
