/*
 * lmd_jinja.h -- the insides of the chat-template interpreter, shared by
 * engine/lmd_jinja_*.c and engine/lmd_chat_template.c and by nothing else.
 *
 * The pipeline: lmd_jinja_lex() turns the source into tokens, applying
 * jinja2's whitespace rules (trim_blocks, lstrip_blocks, the "-" and "+"
 * markers) on the way; lmd_jinja_parse() builds a tree of nodes in the
 * template's arena; lmd_jinja_exec() walks the tree once per render.
 *
 * Values (struct lmd_jv) are small structs passed by value.  Strings,
 * lists, dicts, namespaces, functions and loop states live on the heap
 * behind a reference count; none, booleans, numbers and undefined are
 * immediate.
 *
 * Design: ownership.  A function that returns a value through
 * `struct lmd_jv *out` hands over one reference; arguments are borrowed.
 * The tree's constants are immortal (refs < 0): a parsed template is shared
 * by concurrent renders, so nothing of it is ever written after parsing.
 * The only mutable objects are namespaces, so the only possible reference
 * cycles go through them ({% set ns.me = ns %}); every render keeps a list
 * of the namespaces it made and empties them at the end, which breaks any
 * cycle.  Scopes are counted too: a macro holds the scope it was defined
 * in, and a block's scope is emptied when the block ends.
 *
 * Errors: helpers write a message with lmd_jerr(); the evaluator that
 * called the failing helper stamps the position of its node with
 * lmd_jerr_at(), so the message points at the innermost construct.  The
 * first message wins.
 */

#ifndef LMD_JINJA_H
#define LMD_JINJA_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lmd_common.h"

/* Limits of one render and of parsing; past them a render fails with a
 * message naming the limit instead of eating the machine. */
#define LMD_JINJA_MAX_OUTPUT   (64u << 20)  /* bytes: output, any string */
#define LMD_JINJA_MAX_ITEMS    (1u << 22)   /* items in one list or dict */
#define LMD_JINJA_MAX_LOOPS    1000000      /* loop iterations per render */
#define LMD_JINJA_MAX_CALLS    64           /* nested macro calls */
#define LMD_JINJA_MAX_NEST     100          /* nested blocks, expressions */
#define LMD_JINJA_MAX_DEPTH    200          /* nesting printed or compared */
#define LMD_JINJA_MAX_RANGE    100000       /* range() items, as jinja's
                                               sandbox allows */
#define LMD_JINJA_MAX_ARGS     32           /* arguments of one call */

struct lmd_jnode;
struct lmd_jscope;
struct lmd_jargs;


/* ------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------ */

enum lmd_jv_type {
    LMD_JV_UNDEF = 0,               /* jinja2's default Undefined */
    LMD_JV_NONE,
    LMD_JV_BOOL,                    /* u.i is 0 or 1 */
    LMD_JV_INT,                     /* int64; overflow is an error */
    LMD_JV_FLOAT,
    LMD_JV_STR,
    LMD_JV_LIST,                    /* also tuples, iterators, views */
    LMD_JV_DICT,
    LMD_JV_NS,                      /* namespace(): a dict of attributes */
    LMD_JV_FUNC,
    LMD_JV_LOOP                     /* the `loop` of a for block */
};

/* flags of a LIST value */
#define LMD_JV_TUPLE     0x01
#define LMD_JV_GEN       0x02       /* an iterator: no len, no [], prints
                                       as <generator>: refused */
#define LMD_JV_RANGE     0x04       /* range(): prints as range(...) */
#define LMD_JV_KEYS      0x08       /* dict.keys() */
#define LMD_JV_VALUES    0x10       /* dict.values() */
#define LMD_JV_ITEMS     0x20       /* dict.items() */
#define LMD_JV_VIEW      (LMD_JV_KEYS | LMD_JV_VALUES | LMD_JV_ITEMS)

/* flags of a STR value */
#define LMD_JV_MARKUP    0x01       /* from |safe or |escape */

/* flags of an UNDEF value */
#define LMD_JV_HINT      0x01       /* u.undef.name is the whole message */
#define LMD_JV_MISSING   0x02       /* an argument that was not passed */

struct lmd_jobj {
    int                      refs;      /* < 0: immortal */
};

