/*
 * fuzz_spm.c -- bytes as a sentencepiece tokenizer.model: lmd_spm_parse
 * must refuse or accept them without reading out of bounds, and an
 * accepted model must hold what the header promises.
 */

#include "lmd_fuzz.h"

#include "lmd_spm.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lmd_spm_model  m;
    char                  err[LMD_ERR_LEN];
    size_t                i;

    if (lmd_spm_parse(data, size, &m, err, sizeof(err)) != LMD_OK) {
        lmd_fuzz_check(err[0] != '\0', "an error without a message");
        lmd_fuzz_check(m.pieces == NULL, "a failed parse left pieces");
        return 0;
    }

    lmd_fuzz_check(m.npieces > 0, "a model without pieces");
    for (i = 0; i < m.npieces; i++) {
        lmd_fuzz_check(m.pieces[i].len > 0, "an empty piece");
        lmd_fuzz_check(m.pieces[i].piece[m.pieces[i].len] == '\0',
                       "a piece not NUL-terminated");
        lmd_fuzz_check(m.pieces[i].type >= LMD_SPM_NORMAL
                       && m.pieces[i].type <= LMD_SPM_BYTE,
                       "a piece type out of range");
    }
    lmd_fuzz_check(m.unk_id >= -1 && m.unk_id < (int32_t) m.npieces,
                   "unk_id out of range");
    lmd_fuzz_check(m.bos_id >= -1 && m.bos_id < (int32_t) m.npieces,
                   "bos_id out of range");
    lmd_spm_free(&m);
    return 0;
}
