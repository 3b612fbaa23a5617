/*
 * cuda_pdl.cuh -- programmatic dependent launch (sm_90+) for the kernels
 * of a decode step.
 *
 * A batch-1 decode step is ~300 small launches (a 1.5B model's GEMVs
 * take 2-10 us each), and without help each one starts only after the
 * one before has drained: the gap and the new grid's ramp cost 1-2 us a
 * launch.  With the launch attribute the next kernel's CTAs are
 * scheduled while the previous kernel finishes; each kernel that takes
 * part calls pdl_wait() before it reads or writes anything another
 * kernel touches (weights excepted, see below), which returns once the
 * previous kernel has completed and its writes are visible.  So a
 * kernel's result is the same as with ordinary stream order; only its
 * index arithmetic, and the prefetch of weights that no kernel writes,
 * overlap the previous kernel.
 *
 * Rules for a kernel launched with pdl_launch():
 *   - pdl_wait() on every path before any global read of activations
 *     and before any global write (an early return included);
 *   - pdl_trigger() after it lets the next kernel be scheduled.
 * On sm_80 both are no-ops and pdl_launch() launches plainly;
 * LMD_CUDA_PDL=0 turns the attribute off everywhere (for comparisons).
 * Launches work inside stream capture (programmatic graph edges).
 */

#ifndef CUDA_PDL_CUH
#define CUDA_PDL_CUH

#include <stdlib.h>
#include <string.h>
#include <utility>

#include <cuda_runtime.h>


static __device__ __forceinline__ void
pdl_wait(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}


static __device__ __forceinline__ void
pdl_trigger(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}


/* Whether launches carry the attribute: compute capability 9.0 or more
 * on the current device and LMD_CUDA_PDL not "0".  Decided once (a
 * process drives one device). */
static inline int
pdl_on(void)
{
    static int   on = -1;
    const char  *env;
    int          dev, major = 0;

    if (on < 0) {
        env = getenv("LMD_CUDA_PDL");
        on = (env == NULL || strcmp(env, "0") != 0)
             && cudaGetDevice(&dev) == cudaSuccess
             && cudaDeviceGetAttribute(&major,
                                       cudaDevAttrComputeCapabilityMajor,
                                       dev) == cudaSuccess
             && major >= 9;
    }
    return on;
}


/* kernel<<<grid, block, smem, s>>>(args...) with the attribute. */
template <typename... K, typename... A>
static inline cudaError_t
pdl_launch(void (*kernel)(K...), dim3 grid, dim3 block, size_t smem,
    cudaStream_t s, A &&... args)
{
    cudaLaunchConfig_t   cfg = {};
    cudaLaunchAttribute  at[1];

    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cfg.attrs = at;
    cfg.numAttrs = pdl_on() ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...);
}

#endif /* CUDA_PDL_CUH */