struct lmd_jv {
    unsigned char            type;      /* enum lmd_jv_type */
    unsigned char            flags;
    union {
        int64_t              i;         /* BOOL, INT */
        double               f;
        struct lmd_jstr     *s;
        struct lmd_jlist    *l;
        struct lmd_jdict    *d;         /* DICT, NS */
        struct lmd_jfunc    *fn;
        struct lmd_jloop    *loop;
        struct lmd_jobj     *obj;       /* any of the counted ones */
        struct {
            const char      *name;      /* a tree-owned or static name */
            const char      *of;        /* "dict object" or NULL */
        } undef;
    } u;
};

struct lmd_jstr {
    struct lmd_jobj          hdr;
    size_t                   len;       /* bytes, without the NUL */
    size_t                   ncp;       /* code points (== len: ASCII) */
    char                     data[];    /* NUL-terminated UTF-8 */
};

struct lmd_jlist {
    struct lmd_jobj          hdr;
    size_t                   n;
    size_t                   cap;
    struct lmd_jv           *v;
};

/* Insertion-ordered, like Python's dict; keys compare with ==. */
struct lmd_jdict {
    struct lmd_jobj          hdr;
    size_t                   n;
    size_t                   cap;
    struct lmd_jv           *k;
    struct lmd_jv           *v;
};

enum lmd_jfunc_kind {
    LMD_JF_GLOBAL,                  /* range, namespace, ...: id */
    LMD_JF_METHOD,                  /* self.method: id */
    LMD_JF_MACRO,                   /* node is the MACRO */
    LMD_JF_CALLER,                  /* node is the CALLBLOCK */
    LMD_JF_CYCLE                    /* loop.cycle; self is the loop */
};

struct lmd_jfunc {
    struct lmd_jobj          hdr;
    int                      kind;      /* enum lmd_jfunc_kind */
    int                      id;
    const char              *name;      /* for messages */
    struct lmd_jv            self;
    const struct lmd_jnode  *node;
    struct lmd_jscope       *scope;     /* MACRO, CALLER: where defined */
};

struct lmd_jloop {
    struct lmd_jobj          hdr;
    struct lmd_jv            items;     /* the LIST iterated */
    size_t                   i;         /* index0 */
};

/* Variables of one block: names are tree-owned or static strings. */
struct lmd_jscope {
    int                      refs;
    struct lmd_jscope       *parent;
    size_t                   n;
    size_t                   cap;
    const char             **names;
    struct lmd_jv           *vals;
};

/* A growing byte buffer, held under LMD_JINJA_MAX_OUTPUT. */
struct lmd_jbuf {
    char                    *data;
    size_t                   len;
    size_t                   cap;
};

/* One render. */
struct lmd_jctx {
    struct lmd_jbuf         *out;       /* where output goes now */
    struct lmd_jscope       *scope;     /* innermost block's variables */
    struct lmd_jdict       **nss;       /* namespaces made, see Design */
    size_t                   nns;
    size_t                   capns;
    size_t                   loops;     /* iterations so far */
    int                      calls;     /* macro depth */
    int                      ctl;       /* pending break/continue */
    int                      line;      /* error position; 0: not yet */
    int                      col;
    int                      failed;
    char                     msg[LMD_ERR_LEN];
};

#define LMD_JCTL_BREAK       1
#define LMD_JCTL_CONTINUE    2

/* lmd_jinja_value.c: making, counting and freeing values. */

static inline struct lmd_jv
lmd_jv_ref(struct lmd_jv v)
{
    if (v.type >= LMD_JV_STR && v.u.obj->refs >= 0) {
        v.u.obj->refs++;
    }
    return v;
}

void lmd_jv_unref(struct lmd_jv v);

struct lmd_jv lmd_jv_undef(const char *name, const char *of);
struct lmd_jv lmd_jv_hint(const char *message);
struct lmd_jv lmd_jv_none(void);
struct lmd_jv lmd_jv_bool(int b);
struct lmd_jv lmd_jv_int(int64_t i);
struct lmd_jv lmd_jv_float(double f);

/* New string (copied) or list/dict (empty, room for n); LMD_OK or
 * LMD_ERROR ("out of memory" or a limit). */
int lmd_jv_str(struct lmd_jctx *ctx, const char *s, size_t len,
    struct lmd_jv *out);
