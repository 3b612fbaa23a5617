// sources: modules/cuda-awq/cuda_attention.cu
// sources: modules/cuda-awq/cuda_attn_decode.cu
// sources: modules/cuda-awq/cuda_attn_generic.cu
// sources: engine/lmd_dtype.c
/*
 * attention_check.cu -- paged attention (cuda_attention: the tensor-core
 * kernel; cuda_attention_decode; cuda_attention_generic) against
 * a float64 reference, and their time against their floors.
 *
 * Checks: cuda_attention with its work buffer (the key range split in
 * parts where the grid is small) and without one (never split), f16 and
 * bf16, head_dim 64 and 128, query heads per KV head 1, 2, 4 and 8,
 * block sizes 16, 64 and 256 with block tables in a shuffled order (the
 * blocks of one sequence are scattered over the pool), layer 1 of 2
 * (the layer stride), sequences with and without a cached prefix,
 * prompt chunks shorter and longer than a 64-row tile, one-token
 * sequences mixed with prompt chunks, a sliding window shorter than the
 * chunk, decode steps.  Inputs are fresh random 16-bit values; q is
 * scaled so that the softmax is far from flat.  Outputs are poisoned
 * with NaN before each launch; every output is compared with float64
 * attention over the same 16-bit inputs: relative L2 within 2e-3 (f16)
 * or 1e-2 (bf16) -- one rounding of the output plus the 16-bit rounding
 * of the softmax weights -- and no element off by more than 8 times
 * that bound relative to the output's RMS.  Unsupported head dims are
 * refused (-1) without a launch error.
 *
 * Timing (without -c): per launch, median of 7 runs of 20 launches
 * after a warm-up.  Prefill: attention FLOPs (4 * head_dim per query
 * head and attended position) over 784 TFLOP/s (the issue's bf16 GEMM
 * peak of an H200).  Decode: the bytes of the keys and values read
 * over the copy bandwidth measured here; the cache is larger than L2.
 */

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda_kernels.h"
#define GPU_RNG_SEED    0x2545f4914f6cdd1dull
#include "gpu_check.h"

#define PEAK_TFLOPS     784.0
#define N_LAYERS        2
#define LAYER           1

/* One attention problem: the shapes, its sequences (cached prefix and
 * new tokens each), and everything on the host and the device. */
struct problem {
    int                      act;
    struct cuda_dims         d;
    uint32_t                 bs;
    std::vector<uint32_t>    cached, fresh;

    /* derived */
    uint32_t                 T, S, max_blocks, n_blocks;
    struct cuda_kv           kv;
    struct cuda_step         st;
    std::vector<uint32_t>    tok_seq, tok_pos, seq_start, seq_ctx, table;
    std::vector<uint16_t>    q, cache;

    /* device */
    void                    *dq, *dcache, *dout, *dwork, *dfwork;
    uint32_t                *dints;
};


static void
dims(struct cuda_dims *d, uint32_t heads, uint32_t kv_heads, uint32_t hd,
     uint32_t window)
{
    memset(d, 0, sizeof(*d));
    d->n_heads = heads;
    d->n_kv_heads = kv_heads;
    d->head_dim = hd;
    d->q_dim = heads * hd;
    d->kv_dim = kv_heads * hd;
    d->qkv_dim = d->q_dim + 2 * d->kv_dim;
    d->hidden = d->q_dim;
    d->window = window;
    d->att_scale = (float) (1.0 / sqrt((double) hd));
}


/* Builds the host arrays and uploads them.  fill: random contents (the
 * timing runs leave the cache as cudaMalloc gives it, zeroed). */
