/*
 * lmd_cmd_tokenize.c -- `lmd tokenize`: a model's tokenizer on the command
 * line, for checking what the daemon will feed a model and for comparing
 * with the Hugging Face reference.
 *
 *   lmd tokenize PATH [--special] [--json] [--tokens] TEXT|-
 *   lmd tokenize PATH --decode [--skip-special] [--json] [--tokens] [IDS|-]
 *
 * PATH is a model folder or a tokenizer file (lmd_tokenizer_load decides).
 * Encoding prints the ids on one line; TEXT "-" reads all of stdin,
 * byte for byte (a final newline is part of the text).  Decoding takes ids
 * as arguments or from stdin, separated by blanks or commas or written as a
 * JSON array, and prints the text exactly, with no newline added.
 *
 * Exit status: 0 done, 1 failed (the tokenizer or the input), 2 usage.
 */

#include "lmd_core.h"
#include "lmd_cmd.h"

#include <limits.h>

#include "lmd_tokenizer.h"

#define LMD_TOK_MAX_INPUT   (1024u << 20)   /* stdin read at most, bytes */

struct lmd_tok_opts {
    const char   *path;
    int           special;
    int           json;
    int           tokens;
    int           decode;
    int           skip_special;
    char        **args;          /* what follows PATH */
    int           nargs;
};


static void
lmd_tok_usage(FILE *out)
{
    fprintf(out,
        "Usage: lmd tokenize PATH [--special] [--json] [--tokens] TEXT|-\n"
        "       lmd tokenize PATH --decode [--skip-special] [--json] "
        "[--tokens] [IDS...|-]\n"
        "\n"
        "PATH is a model folder (tokenizer.json, or tokenizer.model, plus\n"
        "tokenizer_config.json) or one of those files.\n"
        "\n"
        "Encoding prints the token ids of TEXT on one line.  TEXT - reads\n"
        "all of stdin, every byte: a final newline is encoded too.\n"
        "  --special       add the model's special tokens (BOS)\n"
        "  --json          print a JSON array\n"
        "  --tokens        print the token strings instead of the ids\n"
        "\n"
        "Decoding prints the text of the ids exactly, without a newline.\n"
        "IDS are arguments or stdin (none or -), separated by blanks or\n"
        "commas, or one JSON array.\n"
        "  --decode        decode ids into text\n"
        "  --skip-special  leave special tokens out of the text\n"
        "  --json          print the text as a JSON string (and a newline)\n"
        "  --tokens        print the token strings of the ids\n"
        "\n"
        "  --              end of options (for a TEXT starting with -)\n"
        "  -h, --help      show this help\n"
        "\n"
        "Exit status: 0 done, 1 failed, 2 usage error.  See "
        "lmd-tokenize(1).\n");
}


static int
lmd_tok_parse_args(int argc, char **argv, struct lmd_tok_opts *o)
{
    int    i, nopts = 1;
    char  *a;

    memset(o, 0, sizeof(*o));
    o->args = calloc((size_t) argc, sizeof(char *));
    if (o->args == NULL) {
        fprintf(stderr, "lmd tokenize: out of memory\n");
        return 1;
    }

    for (i = 1; i < argc; i++) {
        a = argv[i];
        if (nopts && strcmp(a, "--") == 0) {
            nopts = 0;
        } else if (nopts && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--special") == 0) {
                o->special = 1;
            } else if (strcmp(a, "--json") == 0) {
                o->json = 1;
            } else if (strcmp(a, "--tokens") == 0) {
                o->tokens = 1;
            } else if (strcmp(a, "--decode") == 0) {
                o->decode = 1;
            } else if (strcmp(a, "--skip-special") == 0) {
                o->skip_special = 1;
            } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                lmd_tok_usage(stdout);
                return 0;
            } else {
                fprintf(stderr, "lmd tokenize: unknown option \"%s\" (a "
                        "TEXT starting with - goes after --)\n", a);
                return 2;
            }
        } else if (o->path == NULL) {
            o->path = a;
        } else {
            o->args[o->nargs++] = a;
        }
    }

    if (o->path == NULL) {
        fprintf(stderr, "lmd tokenize: no model folder or tokenizer file "
                "given\n");
        return 2;
    }
    if (o->decode && o->special) {
        fprintf(stderr, "lmd tokenize: --special is for encoding; with "
                "--decode use --skip-special\n");
        return 2;
    }
    if (!o->decode && o->skip_special) {
        fprintf(stderr, "lmd tokenize: --skip-special needs --decode\n");
        return 2;
    }
    if (!o->decode && o->nargs != 1) {
        fprintf(stderr, "lmd tokenize: %s\n", o->nargs == 0
                ? "no TEXT given (use - to read stdin)"
                : "more than one TEXT given (quote the text)");
        return 2;
    }
    return -1;
}


/* ------------------------------------------------------------------ input */

