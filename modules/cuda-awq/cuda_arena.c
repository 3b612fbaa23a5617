/*
 * cuda_arena.c -- one device allocation handed out by a bump pointer, and
 * the engine's one way of turning a CUDA error into a message.
 *
 * The engine makes two arenas (cuda_engine.h): the weights', and the KV
 * pool's with the step buffers.  Nothing is freed piecemeal, so there is
 * no fragmentation and no allocation on the step path.
 */

#include "cuda_engine.h"

#include <stdio.h>
#include <string.h>

/* Alignment of every piece: enough for 16-byte vector loads and for
 * cuBLAS's preferred 256-byte pointers. */
#define CUDA_ARENA_ALIGN    256


int
cuda_fail(char *err, size_t errlen, const char *what, int code)
{
    snprintf(err, errlen, "cuda-awq: %s: %s (%s)", what,
             cudaGetErrorString((cudaError_t) code),
             cudaGetErrorName((cudaError_t) code));
    return -1;
}


int
cuda_arena_init(struct cuda_arena *a, size_t size, char *err, size_t errlen)
{
    cudaError_t  rc;
    size_t       free_b = 0, total_b = 0;

    memset(a, 0, sizeof(*a));
    size = (size + CUDA_ARENA_ALIGN - 1) & ~(size_t) (CUDA_ARENA_ALIGN - 1);
    rc = cudaMalloc((void **) &a->base, size > 0 ? size : CUDA_ARENA_ALIGN);
    if (rc != cudaSuccess) {
        (void) cudaGetLastError();
        (void) cudaMemGetInfo(&free_b, &total_b);
        snprintf(err, errlen, "cuda-awq: cannot allocate %.1f MB of device "
                 "memory (%.1f MB free of %.1f MB): %s",
                 (double) size / 1048576.0, (double) free_b / 1048576.0,
                 (double) total_b / 1048576.0, cudaGetErrorString(rc));
        a->base = NULL;
        return -1;
    }
    a->size = size;
    return 0;
}


/* NULL when the arena is out of room: a sizing bug, since every arena is
 * sized for what is taken from it. */
void *
cuda_arena_take(struct cuda_arena *a, size_t bytes)
{
    char   *p;
    size_t  n = (bytes + CUDA_ARENA_ALIGN - 1)
                & ~(size_t) (CUDA_ARENA_ALIGN - 1);

    if (a->base == NULL || n > a->size - a->used) {
        return NULL;
    }
    p = a->base + a->used;
    a->used += n;
    return p;
}


void
cuda_arena_free(struct cuda_arena *a)
{
    if (a->base != NULL) {
        cudaFree(a->base);
    }
    memset(a, 0, sizeof(*a));
}