static void
setup(struct problem *p, bool fill)
{
    struct cuda_dims  *d = &p->d;
    uint32_t           i, j, n, ctx, used = 0;
    size_t             ints, elems;
    std::vector<uint32_t>  perm;
    uint32_t          *o;

    p->S = (uint32_t) p->fresh.size();
    p->T = 0;
    p->max_blocks = 1;
    p->seq_start.assign(1, 0);
    p->tok_seq.clear();
    p->tok_pos.clear();
    p->seq_ctx.clear();
    for (i = 0; i < p->S; i++) {
        ctx = p->cached[i] + p->fresh[i];
        p->seq_ctx.push_back(ctx);
        for (j = 0; j < p->fresh[i]; j++) {
            p->tok_seq.push_back(i);
            p->tok_pos.push_back(p->cached[i] + j);
        }
        p->T += p->fresh[i];
        p->seq_start.push_back(p->T);
        n = (ctx + p->bs - 1) / p->bs;
        p->max_blocks = std::max(p->max_blocks, n);
        used += n;
    }
    /* Every sequence's blocks are distinct pool blocks in a random order,
     * with spare blocks in between. */
    p->n_blocks = used + used / 3 + 1;
    perm.resize(p->n_blocks);
    for (i = 0; i < p->n_blocks; i++) {
        perm[i] = i;
    }
    for (i = p->n_blocks - 1; i > 0; i--) {
        std::swap(perm[i], perm[gpu_irand(i + 1)]);
    }
    p->table.assign((size_t) p->S * p->max_blocks, 0xffffffffu);
    for (i = 0, used = 0; i < p->S; i++) {
        n = (p->seq_ctx[i] + p->bs - 1) / p->bs;
        for (j = 0; j < n; j++) {
            p->table[(size_t) i * p->max_blocks + j] = perm[used++];
        }
    }

    p->kv.block_size = p->bs;
    p->kv.n_blocks = p->n_blocks;
    p->kv.layer_stride = 2ull * d->n_kv_heads * p->bs * d->head_dim;
    p->kv.block_stride = N_LAYERS * p->kv.layer_stride;
    elems = (size_t) p->n_blocks * p->kv.block_stride;
    p->q.resize((size_t) p->T * d->q_dim);
    if (fill) {
        p->cache.resize(elems);
        for (size_t e = 0; e < elems; e++) {
            p->cache[e] = to16(p->act, (float) gpu_urand());
        }
        /* |q . k| * scale reaches ~10 with this spread */
        for (size_t e = 0; e < p->q.size(); e++) {
            p->q[e] = to16(p->act, (float) (gpu_urand() * 3.0));
        }
    }

    CK(cudaMalloc(&p->dq, p->q.size() * 2));
    CK(cudaMalloc(&p->dout, p->q.size() * 2));
    CK(cudaMalloc(&p->dcache, elems * 2));
    if (fill) {
        CK(cudaMemcpy(p->dq, p->q.data(), p->q.size() * 2,
                      cudaMemcpyHostToDevice));
        CK(cudaMemcpy(p->dcache, p->cache.data(), elems * 2,
                      cudaMemcpyHostToDevice));
    } else {
        CK(cudaMemset(p->dq, 0x3c, p->q.size() * 2));
        CK(cudaMemset(p->dcache, 0x3c, elems * 2));
    }
    p->kv.data = p->dcache;

    ints = p->T * 2 + (p->S + 1) + p->S + p->table.size();
    CK(cudaMalloc(&p->dints, ints * 4));
    std::vector<uint32_t>  all;
    all.insert(all.end(), p->tok_seq.begin(), p->tok_seq.end());
    all.insert(all.end(), p->tok_pos.begin(), p->tok_pos.end());
    all.insert(all.end(), p->seq_start.begin(), p->seq_start.end());
    all.insert(all.end(), p->seq_ctx.begin(), p->seq_ctx.end());
    all.insert(all.end(), p->table.begin(), p->table.end());
    CK(cudaMemcpy(p->dints, all.data(), ints * 4, cudaMemcpyHostToDevice));
    o = p->dints;
    memset(&p->st, 0, sizeof(p->st));
    p->st.n_tokens = p->T;
    p->st.n_seqs = p->S;
    p->st.max_blocks = p->max_blocks;
    p->st.max_seq_tokens = 0;
    p->st.max_ctx = 0;
    for (i = 0; i < p->S; i++) {
        p->st.max_seq_tokens = std::max(p->st.max_seq_tokens, p->fresh[i]);
        p->st.max_ctx = std::max(p->st.max_ctx, p->seq_ctx[i]);
    }
    p->st.decode = p->st.max_seq_tokens == 1;
    p->st.tok_seq = o;
    p->st.tok_pos = o + p->T;
    p->st.seq_start = o + 2 * p->T;
    p->st.seq_ctx = o + 2 * p->T + p->S + 1;
    p->st.block_table = o + 2 * p->T + p->S + 1 + p->S;
    CK(cudaMalloc(&p->dwork, std::max<size_t>(
        cuda_attention_decode_work_bytes(p->S, d), 16)));
    CK(cudaMalloc(&p->dfwork, cuda_attention_work_bytes(p->T, p->S, d)));
}


