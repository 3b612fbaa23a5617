/*
 * cpu_pool.c -- the cpu engine's worker threads: cpu_pool_run hands a
 * section's tasks to every thread and returns when all are done.
 *
 * Design.  A section is published as a generation: the caller writes the
 * task function, argument and count into slot[gen & 1] and then stores
 * claim = gen << 32 | 0.  Every thread, the caller included (worker 0),
 * takes tasks by compare-and-swap on claim, so a task is run only while
 * its generation is current: a worker that wakes late, after the caller
 * has already done everything and moved on, finds a newer generation and
 * runs nothing of the old one.  The caller therefore never waits for a
 * thread that has no task, only for tasks that were taken (done == n).
 * Slots alternate so that a straggler reading the previous section's slot
 * never races with the caller filling the next one.
 *
 * Between sections workers spin on claim for CPU_POOL_SPIN_NS (a decode
 * step runs a few hundred sections a few microseconds apart), then sleep
 * on a futex (wake, bumped by every section; sleepers says whether the
 * caller must call futex_wake at all).  The spin is long, 1 ms, because
 * a futex wake-up costs 40-50 us on the KVM guests measured (against
 * under 1 us for a spinning worker) and the gaps between the sections of
 * consecutive tokens (sampling, detokenizing) are a few hundred us: a
 * generating engine keeps its workers awake, an idle one lets them
 * sleep within a millisecond.
 */

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpu_pool.h"
#include "cpu_gemm.h"

#define CPU_POOL_SPIN_NS    1000000     /* spin this long before sleeping */
#define CPU_POOL_MAX        256

#if defined(__x86_64__) || defined(__i386__)
#define cpu_pause()         __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_pause()         __asm__ __volatile__("yield")
#else
#define cpu_pause()         ((void) 0)
#endif

struct cpu_pool_slot {
    _Atomic(cpu_task_pt)    task;
    _Atomic(void *)         arg;
    _Atomic uint32_t        n_tasks;
};

struct cpu_pool_worker {
    struct cpu_pool        *pool;
    pthread_t               tid;
    uint32_t                index;
    int                     started;
};

struct cpu_pool {
    /* Written by everyone: each on its own cache line. */
    _Alignas(64) _Atomic uint64_t   claim;      /* gen << 32 | next task */
    _Alignas(64) _Atomic uint32_t   done;       /* tasks finished */
    _Alignas(64) _Atomic uint32_t   wake;       /* futex word */
    _Atomic uint32_t                sleepers;
    _Atomic int                     stop;

    _Alignas(64) struct cpu_pool_slot  slot[2];
    uint32_t                        gen;        /* the caller's */
    uint32_t                        n_threads;
    struct cpu_pool_worker         *workers;    /* [n_threads], 0 unused */

    void                           *scratch;
    size_t                          scratch_size;
};


static uint64_t
cpu_pool_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


static void
cpu_pool_futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *) addr, FUTEX_WAIT_PRIVATE, val, NULL,
            NULL, 0);
}


static void
cpu_pool_futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *) addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
            NULL, 0);
}


/* Runs tasks of the generation in c (a value of claim) until none is
 * left or a newer generation starts. */
static void
cpu_pool_work(struct cpu_pool *pool, uint64_t c, uint32_t thread)
{
    uint32_t               gen, next, n;
    cpu_task_pt            task;
    void                  *arg;
    struct cpu_pool_slot  *slot;

    gen = (uint32_t) (c >> 32);
    slot = &pool->slot[gen & 1];
    task = atomic_load_explicit(&slot->task, memory_order_relaxed);
    arg = atomic_load_explicit(&slot->arg, memory_order_relaxed);
    n = atomic_load_explicit(&slot->n_tasks, memory_order_relaxed);

    for ( ;; ) {
        if ((uint32_t) (c >> 32) != gen) {
            return;
        }
        next = (uint32_t) c;
        if (next >= n) {
            return;
        }
        /* The slot was read under gen; the CAS succeeds only while gen is
         * still current, so what was read is this section's. */
        if (atomic_compare_exchange_weak_explicit(&pool->claim, &c, c + 1,
                memory_order_acq_rel, memory_order_acquire))
        {
            task(arg, next, thread);
            atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
            c = atomic_load_explicit(&pool->claim, memory_order_acquire);
        }
    }
}


static void *
cpu_pool_main(void *data)
{
    struct cpu_pool_worker  *w = data;
    struct cpu_pool         *pool = w->pool;
    uint64_t                 c, t0;
    uint32_t                 seen, spins, wv;

    seen = 0;
    for ( ;; ) {
        /* Spin for the next generation, then sleep. */
        c = atomic_load_explicit(&pool->claim, memory_order_acquire);
        t0 = 0;
        spins = 0;
        while ((uint32_t) (c >> 32) == seen) {
            cpu_pause();
            if ((++spins & 63) == 0) {
                if (t0 == 0) {
                    t0 = cpu_pool_now();
                } else if (cpu_pool_now() - t0 > CPU_POOL_SPIN_NS) {
                    wv = atomic_load(&pool->wake);
                    atomic_fetch_add(&pool->sleepers, 1);
                    c = atomic_load(&pool->claim);
                    if ((uint32_t) (c >> 32) == seen) {
                        cpu_pool_futex_wait(&pool->wake, wv);
                    }
                    atomic_fetch_sub(&pool->sleepers, 1);
                    t0 = 0;
                }
            }
            c = atomic_load_explicit(&pool->claim, memory_order_acquire);
        }
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) {
            return NULL;
        }
        seen = (uint32_t) (c >> 32);
        cpu_pool_work(pool, c, w->index);
    }
}


