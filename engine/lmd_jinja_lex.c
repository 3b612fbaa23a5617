/*
 * lmd_jinja_lex.c -- template source to tokens, following jinja2 3.1's
 * lexer with the settings transformers uses (trim_blocks, lstrip_blocks,
 * keep_trailing_newline off).
 *
 * The source is first normalized as jinja2 does: "\r\n" and "\r" become
 * "\n" and one trailing newline is dropped.  Then the text between tags
 * becomes DATA tokens, with the whitespace rules applied to it:
 *
 *   {%- {{- {#-   strip all white space (newlines too) before the tag;
 *   -%} -}} -#}   strip all white space after it;
 *   %} #}         trim_blocks: drop one newline right after;
 *   {% {#         lstrip_blocks: drop spaces and tabs between the start of
 *                 the line and the tag ("{%+" keeps them, "+%}" keeps the
 *                 newline);
 *   {# ... #}     comments vanish; {% raw %}...{% endraw %} is data.
 *
 * Inside {{ }} and {% %}: names, strings (Python escapes), integers
 * (0x, 0o, 0b, underscores), floats and operators.  An end delimiter
 * inside open brackets is read as brackets ({{ {'a': 1}}} works).
 * Positions are 1-based lines and columns counted in characters.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmd_jinja.h"

struct lmd_jlexer {
    const char          *src;
    size_t               len;
    size_t               pos;
    int                  line_starting;  /* the last match ended a line */

    size_t               at;             /* where the line cache is */
    int                  line;
    size_t               bol;            /* offset of that line's start */

    struct lmd_jarena   *arena;
    struct lmd_jtoks    *toks;
    char                *err;
    size_t               errlen;
};

enum {
    LMD_JTAG_VAR,
    LMD_JTAG_BLOCK,
    LMD_JTAG_COMMENT
};


/* ------------------------------------------------------------------------
 * Positions and errors
 * ------------------------------------------------------------------------ */

static void
lmd_jlex_where(struct lmd_jlexer *lx, size_t off, int *line, int *col)
{
    size_t  k;

    if (off < lx->at) {
        lx->at = 0;
        lx->line = 1;
        lx->bol = 0;
    }
    for (k = lx->at; k < off; k++) {
        if (lx->src[k] == '\n') {
            lx->line++;
            lx->bol = k + 1;
        }
    }
    lx->at = off;
    *line = lx->line;
    *col = (int) lmd_utf8_count(lx->src + lx->bol, off - lx->bol) + 1;
}


static int
lmd_jlex_fail(struct lmd_jlexer *lx, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
lmd_jlex_fail(struct lmd_jlexer *lx, size_t off, const char *fmt, ...)
{
    va_list  ap;
    char     msg[LMD_ERR_LEN];
    int      line, col;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lmd_jlex_where(lx, off, &line, &col);
    snprintf(lx->err, lx->errlen, "line %d, column %d: %s", line, col, msg);
    return LMD_ERROR;
}


static struct lmd_jtok *
lmd_jlex_push(struct lmd_jlexer *lx, int type, size_t off)
{
    struct lmd_jtoks  *t;
    struct lmd_jtok   *v, *tok;
    size_t             cap;

    t = lx->toks;
    if (t->n == t->cap) {
        cap = t->cap ? t->cap * 2 : 256;
        v = realloc(t->v, cap * sizeof(*v));
        if (v == NULL) {
            lmd_jlex_fail(lx, off, "out of memory");
            return NULL;
        }
        t->v = v;
        t->cap = cap;
    }
    tok = &t->v[t->n++];
    memset(tok, 0, sizeof(*tok));
    tok->type = type;
    lmd_jlex_where(lx, off, &tok->line, &tok->col);
    return tok;
}


/* ------------------------------------------------------------------------
 * Data between tags
 * ------------------------------------------------------------------------ */

/* The end of src[b, e) without its trailing white space. */
static size_t
lmd_jlex_rstrip(const char *src, size_t b, size_t e)
{
    size_t    k, n, last;
    uint32_t  cp;

    last = b;
    for (k = b; k < e; k += n) {
        n = lmd_utf8_next(src + k, e - k, &cp);
        if (!lmd_jinja_isspace(cp)) {
            last = k + n;
        }
    }
    return last;
}


/* The offset after the white space run at k. */
static size_t
lmd_jlex_skip_space(const struct lmd_jlexer *lx, size_t k)
{
    size_t  n;

    while ((n = lmd_jinja_space_at(lx->src + k, lx->len - k)) > 0) {
        k += n;
    }
    return k;
}


/* Emits src[b, e) as data, first applying the rules of the tag that
 * follows it: sign '-' strips trailing white space; otherwise, for block
 * and comment tags (lstrip), white space between the line's start and the
 * tag goes. */
static int
lmd_jlex_data(struct lmd_jlexer *lx, size_t b, size_t e, int sign,
    int lstrip)
{
    struct lmd_jtok  *tok;
    size_t            l, k;

    if (sign == '-') {
        e = lmd_jlex_rstrip(lx->src, b, e);
    } else if (sign != '+' && lstrip) {
        /* the start of the tag's line within the data */
        l = e;
        while (l > b && lx->src[l - 1] != '\n') {
            l--;
        }
        if ((l > b || lx->line_starting) && l < e) {
            k = lmd_jlex_skip_space(lx, l);
            if (k >= e) {
                e = l;
            }
        }
    }
    if (e == b) {
        return LMD_OK;
    }
    tok = lmd_jlex_push(lx, LMD_JT_DATA, b);
    if (tok == NULL) {
        return LMD_ERROR;
    }
    tok->str = lmd_jarena_str(lx->arena, lx->src + b, e - b);
    if (tok->str == NULL) {
        return lmd_jlex_fail(lx, b, "out of memory");
    }
    return LMD_OK;
}


/* ------------------------------------------------------------------------
 * Inside tags: numbers, names, strings, operators
 * ------------------------------------------------------------------------ */

static int
lmd_jlex_isdigit(char c, int base)
{
    if (base == 16) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
               || (c >= 'A' && c <= 'F');
    }
    return c >= '0' && c < '0' + base;
}