static void
teardown(struct problem *p)
{
    CK(cudaFree(p->dq));
    CK(cudaFree(p->dout));
    CK(cudaFree(p->dcache));
    CK(cudaFree(p->dints));
    CK(cudaFree(p->dwork));
    CK(cudaFree(p->dfwork));
}


/* The float64 reference for every token and head. */
static void
reference(const struct problem *p, std::vector<double> &out)
{
    const struct cuda_dims  *d = &p->d;
    uint32_t                 hd = d->head_dim, G = d->n_heads / d->n_kv_heads;
    std::vector<double>      sc, qd(hd);

    out.assign((size_t) p->T * d->q_dim, 0.0);
    for (uint32_t t = 0; t < p->T; t++) {
        uint32_t  seq = p->tok_seq[t], pos = p->tok_pos[t];
        uint32_t  lo = d->window > 0 && pos + 1 > d->window
                       ? pos + 1 - d->window : 0;

        for (uint32_t h = 0; h < d->n_heads; h++) {
            double  mx = -INFINITY, sum = 0.0;
            size_t  head = (size_t) LAYER * p->kv.layer_stride
                           + (size_t) (h / G) * p->bs * hd;

            for (uint32_t i = 0; i < hd; i++) {
                qd[i] = from16(p->act, p->q[((size_t) t * d->n_heads + h)
                                            * hd + i]);
            }
            sc.assign(pos + 1 - lo, 0.0);
            for (uint32_t k = lo; k <= pos; k++) {
                size_t  r = (size_t) p->table[(size_t) seq * p->max_blocks
                                              + k / p->bs]
                            * p->kv.block_stride + head
                            + (size_t) (k % p->bs) * hd;
                double  s = 0.0;

                for (uint32_t i = 0; i < hd; i++) {
                    s += qd[i] * from16(p->act, p->cache[r + i]);
                }
                s *= 1.0 / sqrt((double) hd);
                sc[k - lo] = s;
                mx = std::max(mx, s);
            }
            for (uint32_t k = lo; k <= pos; k++) {
                sc[k - lo] = exp(sc[k - lo] - mx);
                sum += sc[k - lo];
            }
            double  *o = &out[((size_t) t * d->n_heads + h) * hd];
            for (uint32_t k = lo; k <= pos; k++) {
                size_t  r = (size_t) p->table[(size_t) seq * p->max_blocks
                                              + k / p->bs]
                            * p->kv.block_stride + head
                            + (size_t) d->n_kv_heads * p->bs * hd
                            + (size_t) (k % p->bs) * hd;
                double  w = sc[k - lo] / sum;

                for (uint32_t i = 0; i < hd; i++) {
                    o[i] += w * from16(p->act, p->cache[r + i]);
                }
            }
        }
    }
}


/* K_FLASH: cuda_attention as the engine calls it (with its work buffer:
 * the key range may be split in parts); K_FLASH1: without one (never
 * split). */
enum which { K_FLASH, K_FLASH1, K_DECODE, K_GENERIC };
static const char *const  which_name[] = {
    "flash", "flash/1", "decode", "generic"
};


static int
launch(struct problem *p, enum which k, cudaStream_t s)
{
    switch (k) {
    case K_FLASH:
        return cuda_attention(p->act, p->dq, &p->kv, LAYER, &p->st, &p->d,
                              p->dout, p->dfwork, s);
    case K_FLASH1:
        return cuda_attention(p->act, p->dq, &p->kv, LAYER, &p->st, &p->d,
                              p->dout, NULL, s);
    case K_DECODE:
        return cuda_attention_decode(p->act, p->dq, &p->kv, LAYER, &p->st,
                                     &p->d, p->dout, p->dwork, s);
    default:
        return cuda_attention_generic(p->act, p->dq, &p->kv, LAYER, &p->st,
                                      &p->d, p->dout, s);
    }
}


