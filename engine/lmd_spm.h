/*
 * lmd_spm.h -- reading a sentencepiece model file (tokenizer.model): the
 * ModelProto protobuf, decoded by hand (wire format only: varints,
 * length-delimited fields, fixed32 floats), into plain structs that the
 * tokenizer builds its sentencepiece BPE from.
 *
 * Only what tokenization needs is kept; unknown fields are skipped, as
 * protobuf readers must.  Malformed input (truncated varint, length past
 * the end, wrong wire type for a known field) is an error naming the byte
 * offset and field.
 */

#ifndef LMD_SPM_H
#define LMD_SPM_H

#include <stddef.h>
#include <stdint.h>

#include "lmd_common.h"

/* ModelProto.SentencePiece.Type */
enum lmd_spm_piece_type {
    LMD_SPM_NORMAL = 1,
    LMD_SPM_UNKNOWN = 2,
    LMD_SPM_CONTROL = 3,
    LMD_SPM_USER_DEFINED = 4,
    LMD_SPM_UNUSED = 5,
    LMD_SPM_BYTE = 6
};

/* TrainerSpec.ModelType */
enum lmd_spm_model_type {
    LMD_SPM_UNIGRAM = 1,
    LMD_SPM_BPE = 2,
    LMD_SPM_WORD = 3,
    LMD_SPM_CHAR = 4
};

struct lmd_spm_piece {
    char       *piece;          /* UTF-8, NUL-terminated (may hold NUL:
                                   use len) */
    size_t      len;
    float       score;
    int         type;           /* enum lmd_spm_piece_type */
};

struct lmd_spm_model {
    struct lmd_spm_piece  *pieces;     /* index = token id */
    size_t                 npieces;

    /* trainer_spec */
    int                    model_type;          /* enum; default UNIGRAM */
    int                    byte_fallback;       /* default 0 */
    int32_t                unk_id, bos_id, eos_id, pad_id; /* -1: none */

    /* normalizer_spec */
    char                  *normalizer_name;     /* e.g. "identity" */
    int                    add_dummy_prefix;    /* default 1 */
    int                    remove_extra_whitespaces;  /* default 1 */
    int                    escape_whitespaces;  /* default 1 */
};

/* Parses len bytes of a ModelProto.  LMD_OK, or LMD_ERROR with err set
 * ("byte 1234: field 1 (pieces): length past the end").  On success
 * free the model with lmd_spm_free. */
int  lmd_spm_parse(const uint8_t *data, size_t len, struct lmd_spm_model *m,
    char *err, size_t errlen);
/* Reads and parses a file; err names the file. */
int  lmd_spm_load(const char *path, struct lmd_spm_model *m, char *err,
    size_t errlen);
void lmd_spm_free(struct lmd_spm_model *m);

#endif /* LMD_SPM_H */