/* Reads all of stdin into *buf (malloc'd, NUL-terminated). */
static int
lmd_tok_read_stdin(char **buf, size_t *len)
{
    size_t   cap = 65536, n = 0, got;
    char    *b, *nb;

    b = malloc(cap + 1);
    if (b == NULL) {
        fprintf(stderr, "lmd tokenize: out of memory\n");
        return LMD_ERROR;
    }
    for ( ;; ) {
        got = fread(b + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) {
            break;
        }
        if (n == cap) {
            if (cap >= LMD_TOK_MAX_INPUT) {
                fprintf(stderr, "lmd tokenize: stdin holds more than %u "
                        "MiB\n", LMD_TOK_MAX_INPUT >> 20);
                free(b);
                return LMD_ERROR;
            }
            cap *= 2;
            nb = realloc(b, cap + 1);
            if (nb == NULL) {
                fprintf(stderr, "lmd tokenize: out of memory\n");
                free(b);
                return LMD_ERROR;
            }
            b = nb;
        }
    }
    if (ferror(stdin)) {
        fprintf(stderr, "lmd tokenize: reading stdin: %s\n",
                strerror(errno));
        free(b);
        return LMD_ERROR;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return LMD_OK;
}


/* Appends the ids written in s: numbers separated by blanks or commas,
 * optionally inside one [ ] pair.  vocab bounds them. */
static int
lmd_tok_parse_ids(const char *s, size_t len, size_t vocab,
    struct lmd_tokens *ids)
{
    const char  *p = s, *end = s + len, *q;
    int          bracket = 0, closed = 0;
    long long    v;
    char         num[24];
    size_t       n;

    while (p < end) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'
            || *p == ',')
        {
            p++;
            continue;
        }
        if (*p == '[' && !bracket && ids->n == 0) {
            bracket = 1;
            p++;
            continue;
        }
        if (*p == ']' && bracket && !closed) {
            closed = 1;
            p++;
            continue;
        }
        if (closed || *p < '0' || *p > '9') {
            fprintf(stderr, "lmd tokenize: ids: unexpected \"%.*s\" at "
                    "byte %zu (ids are numbers separated by blanks or "
                    "commas, or a JSON array)\n",
                    (int) lmd_min((size_t) (end - p), 16), p,
                    (size_t) (p - s));
            return LMD_ERROR;
        }
        for (q = p; q < end && *q >= '0' && *q <= '9'; q++) {
            /* the digits */
        }
        n = (size_t) (q - p);
        if (n >= sizeof(num)) {
            n = sizeof(num) - 1;
        }
        memcpy(num, p, n);
        num[n] = '\0';
        v = strtoll(num, NULL, 10);
        if ((size_t) (q - p) > 12 || v < 0 || (unsigned long long) v >= vocab)
        {
            fprintf(stderr, "lmd tokenize: id %.*s is out of range (the "
                    "vocabulary has %zu ids)\n", (int) lmd_min(q - p, 24),
                    p, vocab);
            return LMD_ERROR;
        }
        if (lmd_tokens_push(ids, (int32_t) v) != LMD_OK) {
            fprintf(stderr, "lmd tokenize: out of memory\n");
            return LMD_ERROR;
        }
        p = q;
    }
    if (bracket && !closed) {
        fprintf(stderr, "lmd tokenize: ids: \"[\" without \"]\"\n");
        return LMD_ERROR;
    }
    return LMD_OK;
}


/* ----------------------------------------------------------------- output */

/* The length of the valid UTF-8 sequence at p (1-4), or 0. */
static size_t
lmd_tok_utf8_len(const unsigned char *p, size_t left)
{
    uint32_t  c;
    size_t    n, i;

    if (p[0] < 0x80) {
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        c = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        c = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        c = p[0] & 0x07;
    } else {
        return 0;
    }
    if (left < n) {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = c << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)))
        || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
    {
        return 0;
    }
    return n;
}


/* Writes s as a JSON string; bytes that are not UTF-8 become U+FFFD. */
static void
lmd_tok_json_string(FILE *out, const char *s, size_t len)
{
    const unsigned char  *p = (const unsigned char *) s;
    size_t                i, n;

    putc('"', out);
    for (i = 0; i < len; i += n) {
        n = lmd_tok_utf8_len(p + i, len - i);
        if (n == 0) {
            fputs("\\ufffd", out);
            n = 1;
        } else if (n > 1) {
            fwrite(p + i, 1, n, out);
        } else if (p[i] == '"' || p[i] == '\\') {
            fprintf(out, "\\%c", p[i]);
        } else if (p[i] == '\n') {
            fputs("\\n", out);
        } else if (p[i] == '\t') {
            fputs("\\t", out);
        } else if (p[i] == '\r') {
            fputs("\\r", out);
        } else if (p[i] < 0x20 || p[i] == 0x7f) {
            fprintf(out, "\\u%04x", p[i]);
        } else {
            putc(p[i], out);
        }
    }
    putc('"', out);
}


/* Writes a token string for a space-separated line: blanks, backslashes
 * and control bytes escaped C-style, so that each token is one word. */
static void
lmd_tok_word(FILE *out, const char *s, size_t len)
{
    const unsigned char  *p, *end;

    end = (const unsigned char *) s + len;
    for (p = (const unsigned char *) s; p < end; p++) {
        switch (*p) {
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            if (*p <= 0x20 || *p == 0x7f) {
                fprintf(out, "\\x%02x", *p);
            } else {
                putc(*p, out);
            }
        }
    }
}