/* (\d+_)*\d+ at k: its end, or k when there is none. */
static size_t
lmd_jlex_digits(const struct lmd_jlexer *lx, size_t k)
{
    size_t  e;

    if (k >= lx->len || !lmd_jlex_isdigit(lx->src[k], 10)) {
        return k;
    }
    e = k;
    for (;;) {
        while (e < lx->len && lmd_jlex_isdigit(lx->src[e], 10)) {
            e++;
        }
        if (e + 1 < lx->len && lx->src[e] == '_'
            && lmd_jlex_isdigit(lx->src[e + 1], 10))
        {
            e++;
            continue;
        }
        return e;
    }
}


/* The end of a float at k, or 0 when there is none: jinja2's
 * (?<!\.)D((\.D)?e[+-]?D|\.D) with D = (\d+_)*\d+. */
static size_t
lmd_jlex_float_end(const struct lmd_jlexer *lx, size_t k)
{
    size_t  q, r, s, t;

    if (k > 0 && lx->src[k - 1] == '.') {
        return 0;
    }
    q = lmd_jlex_digits(lx, k);
    if (q == k) {
        return 0;
    }
    r = q;
    if (r < lx->len && lx->src[r] == '.') {
        t = lmd_jlex_digits(lx, r + 1);
        if (t > r + 1) {
            r = t;
        }
    }
    if (r < lx->len && (lx->src[r] == 'e' || lx->src[r] == 'E')) {
        s = r + 1;
        if (s < lx->len && (lx->src[s] == '+' || lx->src[s] == '-')) {
            s++;
        }
        t = lmd_jlex_digits(lx, s);
        if (t > s) {
            return t;
        }
    }
    if (q < lx->len && lx->src[q] == '.') {
        t = lmd_jlex_digits(lx, q + 1);
        if (t > q + 1) {
            return t;
        }
    }
    return 0;
}


