/*
 * lmd_tok_post.c -- the post-processors, run when the caller asks for
 * special tokens: ids go before and after the encoded sequence.
 *
 * lmd encodes single sequences only, so of TemplateProcessing just the
 * "single" template matters; it was reduced at load to the ids before the
 * $A item and the ids after it (a SpecialToken item may stand for several
 * ids).  BertProcessing and RobertaProcessing are [cls] $A [sep].  The
 * ByteLevel post-processor only trims offsets, which lmd does not return,
 * so it changes nothing here.  A Sequence was flattened at load and runs
 * its processors in order.
 */

#include "lmd_tok_internal.h"

#include <stdlib.h>


int
lmd_tok_post_apply(const struct lmd_tokenizer *t, struct lmd_tokens *out,
    size_t from)
{
    const struct lmd_tok_post  *p;
    size_t                      i, k, n;

    for (i = 0; i < t->npost; i++) {
        p = &t->post[i];
        if (p->type == LMD_POST_BYTELEVEL || p->nbefore + p->nafter == 0) {
            continue;
        }
        for (k = 0; k < p->nbefore + p->nafter; k++) {
            if (lmd_tokens_push(out, 0) != LMD_OK) {
                return LMD_ERROR;
            }
        }
        n = out->n - from - p->nbefore - p->nafter;
        memmove(out->ids + from + p->nbefore, out->ids + from,
                n * sizeof(int32_t));
        if (p->nbefore > 0) {
            memcpy(out->ids + from, p->before, p->nbefore * sizeof(int32_t));
        }
        if (p->nafter > 0) {
            memcpy(out->ids + from + p->nbefore + n, p->after,
                   p->nafter * sizeof(int32_t));
        }
    }
    return LMD_OK;
}
