/*
 * cpu_matmul.c -- y = x W^T over the pool: splits W's panels (16 rows
 * each) into contiguous tasks and runs the chosen instruction set's
 * kernel on each.
 *
 * Tasks are whole panel ranges, so each y element is computed by one
 * kernel call from start to end and its value never depends on the split
 * (cpu_gemm.h).  There are a few tasks per thread, handed out in order,
 * so that a thread slowed down by another process on its core costs
 * less, yet each stays a long contiguous stream of weights (decode is
 * bound by memory bandwidth).  Products too small to be worth waking the
 * workers run on the calling thread.
 */

#include <stdlib.h>

#include "cpu_gemm.h"

#define CPU_MM_TASKS_PER_THREAD  4
#define CPU_MM_ALIGN             8      /* panels per task, a multiple */
#define CPU_MM_SERIAL_MACS       65536  /* below this, no threads */

struct cpu_mm_ctx {
    struct cpu_gemm_job  job;
    cpu_gemm_pt          gemm;
    uint32_t             panels;
    uint32_t             per_task;      /* panels */
};


static void
cpu_mm_task(void *arg, uint32_t task, uint32_t thread)
{
    struct cpu_mm_ctx  *ctx = arg;
    uint32_t            p0, p1;

    (void) thread;
    p0 = task * ctx->per_task;
    p1 = p0 + ctx->per_task;
    if (p1 > ctx->panels) {
        p1 = ctx->panels;
    }
    if (p0 < p1) {
        ctx->gemm(&ctx->job, p0, p1);
    }
}


void
cpu_matmul(struct cpu_pool *pool, const struct cpu_weight *w,
    const float *x, uint32_t m, float *y)
{
    uint32_t                    threads, n_tasks, per;
    uint64_t                    macs;
    size_t                      xb_bytes;
    void                       *xb, *xb_own;
    struct cpu_mm_ctx           ctx;
    const struct cpu_gemm_ops  *ops;

    if (m == 0) {
        return;
    }

    ops = cpu_gemm_ops();
    xb_own = NULL;
    ctx.job.w = w;
    ctx.job.x = x;
    ctx.job.xb = NULL;
    ctx.job.y = y;
    ctx.job.m = m;
    ctx.gemm = ops->gemm;
    ctx.panels = cpu_weight_panels(w);

    if (w->dtype == LMD_DTYPE_BF16 && ops->x_to_bf16 != NULL) {
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
    if (threads == 1 || macs < CPU_MM_SERIAL_MACS
        || ctx.panels <= CPU_MM_ALIGN)
    {
        ctx.gemm(&ctx.job, 0, ctx.panels);
        free(xb_own);
        return;
    }

    n_tasks = threads * CPU_MM_TASKS_PER_THREAD;
    per = (ctx.panels + n_tasks - 1) / n_tasks;
    per = (per + CPU_MM_ALIGN - 1) / CPU_MM_ALIGN * CPU_MM_ALIGN;
    ctx.per_task = per;
    n_tasks = (ctx.panels + per - 1) / per;

    cpu_pool_run(pool, n_tasks, cpu_mm_task, &ctx);
    free(xb_own);
}