static int
lmd_jlex_number(struct lmd_jlexer *lx)
{
    struct lmd_jtok  *tok;
    char              tmp[128];
    size_t            k, e, o;
    int               base;
    uint64_t          v, d;

    k = lx->pos;
    e = lmd_jlex_float_end(lx, k);
    if (e > 0) {
        o = 0;
        for (; k < e; k++) {
            if (lx->src[k] != '_' && o < sizeof(tmp) - 1) {
                tmp[o++] = lx->src[k];
            }
        }
        tmp[o] = '\0';
        tok = lmd_jlex_push(lx, LMD_JT_FLOAT, lx->pos);
        if (tok == NULL) {
            return LMD_ERROR;
        }
        tok->f = strtod(tmp, NULL);
        lx->pos = e;
        return LMD_OK;
    }

    /* 0b.., 0o.., 0x.. need a digit after the prefix, else it is "0" */
    base = 10;
    e = k;
    if (lx->src[k] == '0' && k + 1 < lx->len) {
        switch (lx->src[k + 1]) {
        case 'b': case 'B':
            base = 2;
            break;
        case 'o': case 'O':
            base = 8;
            break;
        case 'x': case 'X':
            base = 16;
            break;
        default:
            break;
        }
    }
    if (base != 10) {
        e = k + 2;
        for (;;) {
            if (e < lx->len && lmd_jlex_isdigit(lx->src[e], base)) {
                e++;
            } else if (e + 1 < lx->len && lx->src[e] == '_'
                       && lmd_jlex_isdigit(lx->src[e + 1], base))
            {
                e += 2;
            } else {
                break;
            }
        }
        if (e == k + 2) {
            base = 10;
            e = k;
        } else {
            k += 2;
        }
    }
    if (base == 10) {
        if (lx->src[k] == '0') {
            /* 0(_?0)* */
            e = k + 1;
            for (;;) {
                if (e < lx->len && lx->src[e] == '0') {
                    e++;
                } else if (e + 1 < lx->len && lx->src[e] == '_'
                           && lx->src[e + 1] == '0')
                {
                    e += 2;
                } else {
                    break;
                }
            }
        } else {
            e = lmd_jlex_digits(lx, k);
        }
    }

    v = 0;
    for (; k < e; k++) {
        if (lx->src[k] == '_') {
            continue;
        }
        d = (uint64_t) (lx->src[k] >= 'a' ? lx->src[k] - 'a' + 10
                        : lx->src[k] >= 'A' ? lx->src[k] - 'A' + 10
                        : lx->src[k] - '0');
        if (v > (UINT64_C(0x7fffffffffffffff) - d) / (uint64_t) base) {
            return lmd_jlex_fail(lx, lx->pos, "integer literal too large "
                                 "(the limit is 2**63 - 1)");
        }
        v = v * (uint64_t) base + d;
    }
    tok = lmd_jlex_push(lx, LMD_JT_INT, lx->pos);
    if (tok == NULL) {
        return LMD_ERROR;
    }
    tok->i = (int64_t) v;
    lx->pos = e;
    return LMD_OK;
}


static int
lmd_jlex_hex(const char *s, size_t n, uint32_t *v)
{
    size_t  i;
    char    c;

    *v = 0;
    for (i = 0; i < n; i++) {
        c = s[i];
        if (!lmd_jlex_isdigit(c, 16)) {
            return LMD_ERROR;
        }
        *v = *v * 16 + (uint32_t) (c >= 'a' ? c - 'a' + 10
                                   : c >= 'A' ? c - 'A' + 10 : c - '0');
    }
    return LMD_OK;
}


/* Decodes a string literal's body like Python's "unicode-escape" codec
 * after jinja2's encode("ascii", "backslashreplace"). */
static int
lmd_jlex_unescape(struct lmd_jlexer *lx, size_t b, size_t e,
    struct lmd_jbuf *out, struct lmd_jctx *ctx)
{
    const char  *s;
    size_t       k, n, digits;
    uint32_t     cp, v;
    char         tmp[16];
    int          rc;