static void
lmd_tok_print_ids(const struct lmd_tokens *ids, int json)
{
    size_t  i;

    if (json) {
        putchar('[');
    }
    for (i = 0; i < ids->n; i++) {
        printf("%s%d", i == 0 ? "" : json ? ", " : " ", (int) ids->ids[i]);
    }
    fputs(json ? "]\n" : "\n", stdout);
}


static void
lmd_tok_print_tokens(const struct lmd_tokenizer *t,
    const struct lmd_tokens *ids, int json)
{
    const char  *piece;
    size_t       i, len;

    if (json) {
        putchar('[');
    }
    for (i = 0; i < ids->n; i++) {
        piece = lmd_tokenizer_piece_bytes(t, ids->ids[i], &len);
        if (piece == NULL) {
            piece = "";
            len = 0;
        }
        if (i > 0) {
            fputs(json ? ", " : " ", stdout);
        }
        if (json) {
            lmd_tok_json_string(stdout, piece, len);
        } else {
            lmd_tok_word(stdout, piece, len);
        }
    }
    fputs(json ? "]\n" : "\n", stdout);
}


/* -------------------------------------------------------------- the verbs */

static int
lmd_tok_encode(const struct lmd_tokenizer *t, const struct lmd_tok_opts *o)
{
    struct lmd_tokens   ids = { NULL, 0, 0 };
    char               *text = NULL, err[LMD_ERR_LEN];
    const char         *s;
    size_t              len;
    int                 rc;

    if (strcmp(o->args[0], "-") == 0) {
        if (lmd_tok_read_stdin(&text, &len) != LMD_OK) {
            return 1;
        }
        s = text;
    } else {
        s = o->args[0];
        len = strlen(s);
    }

    err[0] = '\0';
    rc = lmd_tokenizer_encode(t, s, len, o->special, &ids, err, sizeof(err));
    free(text);
    if (rc != LMD_OK) {
        fprintf(stderr, "lmd tokenize: encoding failed: %s\n",
                err[0] ? err : "(no reason given)");
        lmd_tokens_free(&ids);
        return 1;
    }

    if (o->tokens) {
        lmd_tok_print_tokens(t, &ids, o->json);
    } else {
        lmd_tok_print_ids(&ids, o->json);
    }
    lmd_tokens_free(&ids);
    return 0;
}


static int
lmd_tok_decode(const struct lmd_tokenizer *t, const struct lmd_tok_opts *o)
{
    struct lmd_tokens   ids = { NULL, 0, 0 };
    char               *in, *text;
    size_t              vocab, len;
    int                 i, rc = 1;

    vocab = lmd_tokenizer_vocab_size(t);
    if (o->nargs == 0 || (o->nargs == 1 && strcmp(o->args[0], "-") == 0)) {
        if (lmd_tok_read_stdin(&in, &len) != LMD_OK) {
            return 1;
        }
        rc = lmd_tok_parse_ids(in, len, vocab, &ids);
        free(in);
        if (rc != LMD_OK) {
            goto done;
        }
    } else {
        for (i = 0; i < o->nargs; i++) {
            if (lmd_tok_parse_ids(o->args[i], strlen(o->args[i]), vocab,
                                  &ids) != LMD_OK)
            {
                goto done;
            }
        }
    }

    if (o->tokens) {
        lmd_tok_print_tokens(t, &ids, o->json);
        rc = 0;
        goto done;
    }

    if (lmd_tokenizer_decode(t, ids.ids, ids.n, o->skip_special, &text,
                             &len) != LMD_OK)
    {
        fprintf(stderr, "lmd tokenize: decoding failed (an id the "
                "tokenizer cannot decode, or out of memory)\n");
        rc = 1;
        goto done;
    }
    if (o->json) {
        lmd_tok_json_string(stdout, text, len);
        putchar('\n');
    } else {
        fwrite(text, 1, len, stdout);
    }
    free(text);
    rc = 0;

done:

    lmd_tokens_free(&ids);
    return rc;
}


int
lmd_cmd_tokenize(int argc, char **argv)
{
    struct lmd_tok_opts    o;
    struct lmd_tokenizer  *t;
    char                   err[LMD_ERR_LEN];
    int                    rc;

    rc = lmd_tok_parse_args(argc, argv, &o);
    if (rc >= 0) {
        free(o.args);
        return rc;
    }

    err[0] = '\0';
    t = lmd_tokenizer_load(o.path, err, sizeof(err));
    if (t == NULL) {
        fprintf(stderr, "lmd tokenize: %s\n",
                err[0] ? err : "cannot load the tokenizer");
        free(o.args);
        return 1;
    }

    rc = o.decode ? lmd_tok_decode(t, &o) : lmd_tok_encode(t, &o);
    lmd_tokenizer_free(t);
    free(o.args);

    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "lmd tokenize: writing the output: %s\n",
                strerror(errno));
        return 1;
    }
    return rc;
}
