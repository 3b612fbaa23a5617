/*
 * lmd_model_dummy.c -- the "dummy" load_format: seeded random weights of
 * a config's shapes, for benchmarks of models whose weights are not here.
 *
 * Norms are all 1.  Matrices are uniform on [-a, a] with a = sqrt(3/cols),
 * a variance of 1/cols, so activations keep their scale from layer to
 * layer as in a trained model.  Biases are uniform on [-0.02, 0.02].
 *
 * Design: every tensor is cut into chunks of LMD_DUMMY_CHUNK elements and
 * each chunk draws from its own splitmix64 stream, seeded from (seed,
 * tensor number, chunk number).  Threads take chunks off one atomic
 * counter, so the values depend on the seed alone, never on the number
 * of threads or their timing.  One 64-bit draw gives four 16-bit values
 * for f16/bf16 (their mantissas hold fewer bits anyway), each looked up
 * in a 65536-entry table of converted values per scale, or two 32-bit
 * ones for f32: a 1.1B-parameter model costs about a second of CPU.
 *
 * AWQ linears: qweight is random 32-bit words (8 uniform nibbles), every
 * zero is 8 (the middle of 0..15, so the matrix has mean zero) and the
 * f16 scales are uniform on [s/2, 3s/2] with s = sqrt(1/(21.5 in)):
 * (q - 8) has a mean square of 21.5, so the variance stays near 1/in.
 */

#include "lmd_model_weights.h"
#include "lmd_common.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LMD_DUMMY_CHUNK     (1u << 18)
#define LMD_DUMMY_THREADS   32
#define LMD_DUMMY_BIAS      0.02f
/* Distinct (dtype, scale) pairs given a lookup table; a model has about
 * five (hidden, intermediate and head widths, biases). */
#define LMD_DUMMY_TABLES    16
/* The mean square of q - 8 for q uniform on 0..15. */
#define LMD_DUMMY_AWQ_MS    21.5
/* Every packed zero point: eight nibbles of 8. */
#define LMD_DUMMY_AWQ_ZERO  0x88888888u

struct lmd_dummy_job {
    void           *data;           /* writable: the loader's arena */
    int             dtype;
    uint64_t        count;          /* elements */
    float           scale;          /* half-width; 0: all ones (I32:
                                       all LMD_DUMMY_AWQ_ZERO) */
    float           offset;         /* added to every value (AWQ
                                       scales); 0 otherwise */
    uint64_t        id;             /* the tensor's number */
    uint64_t        first;          /* its first chunk's number overall */
    const uint16_t *table;          /* f16/bf16: the 65536 values of a
                                       16-bit draw, or NULL */
};

struct lmd_dummy_run {
    struct lmd_dummy_job   *jobs;
    size_t                  njobs;
    uint64_t                nchunks;
    uint64_t                seed;
    atomic_uint_fast64_t    next;
    uint16_t               *tables[LMD_DUMMY_TABLES];
    float                   table_scale[LMD_DUMMY_TABLES];
    int                     table_dtype[LMD_DUMMY_TABLES];
    size_t                  ntables;
};


/* splitmix64's output function: a good 64-bit mix. */
static inline uint64_t
lmd_dummy_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}


static inline uint64_t
lmd_dummy_next(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    return lmd_dummy_mix(*s);
}


/* Fills elements [from, to) of job j from the stream of chunk c. */
static void
lmd_dummy_chunk(const struct lmd_dummy_run *run,
    const struct lmd_dummy_job *j, uint64_t c, uint64_t from, uint64_t to)
{
    uint64_t   s, r, i;
    uint16_t  *h = (uint16_t *) j->data;
    uint16_t   one;
    float     *f = (float *) j->data;
    float      k;
    uint32_t  *u = (uint32_t *) j->data;
    int        b;

    if (j->scale == 0) {
        if (j->dtype == LMD_DTYPE_I32) {
            for (i = from; i < to; i++) {
                u[i] = LMD_DUMMY_AWQ_ZERO;
            }
        } else if (j->dtype == LMD_DTYPE_F32) {
            for (i = from; i < to; i++) {
                f[i] = 1.0f;
            }
        } else {
            one = j->dtype == LMD_DTYPE_F16 ? 0x3c00 : 0x3f80;
            for (i = from; i < to; i++) {
                h[i] = one;
            }
        }
        return;
    }

    s = lmd_dummy_mix(run->seed ^ lmd_dummy_mix(j->id * 0x100000001b3ull
                                                + 0x632be59bd9b4e019ull))
        ^ lmd_dummy_mix(c + 0xd1b54a32d192ed03ull);
    i = from;
    if (j->dtype == LMD_DTYPE_I32) {
        /* Packed AWQ weights: any word is eight valid nibbles. */
        while (i < to) {
            r = lmd_dummy_next(&s);
            for (b = 0; b < 2 && i < to; b++, i++, r >>= 32) {
                u[i] = (uint32_t) r;
            }
        }
    } else if (j->table != NULL) {
        /* A 16-bit draw indexes its converted value: f16 conversion is
         * branchy, and this is the bulk of a model. */
        while (i < to) {
            r = lmd_dummy_next(&s);
            for (b = 0; b < 4 && i < to; b++, i++, r >>= 16) {
                h[i] = j->table[(uint16_t) r];
            }
        }
    } else if (j->dtype == LMD_DTYPE_F32) {
        k = j->scale / 2147483648.0f;
        while (i < to) {
            r = lmd_dummy_next(&s);
            for (b = 0; b < 2 && i < to; b++, i++, r >>= 32) {
                f[i] = (float) (int32_t) (uint32_t) r * k + j->offset;
            }
        }
    } else if (j->dtype == LMD_DTYPE_BF16) {
        k = j->scale / 32768.0f;
        while (i < to) {
            r = lmd_dummy_next(&s);
            for (b = 0; b < 4 && i < to; b++, i++, r >>= 16) {
                h[i] = lmd_f32_to_bf16((float) (int16_t) (uint16_t) r * k
                                       + j->offset);
            }
        }
    } else {
        k = j->scale / 32768.0f;
        while (i < to) {
            r = lmd_dummy_next(&s);
            for (b = 0; b < 4 && i < to; b++, i++, r >>= 16) {
                h[i] = lmd_f32_to_f16((float) (int16_t) (uint16_t) r * k
                                      + j->offset);
            }
        }
    }
}