    s = lx->src;
    rc = lmd_jbuf_add(ctx, out, "", 0);
    for (k = b; rc == LMD_OK && k < e; ) {
        if (s[k] != '\\') {
            n = 1;
            while (k + n < e && s[k + n] != '\\') {
                n++;
            }
            rc = lmd_jbuf_add(ctx, out, s + k, n);
            k += n;
            continue;
        }
        k++;
        n = lmd_utf8_next(s + k, e - k, &cp);
        if (cp >= 0x80) {
            /* "\é" was "\\xe9" after backslashreplace: a backslash and
             * the escape's text */
            if (cp < 0x100) {
                snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned) cp);
            } else if (cp < 0x10000) {
                snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned) cp);
            } else {
                snprintf(tmp, sizeof(tmp), "\\U%08x", (unsigned) cp);
            }
            rc = lmd_jbuf_add(ctx, out, tmp, strlen(tmp));
            k += n;
            continue;
        }
        k++;
        switch (cp) {
        case '\n':
            continue;
        case '\\': case '\'': case '"':
            tmp[0] = (char) cp;
            rc = lmd_jbuf_add(ctx, out, tmp, 1);
            continue;
        case 'a':
            rc = lmd_jbuf_add(ctx, out, "\a", 1);
            continue;
        case 'b':
            rc = lmd_jbuf_add(ctx, out, "\b", 1);
            continue;
        case 'f':
            rc = lmd_jbuf_add(ctx, out, "\f", 1);
            continue;
        case 'n':
            rc = lmd_jbuf_add(ctx, out, "\n", 1);
            continue;
        case 'r':
            rc = lmd_jbuf_add(ctx, out, "\r", 1);
            continue;
        case 't':
            rc = lmd_jbuf_add(ctx, out, "\t", 1);
            continue;
        case 'v':
            rc = lmd_jbuf_add(ctx, out, "\v", 1);
            continue;
        case 'x': case 'u': case 'U':
            digits = cp == 'x' ? 2 : cp == 'u' ? 4 : 8;
            if (k + digits > e || lmd_jlex_hex(s + k, digits, &v) != LMD_OK)
            {
                return lmd_jlex_fail(lx, k - 2, "truncated \\%c escape in "
                                     "a string", (char) cp);
            }
            if (v > 0x10ffff) {
                return lmd_jlex_fail(lx, k - 2, "illegal Unicode character "
                                     "in a string");
            }
            k += digits;
            rc = lmd_jbuf_add(ctx, out, tmp, lmd_utf8_put(v, tmp));
            continue;
        case 'N':
            return lmd_jlex_fail(lx, k - 2, "\\N{...} escapes are not "
                                 "supported");
        default:
            break;
        }
        if (cp >= '0' && cp <= '7') {
            v = cp - '0';
            for (digits = 1; digits < 3 && k < e && s[k] >= '0'
                 && s[k] <= '7'; digits++)
            {
                v = v * 8 + (uint32_t) (s[k++] - '0');
            }
            rc = lmd_jbuf_add(ctx, out, tmp, lmd_utf8_put(v, tmp));
            continue;
        }
        /* unknown escapes stay as they are */
        tmp[0] = '\\';
        tmp[1] = (char) cp;
        rc = lmd_jbuf_add(ctx, out, tmp, 2);
    }
    if (rc != LMD_OK) {
        return lmd_jlex_fail(lx, b, "%s", ctx->msg);
    }
    return LMD_OK;
}


static int
lmd_jlex_string(struct lmd_jlexer *lx)
{
    struct lmd_jtok  *tok;
    struct lmd_jctx   ctx;
    struct lmd_jbuf   buf;
    size_t            k, start;
    char              q;
    int               rc;

    start = lx->pos;
    q = lx->src[start];
    for (k = start + 1; k < lx->len && lx->src[k] != q; k++) {
        if (lx->src[k] == '\\') {
            k++;
        }
    }
    if (k >= lx->len) {
        return lmd_jlex_fail(lx, start, "unterminated string");
    }
    memset(&ctx, 0, sizeof(ctx));
    memset(&buf, 0, sizeof(buf));
    rc = lmd_jlex_unescape(lx, start + 1, k, &buf, &ctx);
    if (rc == LMD_OK) {
        tok = lmd_jlex_push(lx, LMD_JT_STRING, start);
        if (tok == NULL) {
            rc = LMD_ERROR;
        } else {
            tok->str = lmd_jarena_str(lx->arena, buf.data, buf.len);
            if (tok->str == NULL) {
                rc = lmd_jlex_fail(lx, start, "out of memory");
            }
        }
    }
    free(buf.data);
    lx->pos = k + 1;
    return rc;
}


static const struct {
    const char  *text;
    int          op;
} lmd_jlex_ops[] = {
    { "//", LMD_JOP_FLOORDIV }, { "**", LMD_JOP_POW }, { "==", LMD_JOP_EQ },
    { "!=", LMD_JOP_NE }, { ">=", LMD_JOP_GE }, { "<=", LMD_JOP_LE },
    { "+", LMD_JOP_ADD }, { "-", LMD_JOP_SUB }, { "/", LMD_JOP_DIV },
    { "*", LMD_JOP_MUL }, { "%", LMD_JOP_MOD }, { "~", LMD_JOP_TILDE },
    { "[", LMD_JOP_LBRACKET }, { "]", LMD_JOP_RBRACKET },
    { "(", LMD_JOP_LPAREN }, { ")", LMD_JOP_RPAREN },
    { "{", LMD_JOP_LBRACE }, { "}", LMD_JOP_RBRACE }, { ">", LMD_JOP_GT },
    { "<", LMD_JOP_LT }, { "=", LMD_JOP_ASSIGN }, { ".", LMD_JOP_DOT },
    { ":", LMD_JOP_COLON }, { "|", LMD_JOP_PIPE }, { ",", LMD_JOP_COMMA },
    { ";", LMD_JOP_SEMICOLON }
};