static int
compare(struct problem *p, enum which k, const std::vector<double> &ref,
        const char *name)
{
    std::vector<uint16_t>  got(ref.size());
    double                 num = 0, den = 0, worst = 0, bound, rms;
    size_t                 bad = 0;

    CK(cudaMemset(p->dout, 0xff, got.size() * 2));    /* NaN */
    if (launch(p, k, 0) != 0) {
        printf("%-8s %-44s refused (%s)\n", which_name[k], name,
               cudaGetErrorString(cudaGetLastError()));
        return 1;
    }
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(got.data(), p->dout, got.size() * 2,
                  cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < ref.size(); i++) {
        double  v = from16(p->act, got[i]), e = v - ref[i];

        if (!std::isfinite(v)) {
            bad++;
            continue;
        }
        num += e * e;
        den += ref[i] * ref[i];
        worst = std::max(worst, fabs(e));
    }
    bound = p->act == CUDA_ACT_F16 ? 2e-3 : 1e-2;
    rms = sqrt(den / (double) ref.size());
    num = sqrt(num / den);
    bool ok = bad == 0 && num <= bound && worst <= 8 * bound * rms;
    printf("%-8s %-44s T %4u: rel L2 %.2e (bound %.0e), max |err| %.2e "
           "(rms %.3f), unwritten %zu %s\n", which_name[k], name, p->T, num,
           bound, worst, rms, bad, ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}


struct seqs { uint32_t cached, fresh; };


static int
check(int act, uint32_t heads, uint32_t kv_heads, uint32_t hd,
      uint32_t window, uint32_t bs, std::vector<seqs> list, const char *what)
{
    struct problem       p;
    std::vector<double>  ref;
    char                 name[128];
    int                  fails = 0;

    p.act = act;
    dims(&p.d, heads, kv_heads, hd, window);
    p.bs = bs;
    for (auto &q : list) {
        p.cached.push_back(q.cached);
        p.fresh.push_back(q.fresh);
    }
    setup(&p, true);
    reference(&p, ref);
    snprintf(name, sizeof(name), "%s %s hd%u G%u bs%u w%u", what,
             act == CUDA_ACT_F16 ? "f16" : "bf16", hd, heads / kv_heads,
             bs, window);
    fails += compare(&p, K_FLASH, ref, name);
    fails += compare(&p, K_FLASH1, ref, name);
    fails += compare(&p, K_GENERIC, ref, name);
    if (p.st.decode && heads / kv_heads <= 8) {
        fails += compare(&p, K_DECODE, ref, name);
    }
    teardown(&p);
    return fails;
}


static int
check_refusals(void)
{
    struct problem  p;
    int             fails = 0;

    p.act = CUDA_ACT_F16;
    dims(&p.d, 4, 4, 96, 0);
    p.bs = 16;
    p.cached = { 3 };
    p.fresh = { 20 };
    setup(&p, true);
    if (cuda_attention(p.act, p.dq, &p.kv, LAYER, &p.st, &p.d, p.dout,
                       NULL, 0) != -1
        || cudaPeekAtLastError() != cudaSuccess)
    {
        printf("flash    refuses head_dim 96 without a launch: FAIL\n");
        fails++;
    } else {
        printf("flash    refuses head_dim 96 without a launch: ok\n");
    }
    p.d.head_dim = 128;
    if (cuda_attention(7, p.dq, &p.kv, LAYER, &p.st, &p.d, p.dout, NULL,
                       0) != -1)
    {
        printf("flash    refuses an unknown act type: FAIL\n");
        fails++;
    } else {
        printf("flash    refuses an unknown act type: ok\n");
    }
    p.d.head_dim = 96;
    teardown(&p);
    return fails;
}


/* ------------------------------------------------------------- timing */

static double
time_us(struct problem *p, enum which k)
{
    cudaEvent_t          e0, e1;
    std::vector<double>  t;
    float                ms;

    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    if (launch(p, k, 0) != 0) {
        return -1;
    }
    for (int r = 0; r < 7; r++) {
        CK(cudaEventRecord(e0));
        for (int i = 0; i < 20; i++) {
            launch(p, k, 0);
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


static void
time_prefill(uint32_t heads, uint32_t kv_heads, uint32_t n_seqs,
             uint32_t cached, uint32_t fresh)
{
    struct problem  p;
    double          flops = 0, us_f, us_g;

    p.act = CUDA_ACT_F16;
    dims(&p.d, heads, kv_heads, 128, 0);
    p.bs = 64;
    for (uint32_t i = 0; i < n_seqs; i++) {
        p.cached.push_back(cached);
        p.fresh.push_back(fresh);
    }
    setup(&p, false);
    for (uint32_t j = 0; j < fresh; j++) {
        flops += 4.0 * 128 * (cached + j + 1);
    }
    flops *= (double) n_seqs * heads;
    us_f = time_us(&p, K_FLASH);
    us_g = n_seqs * fresh <= 8192 ? time_us(&p, K_GENERIC) : 0;
    printf("time prefill heads %2u/%2u %3u seqs x (%4u cached + %4u new): "
           "flash %8.1f us = %6.1f TFLOP/s (%.3f of %.0f); generic %8.1f "
           "us\n", heads, kv_heads, n_seqs, cached, fresh, us_f,
           flops / us_f / 1e6, flops / us_f / 1e6 / PEAK_TFLOPS,
           PEAK_TFLOPS, us_g);
    teardown(&p);
}


static void
time_decode(uint32_t heads, uint32_t kv_heads, uint32_t n_seqs,
            uint32_t ctx, double bw)
{
    struct problem  p;
    double          bytes, us_d, us_f;

    p.act = CUDA_ACT_F16;
    dims(&p.d, heads, kv_heads, 128, 0);
    p.bs = 64;
    for (uint32_t i = 0; i < n_seqs; i++) {
        p.cached.push_back(ctx - 1);
        p.fresh.push_back(1);
    }
    setup(&p, false);
    bytes = (double) n_seqs * ctx * kv_heads * 128 * 2 * 2;
    double  fl = bytes / bw / 1e3, us_1;

    us_d = time_us(&p, K_DECODE);
    us_f = time_us(&p, K_FLASH);
    us_1 = time_us(&p, K_FLASH1);
    printf("time decode heads %2u/%2u batch %3u ctx %5u: floor %6.1f us; "
           "flash %7.1f us (%.3f of it), unsplit %7.1f (%.3f), decode "
           "kernel %7.1f (%.3f)\n", heads, kv_heads, n_seqs, ctx, fl, us_f,
           fl / us_f, us_1, fl / us_1, us_d, fl / us_d);
    teardown(&p);
}


int
main(int argc, char **argv)
{
    int     fails = 0, act;
    double  bw;

    for (act = 0; act < 2; act++) {
        fails += check(act, 8, 8, 128, 0, 16,
                       { { 0, 1 }, { 0, 37 }, { 5, 64 }, { 100, 130 },
                         { 64, 64 }, { 3, 200 } }, "prompts");
        fails += check(act, 16, 4, 64, 0, 64,
                       { { 0, 150 }, { 77, 1 }, { 200, 65 }, { 0, 2 } },
                       "GQA mixed");
        fails += check(act, 8, 1, 128, 0, 256,
                       { { 250, 20 }, { 511, 1 }, { 0, 300 } }, "G8 bs256");
        fails += check(act, 4, 2, 128, 50, 32,
                       { { 120, 90 }, { 0, 70 }, { 300, 1 } }, "window");
        fails += check(act, 8, 4, 128, 0, 16,
                       { { 0, 1 }, { 40, 1 }, { 700, 1 }, { 128, 1 },
                         { 63, 1 } }, "decode");
        fails += check(act, 16, 2, 64, 0, 64,
                       { { 1000, 1 }, { 3, 1 }, { 64, 1 } }, "decode");
    }
    fails += check_refusals();
    printf("checks: %d failed\n", fails);
    if (argc > 1 && strcmp(argv[1], "-c") == 0) {
        return fails != 0;
    }
    bw = copy_gbs();
    printf("copy %.0f GB/s\n", bw);
    time_prefill(32, 32, 32, 0, 256);       /* llama-2-7b, one 8192 chunk */
    time_prefill(32, 8, 32, 0, 256);        /* GQA 4 */
    time_prefill(32, 32, 4, 1536, 512);     /* long cached prefixes */
    time_prefill(28, 4, 8, 0, 1024);        /* qwen2.5-7b */
    time_decode(32, 32, 1, 4096, bw);
    time_decode(32, 32, 16, 1024, bw);
    time_decode(32, 32, 64, 512, bw);
    time_decode(32, 32, 256, 384, bw);
    time_decode(28, 4, 256, 384, bw);
    time_decode(32, 8, 128, 2048, bw);
    return fails != 0;
}