struct cpu_pool *
cpu_pool_create(uint32_t threads)
{
    long              n;
    uint32_t          i;
    struct cpu_pool  *pool;

    if (threads == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (uint32_t) n : 1;
    }
    if (threads > CPU_POOL_MAX) {
        threads = CPU_POOL_MAX;
    }

    pool = aligned_alloc(64, sizeof(*pool));
    if (pool == NULL) {
        return NULL;
    }
    memset(pool, 0, sizeof(*pool));
    pool->n_threads = threads;
    pool->workers = calloc(threads, sizeof(*pool->workers));
    if (pool->workers == NULL) {
        free(pool);
        return NULL;
    }

    for (i = 1; i < threads; i++) {
        pool->workers[i].pool = pool;
        pool->workers[i].index = i;
        if (pthread_create(&pool->workers[i].tid, NULL, cpu_pool_main,
                           &pool->workers[i]) != 0)
        {
            cpu_pool_destroy(pool);
            return NULL;
        }
        pool->workers[i].started = 1;
    }

    return pool;
}


uint32_t
cpu_pool_threads(const struct cpu_pool *pool)
{
    return pool != NULL ? pool->n_threads : 1;
}


/* Publishes a generation: slot first, claim last (release). */
static uint64_t
cpu_pool_publish(struct cpu_pool *pool, uint32_t n_tasks, cpu_task_pt task,
    void *arg)
{
    uint64_t               c;
    struct cpu_pool_slot  *slot;

    pool->gen++;
    slot = &pool->slot[pool->gen & 1];
    atomic_store_explicit(&slot->task, task, memory_order_relaxed);
    atomic_store_explicit(&slot->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&slot->n_tasks, n_tasks, memory_order_relaxed);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);

    c = (uint64_t) pool->gen << 32;
    atomic_store_explicit(&pool->claim, c, memory_order_release);

    /* Dekker with the sleepers: wake++ then sleepers, theirs the other
     * way round (both seq_cst), so no sleeper misses the section. */
    atomic_fetch_add(&pool->wake, 1);
    if (atomic_load(&pool->sleepers) > 0) {
        cpu_pool_futex_wake(&pool->wake);
    }
    return c;
}


void
cpu_pool_run(struct cpu_pool *pool, uint32_t n_tasks, cpu_task_pt task,
    void *arg)
{
    uint32_t  i, spins;
    uint64_t  c, t0;

    if (n_tasks == 0) {
        return;
    }
    if (pool == NULL || pool->n_threads == 1 || n_tasks == 1) {
        for (i = 0; i < n_tasks; i++) {
            task(arg, i, 0);
        }
        return;
    }

    c = cpu_pool_publish(pool, n_tasks, task, arg);
    cpu_pool_work(pool, c, 0);

    /* Tasks taken by others may still run: spin, then yield the core
     * (the worker may be waiting for it on a busy machine). */
    t0 = 0;
    spins = 0;
    while (atomic_load_explicit(&pool->done, memory_order_acquire)
           != n_tasks)
    {
        if (t0 != 0 && cpu_pool_now() - t0 > CPU_POOL_SPIN_NS) {
            sched_yield();
            continue;
        }
        cpu_pause();
        if ((++spins & 63) == 0 && t0 == 0) {
            t0 = cpu_pool_now();
        }
    }
}


void
cpu_pool_destroy(struct cpu_pool *pool)
{
    uint32_t  i;

    if (pool == NULL) {
        return;
    }

    atomic_store_explicit(&pool->stop, 1, memory_order_release);
    (void) cpu_pool_publish(pool, 0, NULL, NULL);
    for (i = 1; i < pool->n_threads; i++) {
        if (pool->workers[i].started) {
            pthread_join(pool->workers[i].tid, NULL);
        }
    }

    free(pool->scratch);
    free(pool->workers);
    free(pool);
}


void *
cpu_pool_scratch(struct cpu_pool *pool, size_t bytes)
{
    void    *p;
    size_t   size;

    if (pool == NULL) {
        return NULL;
    }
    if (bytes <= pool->scratch_size) {
        return pool->scratch;
    }

    /* Grow by half again, in whole cache lines. */
    size = bytes + bytes / 2;
    size = (size + 63) & ~(size_t) 63;
    p = aligned_alloc(64, size);
    if (p == NULL) {
        return NULL;
    }
    free(pool->scratch);
    pool->scratch = p;
    pool->scratch_size = size;
    return p;
}