/* Tokens up to the tag's end delimiter.  stack holds the open brackets:
 * while one is open, "}}" and "%}" are brackets, not the end. */
static int
lmd_jlex_tag(struct lmd_jlexer *lx, int kind, size_t tag_off)
{
    struct lmd_jtok  *tok;
    char              stack[LMD_JINJA_MAX_NEST], close;
    const char       *s, *text;
    size_t            k, e, i, n;
    int               depth, end_type;

    s = lx->src;
    depth = 0;
    end_type = kind == LMD_JTAG_BLOCK ? LMD_JT_BLOCK_END : LMD_JT_VAR_END;
    for (;;) {
        k = lx->pos;
        if (k >= lx->len) {
            return lmd_jlex_fail(lx, tag_off, "'%s' is never closed",
                                 kind == LMD_JTAG_BLOCK ? "{%" : "{{");
        }

        e = 0;
        if (depth == 0 && kind == LMD_JTAG_BLOCK) {
            if (s[k] == '+' && k + 2 < lx->len && s[k + 1] == '%'
                && s[k + 2] == '}')
            {
                e = k + 3;
            } else if (s[k] == '-' && k + 2 < lx->len && s[k + 1] == '%'
                       && s[k + 2] == '}')
            {
                e = lmd_jlex_skip_space(lx, k + 3);
            } else if (s[k] == '%' && k + 1 < lx->len && s[k + 1] == '}') {
                e = k + 2;
                if (e < lx->len && s[e] == '\n') {
                    e++;                        /* trim_blocks */
                }
            }
        } else if (depth == 0) {
            if (s[k] == '-' && k + 2 < lx->len && s[k + 1] == '}'
                && s[k + 2] == '}')
            {
                e = lmd_jlex_skip_space(lx, k + 3);
            } else if (s[k] == '}' && k + 1 < lx->len && s[k + 1] == '}') {
                e = k + 2;
            }
        }
        if (e > 0) {
            if (lmd_jlex_push(lx, end_type, k) == NULL) {
                return LMD_ERROR;
            }
            lx->pos = e;
            lx->line_starting = s[e - 1] == '\n';
            return LMD_OK;
        }

        n = lmd_jinja_space_at(s + k, lx->len - k);
        if (n > 0) {
            lx->pos = lmd_jlex_skip_space(lx, k);
            continue;
        }
        if (s[k] >= '0' && s[k] <= '9') {
            if (lmd_jlex_number(lx) != LMD_OK) {
                return LMD_ERROR;
            }
            continue;
        }
        if ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z')
            || s[k] == '_')
        {
            for (e = k + 1; e < lx->len
                 && ((s[e] >= 'a' && s[e] <= 'z')
                     || (s[e] >= 'A' && s[e] <= 'Z')
                     || (s[e] >= '0' && s[e] <= '9') || s[e] == '_'); e++)
            {
                /* the name's characters */
            }
            tok = lmd_jlex_push(lx, LMD_JT_NAME, k);
            if (tok == NULL) {
                return LMD_ERROR;
            }
            tok->name = lmd_jarena_strdup(lx->arena, s + k, e - k);
            if (tok->name == NULL) {
                return lmd_jlex_fail(lx, k, "out of memory");
            }
            lx->pos = e;
            continue;
        }
        if (s[k] == '\'' || s[k] == '"') {
            if (lmd_jlex_string(lx) != LMD_OK) {
                return LMD_ERROR;
            }
            continue;
        }

        for (i = 0; i < sizeof(lmd_jlex_ops) / sizeof(lmd_jlex_ops[0]);
             i++)
        {
            text = lmd_jlex_ops[i].text;
            n = strlen(text);
            if (k + n <= lx->len && memcmp(s + k, text, n) == 0) {
                break;
            }
        }
        if (i == sizeof(lmd_jlex_ops) / sizeof(lmd_jlex_ops[0])) {
            n = lmd_utf8_next(s + k, lx->len - k, &(uint32_t){ 0 });
            return lmd_jlex_fail(lx, k, "unexpected character '%.*s'",
                                 (int) n, s + k);
        }
        switch (text[0]) {
        case '(': case '[': case '{':
            if (depth == LMD_JINJA_MAX_NEST) {
                return lmd_jlex_fail(lx, k, "brackets nested deeper than "
                                     "%d levels", LMD_JINJA_MAX_NEST);
            }
            stack[depth++] = text[0] == '(' ? ')'
                             : text[0] == '[' ? ']' : '}';
            break;
        case ')': case ']': case '}':
            if (depth == 0) {
                return lmd_jlex_fail(lx, k, "unexpected '%c'", text[0]);
            }
            close = stack[--depth];
            if (close != text[0]) {
                return lmd_jlex_fail(lx, k, "unexpected '%c', expected "
                                     "'%c'", text[0], close);
            }
            break;
        default:
            break;
        }
        tok = lmd_jlex_push(lx, LMD_JT_OP, k);
        if (tok == NULL) {
            return LMD_ERROR;
        }
        tok->op = lmd_jlex_ops[i].op;
        lx->pos = k + n;
    }
}


