/*
 * cpu_pool.h -- the cpu engine's worker threads.
 *
 * One pool per engine: n threads (the engine thread itself is worker 0),
 * woken for each parallel section.  A decode step runs a few hundred
 * short sections, so workers spin briefly before sleeping rather than
 * paying a futex wake-up per section.
 */

#ifndef CPU_POOL_H
#define CPU_POOL_H

#include <stdint.h>

struct cpu_pool;

/* task runs for every t in [0, n_tasks), spread over the threads;
 * thread is the worker's index (0 .. threads-1), for per-thread
 * scratch. */
typedef void (*cpu_task_pt)(void *arg, uint32_t task, uint32_t thread);

/* threads: 0 = every online core.  NULL on failure. */
struct cpu_pool *cpu_pool_create(uint32_t threads);

uint32_t cpu_pool_threads(const struct cpu_pool *pool);

/* Runs the tasks and returns when all are done.  Calls from the engine
 * thread only (not reentrant). */
void cpu_pool_run(struct cpu_pool *pool, uint32_t n_tasks, cpu_task_pt task,
    void *arg);

void cpu_pool_destroy(struct cpu_pool *pool);

#endif /* CPU_POOL_H */