static void *
lmd_dummy_worker(void *arg)
{
    struct lmd_dummy_run        *run = arg;
    const struct lmd_dummy_job  *j;
    uint64_t                     c, from, to;
    size_t                       lo, hi, mid;

    for ( ;; ) {
        c = atomic_fetch_add(&run->next, 1);
        if (c >= run->nchunks) {
            break;
        }
        /* The last job whose first chunk is at or before c. */
        lo = 0;
        hi = run->njobs;
        while (hi - lo > 1) {
            mid = lo + (hi - lo) / 2;
            if (run->jobs[mid].first <= c) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        j = &run->jobs[lo];
        from = (c - j->first) * LMD_DUMMY_CHUNK;
        to = from + LMD_DUMMY_CHUNK < j->count ? from + LMD_DUMMY_CHUNK
                                               : j->count;
        lmd_dummy_chunk(run, j, c - j->first, from, to);
    }
    return NULL;
}


/* Adds one tensor to the jobs (NULL jobs: only counts). */
static void
lmd_dummy_add_raw(struct lmd_dummy_job *jobs, size_t *n, uint64_t *chunks,
    const void *data, int dtype, uint64_t count, float scale, float offset)
{
    struct lmd_dummy_job  *j;

    if (jobs != NULL) {
        j = &jobs[*n];
        j->data = (void *) data;
        j->dtype = dtype;
        j->count = count;
        j->scale = scale;
        j->offset = offset;
        j->id = *n;
        j->first = *chunks;
    }
    (*n)++;
    *chunks += (count + LMD_DUMMY_CHUNK - 1) / LMD_DUMMY_CHUNK;
}


/* An AWQ linear's qweight, qzeros and scales. */
static void
lmd_dummy_add_awq(struct lmd_dummy_job *jobs, size_t *n, uint64_t *chunks,
    const struct lmd_awq_mat *a)
{
    float  s;

    s = (float) sqrt(1.0 / (LMD_DUMMY_AWQ_MS * (double) a->in));
    lmd_dummy_add_raw(jobs, n, chunks, a->qweight, LMD_DTYPE_I32,
                      (uint64_t) a->in * (a->out / 8), 1.0f, 0.0f);
    lmd_dummy_add_raw(jobs, n, chunks, a->qzeros, LMD_DTYPE_I32,
                      (uint64_t) (a->in / a->group) * (a->out / 8), 0.0f,
                      0.0f);
    lmd_dummy_add_raw(jobs, n, chunks, a->scales, LMD_DTYPE_F16,
                      (uint64_t) (a->in / a->group) * a->out, s / 2, s);
}


/* Adds m to the jobs (NULL jobs: only counts). */
static void
lmd_dummy_add(struct lmd_dummy_job *jobs, size_t *n, uint64_t *chunks,
    const struct lmd_wmat *m, int kind)
{
    if (m->data == NULL && m->awq.qweight == NULL) {
        return;
    }
    if (m->dtype == LMD_DTYPE_I32) {
        lmd_dummy_add_awq(jobs, n, chunks, &m->awq);
        return;
    }
    lmd_dummy_add_raw(jobs, n, chunks, m->data, m->dtype,
                      (uint64_t) m->rows * m->cols,
                      kind == 0 ? 0.0f
                      : kind == 1 ? LMD_DUMMY_BIAS
                      : (float) sqrt(3.0 / (double) m->cols), 0.0f);
}


/* Lists every tensor in a fixed order: kind 0 norm, 1 bias, 2 matrix. */
static void
lmd_dummy_jobs(const struct lmd_model_weights *w, struct lmd_dummy_job *jobs,
    size_t *n, uint64_t *chunks)
{
    const struct lmd_layer_weights  *l;
    uint32_t                         i;

    *n = 0;
    *chunks = 0;
    lmd_dummy_add(jobs, n, chunks, &w->embed, 2);
    if (w->lm_head.data != w->embed.data) {
        lmd_dummy_add(jobs, n, chunks, &w->lm_head, 2);
    }
    lmd_dummy_add(jobs, n, chunks, &w->final_norm, 0);
    for (i = 0; i < w->cfg.n_layers; i++) {
        l = &w->layers[i];
        lmd_dummy_add(jobs, n, chunks, &l->attn_norm, 0);
        lmd_dummy_add(jobs, n, chunks, &l->wq, 2);
        lmd_dummy_add(jobs, n, chunks, &l->wk, 2);
        lmd_dummy_add(jobs, n, chunks, &l->wv, 2);
        lmd_dummy_add(jobs, n, chunks, &l->bq, 1);
        lmd_dummy_add(jobs, n, chunks, &l->bk, 1);
        lmd_dummy_add(jobs, n, chunks, &l->bv, 1);
        lmd_dummy_add(jobs, n, chunks, &l->wo, 2);
        lmd_dummy_add(jobs, n, chunks, &l->ffn_norm, 0);
        lmd_dummy_add(jobs, n, chunks, &l->w_gate, 2);
        lmd_dummy_add(jobs, n, chunks, &l->w_up, 2);
        lmd_dummy_add(jobs, n, chunks, &l->w_down, 2);
    }
}


/* The value of every 16-bit draw for a job's dtype and scale. */
static uint16_t *
lmd_dummy_table(int dtype, float scale)
{
    uint16_t  *t;
    uint32_t   u;
    float      k, v;

    t = malloc(65536 * sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    k = scale / 32768.0f;
    for (u = 0; u < 65536; u++) {
        v = (float) (int16_t) (uint16_t) u * k;
        t[u] = dtype == LMD_DTYPE_F16 ? lmd_f32_to_f16(v)
                                      : lmd_f32_to_bf16(v);
    }
    return t;
}


/* Gives each f16/bf16 job a table, shared by the jobs of one scale; a
 * job left without one (no memory, too many scales) converts as it
 * goes, to the same values. */
static void
lmd_dummy_tables(struct lmd_dummy_run *run)
{
    struct lmd_dummy_job  *j;
    size_t                 i, k;

    for (i = 0; i < run->njobs; i++) {
        j = &run->jobs[i];
        if (j->dtype == LMD_DTYPE_F32 || j->dtype == LMD_DTYPE_I32
            || j->scale == 0 || j->offset != 0)
        {
            continue;
        }
        for (k = 0; k < run->ntables; k++) {
            if (run->table_dtype[k] == j->dtype
                && run->table_scale[k] == j->scale)
            {
                break;
            }
        }
        if (k == run->ntables && k < LMD_DUMMY_TABLES) {
            run->tables[k] = lmd_dummy_table(j->dtype, j->scale);
            if (run->tables[k] == NULL) {
                continue;
            }
            run->table_dtype[k] = j->dtype;
            run->table_scale[k] = j->scale;
            run->ntables++;
        }
        if (k < run->ntables) {
            j->table = run->tables[k];
        }
    }
}


int
lmd_model_dummy_fill(struct lmd_model_weights *w, uint64_t seed, char *err,
    size_t errlen)
{
    struct lmd_dummy_run  run;
    pthread_t             tid[LMD_DUMMY_THREADS];
    long                  ncpu;
    size_t                n, i, nthreads;

    memset(&run, 0, sizeof(run));
    lmd_dummy_jobs(w, NULL, &n, &run.nchunks);
    run.jobs = calloc(n ? n : 1, sizeof(*run.jobs));
    if (run.jobs == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "dummy weights: out of memory");
        }
        return LMD_ERROR;
    }
    lmd_dummy_jobs(w, run.jobs, &run.njobs, &run.nchunks);
    run.seed = seed;
    atomic_init(&run.next, 0);
    lmd_dummy_tables(&run);

    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = ncpu > 1 ? (size_t) ncpu : 1;
    if (nthreads > LMD_DUMMY_THREADS) {
        nthreads = LMD_DUMMY_THREADS;
    }
    if (nthreads > run.nchunks) {
        nthreads = run.nchunks > 0 ? (size_t) run.nchunks : 1;
    }
    /* This thread is one of the workers; a thread that cannot start
     * only leaves more chunks to the others. */
    for (i = 0; i + 1 < nthreads; i++) {
        if (pthread_create(&tid[i], NULL, lmd_dummy_worker, &run) != 0) {
            break;
        }
    }
    nthreads = i;
    lmd_dummy_worker(&run);
    for (i = 0; i < nthreads; i++) {
        pthread_join(tid[i], NULL);
    }
    for (i = 0; i < run.ntables; i++) {
        free(run.tables[i]);
    }
    free(run.jobs);
    return LMD_OK;
}