/* ------------------------------------------------------------------------
 * Comments and raw blocks
 * ------------------------------------------------------------------------ */

static int
lmd_jlex_comment(struct lmd_jlexer *lx, size_t tag_off, size_t cstart)
{
    const char  *hit;
    size_t       j, e;

    hit = memmem(lx->src + cstart, lx->len - cstart, "#}", 2);
    if (hit == NULL) {
        return lmd_jlex_fail(lx, tag_off, "the comment is never closed "
                             "(no '#}')");
    }
    j = (size_t) (hit - lx->src);
    e = j + 2;
    if (j > cstart && lx->src[j - 1] == '-') {
        e = lmd_jlex_skip_space(lx, e);
    } else if (e < lx->len && lx->src[e] == '\n') {
        e++;                                    /* trim_blocks */
    }
    lx->pos = e;
    lx->line_starting = lx->src[e - 1] == '\n';
    return LMD_OK;
}


/* At a "{%" at k: the end of "{%[-+]? raw [-]%}" or 0. */
static size_t
lmd_jlex_raw_begin(const struct lmd_jlexer *lx, size_t k)
{
    const char  *s;
    size_t       p;

    s = lx->src;
    p = k + 2;
    if (p < lx->len && (s[p] == '-' || s[p] == '+')) {
        p++;
    }
    p = lmd_jlex_skip_space(lx, p);
    if (p + 3 > lx->len || memcmp(s + p, "raw", 3) != 0) {
        return 0;
    }
    p = lmd_jlex_skip_space(lx, p + 3);
    if (p + 3 <= lx->len && memcmp(s + p, "-%}", 3) == 0) {
        return lmd_jlex_skip_space(lx, p + 3);
    }
    if (p + 2 <= lx->len && memcmp(s + p, "%}", 2) == 0) {
        return p + 2;
    }
    return 0;
}


/* The raw text from pos to the first "{% endraw %}", as data. */
static int
lmd_jlex_raw(struct lmd_jlexer *lx, size_t tag_off)
{
    const char  *s, *hit;
    size_t       k, p, e;
    int          sign;

    s = lx->src;
    for (k = lx->pos; ; k = (size_t) (hit - s) + 2) {
        hit = memmem(s + k, lx->len - k, "{%", 2);
        if (hit == NULL) {
            return lmd_jlex_fail(lx, tag_off, "the raw block is never "
                                 "closed (no '{%% endraw %%}')");
        }
        p = (size_t) (hit - s) + 2;
        sign = 0;
        if (p < lx->len && (s[p] == '-' || s[p] == '+')) {
            sign = s[p++];
        }
        p = lmd_jlex_skip_space(lx, p);
        if (p + 6 > lx->len || memcmp(s + p, "endraw", 6) != 0) {
            continue;
        }
        p = lmd_jlex_skip_space(lx, p + 6);
        if (p + 3 <= lx->len && memcmp(s + p, "+%}", 3) == 0) {
            e = p + 3;
        } else if (p + 3 <= lx->len && memcmp(s + p, "-%}", 3) == 0) {
            e = lmd_jlex_skip_space(lx, p + 3);
        } else if (p + 2 <= lx->len && memcmp(s + p, "%}", 2) == 0) {
            e = p + 2;
            if (e < lx->len && s[e] == '\n') {
                e++;
            }
        } else {
            continue;
        }
        if (lmd_jlex_data(lx, lx->pos, (size_t) (hit - s), sign, 1)
            != LMD_OK)
        {
            return LMD_ERROR;
        }
        lx->pos = e;
        lx->line_starting = s[e - 1] == '\n';
        return LMD_OK;
    }
}


