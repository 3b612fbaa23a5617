/*
 * cuda_matmul.c -- y = x W^T for one linear layer: for dense 16-bit
 * weights the project's GEMV up to CUDA_GEMV_MAX_M rows (cuBLAS reaches
 * only 50-80% of the copy bandwidth there), cuBLAS above; for AWQ the
 * project's W4A16 kernels (the GEMV up to 16 rows, where reading the
 * weights is the whole cost; the tensor-core GEMM above), and from
 * awq_deq_min rows (512) the matrix unpacked to f16 in a scratch buffer
 * and cuBLAS, whose f16 GEMM is fast enough there to pay for the copy.
 * LMD_CUDA_BLAS_ONLY=1 sends every dense product to cuBLAS.
 *
 * cuBLAS is column-major; a row-major [m][out] y is the column-major
 * out x m matrix W x^T, so each product is one GemmEx with W transposed
 * (row-major [out][in] is column-major in x out) and x as it is.  The
 * residual products (add) accumulate into the f32 stream with beta 1,
 * which saves a pass over x.
 */

#include "cuda_engine.h"


/* The GEMV over the rows 16 at a time: for m <= 16, and for shapes the
 * GEMM does not take. */
static int
cuda_awq_gemv_rows(struct cuda_engine *e, struct awq_args *a)
{
    struct awq_args  c = *a;
    int              m0, esz = a->y_add ? 4 : 2;

    c.work = NULL;
    for (m0 = 0; m0 < a->m; m0 += 16) {
        c.m = a->m - m0 < 16 ? a->m - m0 : 16;
        c.x = a->x + (size_t) m0 * a->in;
        c.y = (char *) a->y + (size_t) m0 * a->out * esz;
        if (awq_gemv(&c, e->stream) != 0) {
            return -1;
        }
    }
    return 0;
}


/* y = x W^T on cuBLAS: W act [rows][cols], x act [m][cols]; mode as
 * cuda_gemv's: 0 y act, 1 y f32, 2 y f32 added to. */
static int
cuda_gemm(struct cuda_engine *e, const void *w, uint32_t rows,
    uint32_t cols, const void *x, uint32_t m, void *y, int mode)
{
    cublasStatus_t  st;
    cudaDataType_t  t16;
    const float     one = 1.0f, zero = 0.0f;

    t16 = e->act == CUDA_ACT_F16 ? CUDA_R_16F : CUDA_R_16BF;
    st = cublasGemmEx(e->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int) rows,
                      (int) m, (int) cols, &one, w, t16, (int) cols, x, t16,
                      (int) cols, mode == 2 ? &one : &zero, y,
                      mode == 0 ? t16 : CUDA_R_32F, (int) rows,
                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS ? 0 : -1;
}


int
cuda_matmul(struct cuda_engine *e, const struct cuda_mat *w, const void *x,
    uint32_t m, void *y, int add)
{
    struct awq_args   a;

    if (m == 0) {
        return 0;
    }
    if (w->kind == CUDA_MAT_AWQ) {
        memset(&a, 0, sizeof(a));
        a.x = x;
        a.gv_w = w->gv_w;
        a.gv_sz = w->gv_sz;
        a.y = y;
        a.y_add = add;
        a.m = (int) m;
        a.in = (int) w->cols;
        a.out = (int) w->rows;
        a.group = (int) w->group;
        a.ksteps = 0;
        if (e->awq_deq_min > 0 && m >= e->awq_deq_min && e->a.deq != NULL
            && awq_dequant(&a, e->a.deq, e->stream) == 0)
        {
            return cuda_gemm(e, e->a.deq, w->rows, w->cols, x, m, y,
                             add ? 2 : 0);
        }
        if (cudaPeekAtLastError() != cudaSuccess) {
            return -1;
        }
        if (m > 16) {
            a.work = e->a.gemm_work;
            if (awq_gemm(&a, e->stream) == 0) {
                return 0;
            }
            if (cudaPeekAtLastError() != cudaSuccess) {
                return -1;
            }
        }
        return cuda_awq_gemv_rows(e, &a);
    }

    if (m <= CUDA_GEMV_MAX_M && !e->blas_only
        && cuda_gemv(e->act, w->w, x, y, m, w->rows, w->cols, add ? 2 : 0,
                     e->stream) == 0)
    {
        return 0;
    }
    return cuda_gemm(e, w->w, w->rows, w->cols, x, m, y, add ? 2 : 0);
}


/* The logits: f32 [m][vocab] = x lm_head^T, x act. */
int
cuda_matmul_logits(struct cuda_engine *e, const void *x, uint32_t m,
    float *logits)
{
    const struct cuda_mat  *w = &e->w.lm_head;

    if (m == 0) {
        return 0;
    }
    if (m <= CUDA_GEMV_MAX_M && !e->blas_only
        && cuda_gemv(e->act, w->w, x, logits, m, w->rows, w->cols, 1,
                     e->stream) == 0)
    {
        return 0;
    }
    return cuda_gemm(e, w->w, w->rows, w->cols, x, m, logits, 1);
}