int lmd_jv_list(struct lmd_jctx *ctx, size_t n, struct lmd_jv *out);
int lmd_jv_dict(struct lmd_jctx *ctx, size_t n, struct lmd_jv *out);
int lmd_jv_ns(struct lmd_jctx *ctx, struct lmd_jv *out);

/* An immortal string allocated with malloc (the tree's constants);
 * freed with free(). */
struct lmd_jstr *lmd_jstr_static(const char *s, size_t len);

/* Appends v (taking the reference, even on failure). */
int lmd_jlist_push(struct lmd_jctx *ctx, struct lmd_jlist *l,
    struct lmd_jv v);

/* Looks key up: *index is its position or -1; LMD_ERROR for an
 * unhashable key (a list, a dict). */
int lmd_jdict_find(struct lmd_jctx *ctx, const struct lmd_jdict *d,
    struct lmd_jv key, long *index);
struct lmd_jv *lmd_jdict_get_str(const struct lmd_jdict *d,
    const char *key);

/* Sets key to v, keeping the key's first position (takes both refs). */
int lmd_jdict_set(struct lmd_jctx *ctx, struct lmd_jdict *d,
    struct lmd_jv key, struct lmd_jv v);

/* Python's truth value; equality (==); hashability (dict keys); the
 * three-way order of two numbers (2: unordered, a NaN); the order of two
 * values sort() may compare (-1, 0, 1 in *result, or a TypeError). */
int lmd_jv_truthy(struct lmd_jv v);
int lmd_jv_equal(struct lmd_jv a, struct lmd_jv b);
int lmd_jv_hashable(struct lmd_jv v);
int lmd_jv_numcmp(struct lmd_jv a, struct lmd_jv b);
int lmd_jv_compare(struct lmd_jctx *ctx, struct lmd_jv a, struct lmd_jv b,
    int *result);

/* Python's type name ("str", "NoneType"...) and jinja2's description of
 * an object in messages ("dict object", "None"). */
const char *lmd_jv_type_name(struct lmd_jv v);
const char *lmd_jv_object_name(struct lmd_jv v);

/* str(v) and repr(v), appended to b. */
int lmd_jv_write(struct lmd_jctx *ctx, struct lmd_jbuf *b, struct lmd_jv v);
int lmd_jv_repr(struct lmd_jctx *ctx, struct lmd_jbuf *b, struct lmd_jv v);

/* str(v) as a STR value (a new reference; v itself for strings). */
int lmd_jv_to_str(struct lmd_jctx *ctx, struct lmd_jv v, struct lmd_jv *out);

/* Python's repr() of a float into buf (at least 32 bytes). */
void lmd_jinja_float_repr(double d, char *buf, size_t size);

/* The items of an iterable as a LIST (a new reference): a list itself,
 * a dict's keys, a string's characters, nothing for undefined.  Errors
 * for none, numbers... "'int' object is not iterable". */
int lmd_jv_iterate(struct lmd_jctx *ctx, struct lmd_jv v,
    struct lmd_jv *out);

/* len(v): LMD_ERROR for values without one. */
int lmd_jv_length(struct lmd_jctx *ctx, struct lmd_jv v, size_t *len);

/* The undefined's message: "'x' is undefined". */
void lmd_jv_undef_message(struct lmd_jv v, char *buf, size_t size);

/* lmd_jinja_ops.c: operators. */

enum lmd_jop {
    LMD_JOP_ADD = 1, LMD_JOP_SUB, LMD_JOP_MUL, LMD_JOP_DIV,
    LMD_JOP_FLOORDIV, LMD_JOP_MOD, LMD_JOP_POW, LMD_JOP_TILDE,
    LMD_JOP_EQ, LMD_JOP_NE, LMD_JOP_LT, LMD_JOP_LE, LMD_JOP_GT,
    LMD_JOP_GE, LMD_JOP_IN, LMD_JOP_NOTIN,
    LMD_JOP_NEG, LMD_JOP_POS, LMD_JOP_NOT,
    /* punctuation, tokens only */
    LMD_JOP_LBRACKET, LMD_JOP_RBRACKET, LMD_JOP_LPAREN, LMD_JOP_RPAREN,
    LMD_JOP_LBRACE, LMD_JOP_RBRACE, LMD_JOP_ASSIGN, LMD_JOP_DOT,
    LMD_JOP_COLON, LMD_JOP_PIPE, LMD_JOP_COMMA, LMD_JOP_SEMICOLON
};

