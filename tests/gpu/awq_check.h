/*
 * awq_check.h -- what the W4A16 kernel checks share: a matrix on the
 * device in AutoAWQ's layout and in the kernels' own (awq_gemv_pack, as
 * the engine makes it at load time).  Include after CK is defined.
 */

#ifndef AWQ_CHECK_H
#define AWQ_CHECK_H

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "awq_kernels.h"

struct dev_mat {
    int32_t   *qw, *qz;
    uint16_t  *sc;
    uint32_t  *gw, *gs;                 /* awq_gemv_pack's */
};


/* The kernels' layout of d's AutoAWQ matrix, as the engine makes it. */
static void
pack(struct dev_mat *d, int in, int out, int group)
{
    struct awq_args  a;
    size_t           wb, sb;

    awq_gemv_packed_bytes(in, out, group, &wb, &sb);
    CK(cudaMalloc(&d->gw, wb));
    CK(cudaMalloc(&d->gs, sb));
    memset(&a, 0, sizeof(a));
    a.qweight = d->qw;
    a.qzeros = d->qz;
    a.scales = d->sc;
    a.in = in;
    a.out = out;
    a.group = group;
    if (awq_gemv_pack(&a, d->gw, d->gs, 0) != 0) {
        fprintf(stderr, "awq_gemv_pack refused in=%d out=%d g=%d: %s\n",
                in, out, group, cudaGetErrorString(cudaGetLastError()));
        exit(2);
    }
    CK(cudaDeviceSynchronize());
}


static void
free_mat(struct dev_mat *d)
{
    CK(cudaFree(d->qw));
    CK(cudaFree(d->qz));
    CK(cudaFree(d->sc));
    CK(cudaFree(d->gw));
    CK(cudaFree(d->gs));
}

#endif /* AWQ_CHECK_H */