/* ------------------------------------------------------------------------
 * The root state
 * ------------------------------------------------------------------------ */

static int
lmd_jlex_run(struct lmd_jlexer *lx)
{
    const char  *s, *hit;
    size_t       k, t, after;
    int          kind, sign, type;

    s = lx->src;
    while (lx->pos < lx->len) {
        /* the next "{{", "{%" or "{#" */
        t = lx->len;
        for (k = lx->pos; k + 1 < lx->len; k = (size_t) (hit - s) + 1) {
            hit = memchr(s + k, '{', lx->len - k - 1);
            if (hit == NULL) {
                break;
            }
            if (hit[1] == '{' || hit[1] == '%' || hit[1] == '#') {
                t = (size_t) (hit - s);
                break;
            }
        }
        if (t == lx->len) {
            if (lmd_jlex_data(lx, lx->pos, lx->len, 0, 0) != LMD_OK) {
                return LMD_ERROR;
            }
            lx->pos = lx->len;
            break;
        }

        kind = s[t + 1] == '{' ? LMD_JTAG_VAR
               : s[t + 1] == '%' ? LMD_JTAG_BLOCK : LMD_JTAG_COMMENT;
        sign = (t + 2 < lx->len && (s[t + 2] == '-' || s[t + 2] == '+'))
               ? s[t + 2] : 0;
        after = kind == LMD_JTAG_BLOCK ? lmd_jlex_raw_begin(lx, t) : 0;

        if (lmd_jlex_data(lx, lx->pos, t, sign, kind != LMD_JTAG_VAR)
            != LMD_OK)
        {
            return LMD_ERROR;
        }

        if (after > 0) {
            lx->pos = after;
            lx->line_starting = s[after - 1] == '\n';
            if (lmd_jlex_raw(lx, t) != LMD_OK) {
                return LMD_ERROR;
            }
            continue;
        }

        lx->pos = t + 2 + (sign ? 1 : 0);
        lx->line_starting = 0;
        if (kind == LMD_JTAG_COMMENT) {
            if (lmd_jlex_comment(lx, t, lx->pos) != LMD_OK) {
                return LMD_ERROR;
            }
            continue;
        }
        type = kind == LMD_JTAG_BLOCK ? LMD_JT_BLOCK_BEGIN
                                      : LMD_JT_VAR_BEGIN;
        if (lmd_jlex_push(lx, type, t) == NULL
            || lmd_jlex_tag(lx, kind, t) != LMD_OK)
        {
            return LMD_ERROR;
        }
    }
    return lmd_jlex_push(lx, LMD_JT_EOF, lx->len) ? LMD_OK : LMD_ERROR;
}


int
lmd_jinja_lex(struct lmd_jarena *a, const char *src, size_t len,
    struct lmd_jtoks *toks, char *err, size_t errlen)
{
    struct lmd_jlexer   lx;
    char               *norm;
    size_t              i, n;
    int                 rc;

    /* jinja2 normalizes newlines and drops one trailing newline */
    norm = malloc(len + 1);
    if (norm == NULL) {
        snprintf(err, errlen, "out of memory");
        return LMD_ERROR;
    }
    n = 0;
    for (i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') {
                i++;
            }
        } else {
            norm[n++] = src[i];
        }
    }
    if (n > 0 && norm[n - 1] == '\n') {
        n--;
    }
    norm[n] = '\0';

    memset(&lx, 0, sizeof(lx));
    lx.src = norm;
    lx.len = n;
    lx.line_starting = 1;
    lx.line = 1;
    lx.arena = a;
    lx.toks = toks;
    lx.err = err;
    lx.errlen = errlen;
    rc = lmd_jlex_run(&lx);
    free(norm);
    return rc;
}