const char *lmd_jop_text(int op);
int lmd_jinja_binop(struct lmd_jctx *ctx, int op, struct lmd_jv a,
    struct lmd_jv b, struct lmd_jv *out);
int lmd_jinja_unop(struct lmd_jctx *ctx, int op, struct lmd_jv a,
    struct lmd_jv *out);
int lmd_jinja_contains(struct lmd_jctx *ctx, struct lmd_jv seq,
    struct lmd_jv item, int *result);

/* obj.name and obj[key] with jinja2's sandboxed fallbacks; hint names a
 * constant key for messages (or NULL). */
int lmd_jinja_getattr(struct lmd_jctx *ctx, struct lmd_jv obj,
    const char *name, struct lmd_jv *out);
int lmd_jinja_getitem(struct lmd_jctx *ctx, struct lmd_jv obj,
    struct lmd_jv key, const char *hint, struct lmd_jv *out);
int lmd_jinja_slice(struct lmd_jctx *ctx, struct lmd_jv obj,
    const struct lmd_jv *bounds, struct lmd_jv *out);


/* ------------------------------------------------------------------------
 * Errors and buffers (lmd_jinja_value.c)
 * ------------------------------------------------------------------------ */

int lmd_jerr(struct lmd_jctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int lmd_jerr_at(struct lmd_jctx *ctx, const struct lmd_jnode *n);
int lmd_jerr_oom(struct lmd_jctx *ctx);

int lmd_jbuf_add(struct lmd_jctx *ctx, struct lmd_jbuf *b, const char *s,
    size_t n);
int lmd_jbuf_addc(struct lmd_jctx *ctx, struct lmd_jbuf *b, char c);
int lmd_jbuf_printf(struct lmd_jctx *ctx, struct lmd_jbuf *b,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The buffer's bytes as a STR value; the buffer is emptied. */
int lmd_jbuf_take(struct lmd_jctx *ctx, struct lmd_jbuf *b,
    struct lmd_jv *out);


/* ------------------------------------------------------------------------
 * UTF-8 and Python's string rules (lmd_jinja_str.c)
 * ------------------------------------------------------------------------ */

/* One code point at s (n bytes left): its length, *cp the value.  A byte
 * that starts no valid sequence counts as one code point of its value. */
size_t lmd_utf8_next(const char *s, size_t n, uint32_t *cp);
size_t lmd_utf8_put(uint32_t cp, char *out);
size_t lmd_utf8_count(const char *s, size_t n);
/* Byte offset of code point i (i <= ncp). */
size_t lmd_jstr_offset(const struct lmd_jstr *s, size_t i);

/* Python's str.isspace() for one code point; the length of the white
 * space character at s, or 0. */
int lmd_jinja_isspace(uint32_t cp);
size_t lmd_jinja_space_at(const char *s, size_t n);

uint32_t lmd_jinja_upper(uint32_t cp);
uint32_t lmd_jinja_lower(uint32_t cp);
int lmd_jinja_isprintable(uint32_t cp);

/* Methods of str, dict and list values (lmd_jinja_methods.c).  find:
 * LMD_OK with a bound method (or an undefined for the mutating ones the
 * sandbox refuses), LMD_DECLINED when the type has no such attribute,
 * LMD_ERROR for a real Python method this interpreter lacks. */
int lmd_jinja_method_find(struct lmd_jctx *ctx, struct lmd_jv obj,
    const char *name, struct lmd_jv *out);
int lmd_jinja_method_call(struct lmd_jctx *ctx, const struct lmd_jfunc *f,
    const struct lmd_jargs *args, struct lmd_jv *out);

/* The string helpers the filters share. */
int lmd_jinja_strip(struct lmd_jctx *ctx, struct lmd_jv s,
    struct lmd_jv chars, int left, int right, struct lmd_jv *out);
int lmd_jinja_case(struct lmd_jctx *ctx, struct lmd_jv s, int how,
    struct lmd_jv *out);
int lmd_jinja_replace(struct lmd_jctx *ctx, struct lmd_jv s,
    struct lmd_jv old, struct lmd_jv new_, int64_t count,
    struct lmd_jv *out);
int lmd_jinja_splitlines(struct lmd_jctx *ctx, struct lmd_jv s,
    int keepends, struct lmd_jv *out);

#define LMD_JCASE_UPPER        1
#define LMD_JCASE_LOWER        2
#define LMD_JCASE_CAPITALIZE   3
#define LMD_JCASE_TITLE        4    /* str.title() */
#define LMD_JCASE_JTITLE       5    /* jinja2's |title */


/* ------------------------------------------------------------------------
 * JSON (lmd_jinja_json.c)
 * ------------------------------------------------------------------------ */

/* cJSON tree -> value.  A number is an int when it is integral and fits
 * (cJSON keeps no "1.0" apart from "1"), else a float. */
int lmd_jv_from_cjson(struct lmd_jctx *ctx, const cJSON *j,
    struct lmd_jv *out);

/* json.dumps(v, ensure_ascii, indent, separators, sort_keys) as
 * transformers' tojson filter calls it.  indent NULL: none. */
struct lmd_jjson {
    int                      ensure_ascii;
    const char              *indent;        /* NULL: on one line */
    size_t                   indent_len;
    const char              *item_sep;
    const char              *key_sep;
    int                      sort_keys;
};

int lmd_jinja_tojson(struct lmd_jctx *ctx, struct lmd_jbuf *b,
    struct lmd_jv v, const struct lmd_jjson *how);


/* ------------------------------------------------------------------------
 * Tokens (lmd_jinja_lex.c)
 * ------------------------------------------------------------------------ */

enum lmd_jtok_type {
    LMD_JT_EOF = 0,
    LMD_JT_DATA,
    LMD_JT_VAR_BEGIN,
    LMD_JT_VAR_END,
    LMD_JT_BLOCK_BEGIN,
    LMD_JT_BLOCK_END,
    LMD_JT_NAME,
    LMD_JT_STRING,
    LMD_JT_INT,
    LMD_JT_FLOAT,
    LMD_JT_OP
};

struct lmd_jtok {
    int                      type;      /* enum lmd_jtok_type */
    int                      op;        /* OP: enum lmd_jop */
    int                      line;
    int                      col;
    const char              *name;      /* NAME */
    struct lmd_jstr         *str;       /* DATA, STRING: immortal */
    int64_t                  i;
    double                   f;
};

struct lmd_jtoks {
    struct lmd_jtok         *v;
    size_t                   n;
    size_t                   cap;
};

/* The tree's allocations: chunks freed all at once with the template. */
struct lmd_jarena {
    struct lmd_jchunk       *chunks;
    struct lmd_jstr        **strs;      /* immortal strings made */
    size_t                   nstrs;
    size_t                   capstrs;
};

void *lmd_jarena_alloc(struct lmd_jarena *a, size_t size);
char *lmd_jarena_strdup(struct lmd_jarena *a, const char *s, size_t len);
struct lmd_jstr *lmd_jarena_str(struct lmd_jarena *a, const char *s,
    size_t len);
void lmd_jarena_free(struct lmd_jarena *a);

/* Tokenizes src, first normalizing newlines as jinja2 does.  LMD_OK, or
 * LMD_ERROR with err = "line L, column C: message".  toks->v is
 * malloc'd; names and strings live in the arena. */
int lmd_jinja_lex(struct lmd_jarena *a, const char *src, size_t len,
    struct lmd_jtoks *toks, char *err, size_t errlen);


/* ------------------------------------------------------------------------
 * The tree (lmd_jinja_parse.c)
 * ------------------------------------------------------------------------ */

enum lmd_jnode_type {
    /* expressions */
    LMD_JN_CONST = 1,       /* value */
    LMD_JN_NAME,            /* name */
    LMD_JN_LIST,            /* list: items */
    LMD_JN_TUPLE,           /* list: items */
    LMD_JN_DICT,            /* list: PAIR nodes (a key, b value) */
    LMD_JN_PAIR,
    LMD_JN_GETATTR,         /* a.name */
    LMD_JN_GETITEM,         /* a[b] */
    LMD_JN_SLICE,           /* a:b:c, any NULL; only as GETITEM's b */
    LMD_JN_CALL,            /* a(list): KWARG nodes are keywords */
    LMD_JN_KWARG,           /* name=a */
    LMD_JN_FILTER,          /* a|name(list), op: filter id; a NULL in
                               filter and set blocks: the body */
    LMD_JN_TEST,            /* a is name(list), op: test id */
    LMD_JN_BINOP,           /* a op b */
    LMD_JN_UNARY,           /* op a: NEG, POS, NOT */
    LMD_JN_AND,
    LMD_JN_OR,
    LMD_JN_COMPARE,         /* a, then list of OPERAND (op, a) */
    LMD_JN_OPERAND,
    LMD_JN_CONCAT,          /* list joined with ~ */
    LMD_JN_COND,            /* a if b else c (c may be NULL) */
    LMD_JN_NSREF,           /* name.name2 as a set target */

    /* statements */
    LMD_JN_TEXT,            /* value: literal output */
    LMD_JN_OUTPUT,          /* list: expressions printed */
    LMD_JN_IF,              /* a test, list body, list2 else */
    LMD_JN_FOR,             /* a target, b iterable, c filter, list body,
                               list2 else */
    LMD_JN_SET,             /* a target (NAME, TUPLE, NSREF), b value */
    LMD_JN_SETBLOCK,        /* a target, b filter chain or NULL, list */
    LMD_JN_MACRO,           /* name, list2 params (NAME or KWARG with a
                               default), list body */
    LMD_JN_CALLBLOCK,       /* a the CALL, list2 params, list body */
    LMD_JN_FILTERBLOCK,     /* b filter chain, list body */
    LMD_JN_WITH,            /* list2 KWARG assignments, list body */
    LMD_JN_SCOPE,           /* list body in a new scope (generation) */
    LMD_JN_BREAK,
    LMD_JN_CONTINUE
};

struct lmd_jnode {
    int                      type;      /* enum lmd_jnode_type */
    int                      op;
    int                      line;
    int                      col;
    const char              *name;
    const char              *name2;
    struct lmd_jnode        *a;
    struct lmd_jnode        *b;
    struct lmd_jnode        *c;
    struct lmd_jnode        *list;      /* first of a chain by next */
    size_t                   n;
    struct lmd_jnode        *list2;
    size_t                   n2;
    struct lmd_jnode        *next;
    struct lmd_jv            value;     /* CONST, TEXT: immortal */
};

/* Parses tokens into a statement chain.  NULL with err on failure. */
struct lmd_jnode *lmd_jinja_parse(struct lmd_jarena *a,
    const struct lmd_jtoks *toks, char *err, size_t errlen);


/* ------------------------------------------------------------------------
 * Filters, tests, globals (lmd_jinja_filters.c, lmd_jinja_tests.c,
 * lmd_jinja_call.c)
 * ------------------------------------------------------------------------ */

/* Arguments of a call, evaluated: positional, then keywords. */
struct lmd_jargs {
    size_t                   n;
    struct lmd_jv            v[LMD_JINJA_MAX_ARGS];
    size_t                   nkw;
    const char              *kwname[LMD_JINJA_MAX_ARGS];
    struct lmd_jv            kw[LMD_JINJA_MAX_ARGS];
};

void lmd_jargs_free(struct lmd_jargs *args);

/* Binds args to the parameter names params[0..n): out[i] borrows the
 * argument or is UNDEF with LMD_JV_MISSING.  first is the number of
 * leading parameters already filled by the caller (a filter's input). */
int lmd_jargs_bind(struct lmd_jctx *ctx, const char *what,
    const struct lmd_jargs *args, const char *const *params, size_t n,
    size_t first, struct lmd_jv *out);

#define lmd_jv_missing(v)  ((v).type == LMD_JV_UNDEF                          \
                            && ((v).flags & LMD_JV_MISSING))

/* The filters (lmd_jinja_filters.c; the sequence ones in lmd_jinja_seq.c).
 * Their ids index the name table. */
enum lmd_jfilter_id {
    LMD_JFL_ABS, LMD_JFL_ATTR, LMD_JFL_CAPITALIZE, LMD_JFL_CENTER,
    LMD_JFL_COUNT, LMD_JFL_D, LMD_JFL_DEFAULT, LMD_JFL_DICTSORT, LMD_JFL_E,
    LMD_JFL_ESCAPE, LMD_JFL_FIRST, LMD_JFL_FLOAT, LMD_JFL_INDENT,
    LMD_JFL_INT, LMD_JFL_ITEMS, LMD_JFL_JOIN, LMD_JFL_LAST, LMD_JFL_LENGTH,
    LMD_JFL_LIST, LMD_JFL_LOWER, LMD_JFL_MAP, LMD_JFL_MAX, LMD_JFL_MIN,
    LMD_JFL_REJECT, LMD_JFL_REJECTATTR, LMD_JFL_REPLACE, LMD_JFL_REVERSE,
    LMD_JFL_ROUND, LMD_JFL_SAFE, LMD_JFL_SELECT, LMD_JFL_SELECTATTR,
    LMD_JFL_SORT, LMD_JFL_STRING, LMD_JFL_SUM, LMD_JFL_TITLE,
    LMD_JFL_TOJSON, LMD_JFL_TRIM, LMD_JFL_UNIQUE, LMD_JFL_UPPER,
    LMD_JFL_COUNT_OF
};

/* The filters that walk sequences (lmd_jinja_seq.c). */
int lmd_jinja_seq_filter(struct lmd_jctx *ctx, int id, struct lmd_jv in,
    const struct lmd_jargs *args, struct lmd_jv *out);

/* Name -> id at parse time: >= 0 found, -1 unknown, -2 a jinja2 filter or
 * test this interpreter does not have. */
int lmd_jinja_filter_find(const char *name);
int lmd_jinja_test_find(const char *name);

int lmd_jinja_filter(struct lmd_jctx *ctx, int id, struct lmd_jv in,
    const struct lmd_jargs *args, struct lmd_jv *out);
int lmd_jinja_test(struct lmd_jctx *ctx, int id, struct lmd_jv in,
    const struct lmd_jargs *args, int *result);

/* Filters and tests by name at render time (map, select...). */
int lmd_jinja_filter_named(struct lmd_jctx *ctx, struct lmd_jv name,
    struct lmd_jv in, const struct lmd_jargs *args, struct lmd_jv *out);
int lmd_jinja_test_named(struct lmd_jctx *ctx, struct lmd_jv name,
    struct lmd_jv in, const struct lmd_jargs *args, int *result);

/* The global functions (range, namespace, dict, raise_exception,
 * strftime_now): 1 and *out for a name that is one, else 0. */
int lmd_jinja_global(const char *name, struct lmd_jv *out);
int lmd_jinja_global_call(struct lmd_jctx *ctx, const struct lmd_jfunc *f,
    const struct lmd_jargs *args, struct lmd_jv *out);

/* Python's int() and float() of a string, as jinja2's filters use them:
 * LMD_OK or LMD_DECLINED for text that is not a number. */
int lmd_jinja_parse_int(const char *s, size_t len, int base, int64_t *v);
int lmd_jinja_parse_float(const char *s, size_t len, double *v);


/* ------------------------------------------------------------------------
 * Rendering (lmd_jinja_eval.c, lmd_jinja_scope.c)
 * ------------------------------------------------------------------------ */

struct lmd_jscope *lmd_jscope_new(struct lmd_jctx *ctx,
    struct lmd_jscope *parent);
void lmd_jscope_unref(struct lmd_jscope *s);
void lmd_jscope_clear(struct lmd_jscope *s);
/* Sets name in s (takes the reference). */
int lmd_jscope_set(struct lmd_jctx *ctx, struct lmd_jscope *s,
    const char *name, struct lmd_jv v);
/* The variable's value (borrowed) or NULL. */
const struct lmd_jv *lmd_jscope_get(const struct lmd_jscope *s,
    const char *name);

/* Runs a statement chain into ctx->out. */
int lmd_jinja_exec(struct lmd_jctx *ctx, const struct lmd_jnode *body);
int lmd_jinja_eval(struct lmd_jctx *ctx, const struct lmd_jnode *n,
    struct lmd_jv *out);

/* Calls a callable value with evaluated arguments. */
int lmd_jinja_call(struct lmd_jctx *ctx, struct lmd_jv fn,
    const struct lmd_jargs *args, struct lmd_jv *out);

/* Counts one loop iteration against LMD_JINJA_MAX_LOOPS. */
int lmd_jinja_tick(struct lmd_jctx *ctx);

/* Registers a new namespace with the render (see Design). */
int lmd_jctx_track_ns(struct lmd_jctx *ctx, struct lmd_jdict *d);
void lmd_jctx_release(struct lmd_jctx *ctx);

#endif /* LMD_JINJA_H */
