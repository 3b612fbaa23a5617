/*
 * cpu_matmul.c -- y = x W^T over the pool: splits W's panels (16 rows
 * each) into contiguous tasks and runs the chosen instruction set's
 * kernel on each.
 *
 * Tasks are whole panel ranges, so each y element is computed by one
 * kernel call from start to end and its value never depends on the split
 * (cpu_gemm.h).  There are a few tasks per thread (4 for decode, 2 for
 * prompts, whose tasks reuse x from L2 the longer they are), handed out
 * in order, so that a thread slowed down by another process on its core
 * costs less, yet each stays a long contiguous stream of weights (decode
 * is bound by memory bandwidth).  Tasks split the panels evenly, at
 * multiples of 4 (a tile's height).  Products too small to be worth
 * waking the workers run on the calling thread.
 */

#include <math.h>
#include <stdlib.h>

#include "cpu_gemm.h"

#define CPU_MM_TASKS_PER_THREAD         4
#define CPU_MM_TASKS_PER_THREAD_PROMPT  2
#define CPU_MM_ALIGN                    4   /* task bounds: multiples of
                                               this many panels (a tile's
                                               height) */
#define CPU_MM_SERIAL_MACS              65536   /* below: no threads */

struct cpu_mm_ctx {
    struct cpu_gemm_job  job;
    cpu_gemm_pt          gemm;
    uint32_t             panels;
    uint32_t             n_tasks;
};


/* Task i's first panel: an even split, rounded to CPU_MM_ALIGN. */
static uint32_t
cpu_mm_bound(const struct cpu_mm_ctx *ctx, uint32_t i)
{
    uint64_t  b;

    if (i >= ctx->n_tasks) {
        return ctx->panels;
    }
    b = (uint64_t) ctx->panels * i / ctx->n_tasks;
    b = (b + CPU_MM_ALIGN / 2) / CPU_MM_ALIGN * CPU_MM_ALIGN;
    return b < ctx->panels ? (uint32_t) b : ctx->panels;
}


static void
cpu_mm_task(void *arg, uint32_t task, uint32_t thread)
{
    struct cpu_mm_ctx  *ctx = arg;
    uint32_t            p0, p1;

    (void) thread;
    p0 = cpu_mm_bound(ctx, task);
    p1 = cpu_mm_bound(ctx, task + 1);
    if (p0 < p1) {
        ctx->gemm(&ctx->job, p0, p1);
    }
}


void
cpu_matmul(struct cpu_pool *pool, const struct cpu_weight *w,
    const float *x, uint32_t m, float *y)
{
    uint32_t                    threads, n_tasks;
    uint64_t                    macs;
    size_t                      xb_bytes;
    void                       *xb, *xb_own;
    struct cpu_mm_ctx           ctx;
    struct cpu_xq               xq;
    const struct cpu_gemm_ops  *ops;

    if (m == 0) {
        return;
    }

    ops = cpu_gemm_ops();
    xb_own = NULL;
    ctx.job.w = w;
    ctx.job.x = x;
    ctx.job.xb = NULL;
    ctx.job.xq = NULL;
    ctx.job.y = y;
    ctx.job.m = m;
    ctx.gemm = ops->gemm;
    ctx.panels = cpu_weight_panels(w);

    if (w->dtype == LMD_DTYPE_I8) {
        /* x quantized once, for all tasks.  Without memory even for
         * that (a few bytes per element of x) there is no other way to
         * compute: y is NaN rather than wrong. */
        xb_bytes = cpu_xq_bytes(m, w->cols);
        xb = cpu_pool_scratch(pool, xb_bytes);
        if (xb == NULL) {
            xb = xb_own = aligned_alloc(64, (xb_bytes + 63) & ~(size_t) 63);
        }
        if (xb == NULL) {
            for (size_t i = 0; i < (size_t) m * w->rows; i++) {
                y[i] = NAN;
            }
            return;
        }
        cpu_xq_quantize(x, m, w->cols, xb, &xq);
        ctx.job.xq = &xq;
        ctx.gemm = ops->gemm_i8;
    } else if (w->dtype == LMD_DTYPE_BF16 && ops->x_to_bf16 != NULL) {
        /* x rounded to bf16 once, for all tasks. */
        xb_bytes = (size_t) m * (cpu_weight_kp(w) / 2) * sizeof(uint32_t);
        xb = cpu_pool_scratch(pool, xb_bytes);
        if (xb == NULL) {
            xb = xb_own = malloc(xb_bytes);
        }
        /* Out of memory even for that, the kernel computes by FMA
         * (xb NULL), rounding differently but still correctly. */
        if (xb != NULL) {
            ops->x_to_bf16(x, m, w->cols, xb);
            ctx.job.xb = xb;
        }
    }

    threads = cpu_pool_threads(pool);
    macs = (uint64_t) m * w->rows * w->cols;
    n_tasks = threads * (m > 8 ? CPU_MM_TASKS_PER_THREAD_PROMPT
                               : CPU_MM_TASKS_PER_THREAD);
    if (n_tasks > ctx.panels / CPU_MM_ALIGN) {
        n_tasks = ctx.panels / CPU_MM_ALIGN;
    }
    if (threads == 1 || macs < CPU_MM_SERIAL_MACS || n_tasks < 2) {
        ctx.gemm(&ctx.job, 0, ctx.panels);
        free(xb_own);
        return;
    }

    ctx.n_tasks = n_tasks;
    cpu_pool_run(pool, n_tasks, cpu_mm_task, &ctx);
    free(xb_own);
}
