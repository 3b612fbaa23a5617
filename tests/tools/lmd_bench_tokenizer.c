/*
 * lmd_bench_tokenizer.c -- how fast lmd's tokenizer encodes and decodes,
 * one thread, per model family (`make bench-tokenizer`).
 *
 *   lmd_bench_tokenizer [-f FIXTURES] [-i TEXT | -o TEXT] [-s MB] [-r N]
 *                       [-t TSV] [FAMILY...]
 *
 * The text is about 10 MB (-s) of mixed input made deterministically: the
 * texts of the fixtures' cases.jsonl and a seeded generator of
 * English-like prose, code, numbers, Chinese, Japanese, Korean and emoji
 * (skin tones, ZWJ sequences, flags).  It is written to -o (default
 * objs/bench/mixed.txt) so that tests/bench/hf_tokenizers.py can encode
 * the same bytes; -i reads a text instead of making one.
 *
 * For each family (default: gpt2 llama3 qwen2 llama2 mistral internlm2,
 * the folders under FIXTURES, default ../shared/fixtures/tokenizers) it
 * times three things, each the best of N runs (-r, default 3), without
 * special tokens:
 *
 *   encode        the whole text in one call
 *   encode-lines  line by line (each line with its '\n'), as separate
 *                 requests would arrive
 *   decode        the ids of the whole text back into text
 *
 * It prints a table: MB/s (10^6 bytes of text per second), tokens/s and
 * the token count (to compare with HF's).  -t also writes the figures as
 * TSV (impl family mode bytes tokens seconds mb_s tok_s), the format
 * hf_tokenizers.py prints, for tests/bench/tokenizer.sh --hf.
 *
 * Exit status: 0, or 1 when the text cannot be made or no tokenizer loads.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lmd_tokenizer.h"

#define BENCH_MAX_CASES  512

struct bench_buf {
    char    *data;
    size_t   len;
    size_t   cap;
};

static uint64_t  bench_rng = 0x6c6d642d62656e63ULL;     /* "lmd-benc" */


/* ------------------------------------------------------------- the text */

/* splitmix64: a fixed sequence on every machine. */
static uint64_t
rnd(void)
{
    uint64_t  z;

    z = (bench_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}


static unsigned
rnd_below(unsigned n)
{
    return (unsigned) (rnd() % n);
}


static void
put(struct bench_buf *b, const char *s, size_t n)
{
    char  *p;

    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        p = realloc(b->data, b->cap);
        if (p == NULL) {
            fprintf(stderr, "lmd_bench_tokenizer: out of memory\n");
            exit(1);
        }
        b->data = p;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}


static void
puts_(struct bench_buf *b, const char *s)
{
    put(b, s, strlen(s));
}


static void
put_cp(struct bench_buf *b, uint32_t c)
{
    char  u[4];

    if (c < 0x80) {
        u[0] = (char) c;
        put(b, u, 1);
    } else if (c < 0x800) {
        u[0] = (char) (0xc0 | c >> 6);
        u[1] = (char) (0x80 | (c & 0x3f));
        put(b, u, 2);
    } else if (c < 0x10000) {
        u[0] = (char) (0xe0 | c >> 12);
        u[1] = (char) (0x80 | ((c >> 6) & 0x3f));
        u[2] = (char) (0x80 | (c & 0x3f));
        put(b, u, 3);
    } else {
        u[0] = (char) (0xf0 | c >> 18);
        u[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        u[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        u[3] = (char) (0x80 | (c & 0x3f));
        put(b, u, 4);
    }
}


/* One of a space-separated list of words. */
static void
put_pick(struct bench_buf *b, const char *list)
{
    const char  *p, *e;
    unsigned     n = 0, k;

    for (p = list; *p; p++) {
        n += *p == ' ';
    }
    k = rnd_below(n + 1);
    for (p = list; k > 0; p++) {
        k -= *p == ' ';
    }
    for (e = p; *e && *e != ' '; e++) {
        /* the word */
    }
    put(b, p, (size_t) (e - p));
}


static const char  words[] =
    "the of and to in is that it was for on are as with his they at be "
    "this from have or by one had not but what all were when we there can "
    "an your which their said if do will each about how up out them then "
    "she many some so these would other into has more her two like him "
    "see time could no make than first been its who now people my made "
    "over did down only way find use may water long little very after "
    "words called just where most know get through back much before go "
    "good new write our used me man too any day same right look think "
    "also around another came come work three word must because does "
    "part even place well such here take why things help put years "
    "different away again off went old number great tell men say small "
    "every found still between name should home big give air line set "
    "own under read last never us left end along while might next sound "
    "below saw something thought both few those always looked show large "
    "often together asked house don't world going want school important "
    "until form food keep children feet land side without boy once "
    "animals life enough took sometimes four head above kind began "
    "almost live page got earth need far hand high year mother light "
    "parts country father let night following picture being study second "
    "eyes soon times story boys since white days ever paper hard near "
    "sentence better best across during today others however sure means "
    "knew it's try told young miles sun ways thing whole hear example "
    "heard several change answer room sea against top turned learn point "
    "city play toward five using himself usually we'll they're can't";

static const char  syllables[] =
    "ka ro mi tsu ne zh qu ex pla tion ment ing ver sta gra phy lo gic "
    "neu ral trans form er ize bio chem ist ry quan tum ul tra";

static const char  code_lines[] =
    "if for while return int char const static void struct size_t "
    "def class self import from None True False elif lambda yield "
    "function var let async await console.log printf malloc free "
    "std::vector<int> nullptr template typename namespace";

static const char  zh[] =
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会"
    "可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部"
    "度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应"
    "开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正"
    "心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情"
    "者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长"
    "求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放";

static const char  ko[] =
    "이의에는가을를하고서다한지기로도사리자수아어나대오인일정시우전부라게면요"
    "해있것그들보내만말사람우리년때문제생각없세상하나위해";


/* A character of a UTF-8 string of 3-byte characters (zh, ko). */
static void
put_char3(struct bench_buf *b, const char *s)
{
    put(b, s + 3 * rnd_below((unsigned) (strlen(s) / 3)), 3);
}


static void
gen_prose(struct bench_buf *b)
{
    unsigned  s, w, nsent = 1 + rnd_below(5), nwords, k;

    for (s = 0; s < nsent; s++) {
        nwords = 4 + rnd_below(18);
        for (w = 0; w < nwords; w++) {
            if (w > 0) {
                puts_(b, rnd_below(40) == 0 ? ", " : " ");
            }
            if (rnd_below(30) == 0) {
                for (k = 1 + rnd_below(4); k > 0; k--) {
                    put_pick(b, syllables);
                }
            } else if (w == 0 || rnd_below(25) == 0) {
                size_t  at = b->len;

                put_pick(b, words);
                if (b->data[at] >= 'a' && b->data[at] <= 'z') {
                    b->data[at] = (char) (b->data[at] - 'a' + 'A');
                }
            } else {
                put_pick(b, words);
            }
        }
        put_pick(b, ". . . . ! ? ; :");
        puts_(b, " ");
    }
}


static void
gen_code(struct bench_buf *b)
{
    unsigned  l, nlines = 2 + rnd_below(10), depth = 0, k;

    for (l = 0; l < nlines; l++) {
        for (k = 0; k < depth; k++) {
            puts_(b, rnd_below(8) == 0 ? "\t" : "    ");
        }
        put_pick(b, code_lines);
        puts_(b, rnd_below(2) ? " (" : "(");
        for (k = rnd_below(4); k > 0; k--) {
            put_pick(b, syllables);
            put_pick(b, "_ _ . -> [");
            put_pick(b, "x i n buf len ptr");
            if (rnd_below(3) == 0) {
                char  num[24];

                snprintf(num, sizeof(num), "%u", rnd_below(100000));
                puts_(b, num);
            }
            put_pick(b, ", , + - * == != <= && || %");
            puts_(b, " ");
        }
        put_pick(b, ") ): );} ); ) { \"str\"); 'c'); ]");
        if (rnd_below(4) == 0) {
            puts_(b, rnd_below(2) ? "  // " : "  # ");
            gen_prose(b);
        }
        puts_(b, "\n");
        if (rnd_below(3) == 0 && depth < 4) {
            depth++;
        } else if (depth > 0 && rnd_below(3) == 0) {
            depth--;
        }
    }
}


static void
gen_numbers(struct bench_buf *b)
{
    char      s[64];
    unsigned  k;

    for (k = 1 + rnd_below(8); k > 0; k--) {
        switch (rnd_below(6)) {
        case 0:
            snprintf(s, sizeof(s), "%u ", rnd_below(1000));
            break;
        case 1:
            snprintf(s, sizeof(s), "%u.%02u ", rnd_below(100000),
                     rnd_below(100));
            break;
        case 2:
            snprintf(s, sizeof(s), "20%02u-%02u-%02u ", rnd_below(30),
                     1 + rnd_below(12), 1 + rnd_below(28));
            break;
        case 3:
            snprintf(s, sizeof(s), "%llu ", (unsigned long long) rnd());
            break;
        case 4:
            snprintf(s, sizeof(s), "0x%08x ", (unsigned) rnd());
            break;
        default:
            snprintf(s, sizeof(s), "+1 (%03u) %03u-%04u ", rnd_below(1000),
                     rnd_below(1000), rnd_below(10000));
        }
        puts_(b, s);
    }
}


static void
gen_cjk(struct bench_buf *b)
{
    unsigned  k, n = 8 + rnd_below(40);

    switch (rnd_below(3)) {
    case 0:                                         /* Chinese */
        for (k = 0; k < n; k++) {
            put_char3(b, zh);
            if (rnd_below(12) == 0) {
                puts_(b, rnd_below(3) ? "，" : "。");
            }
        }
        puts_(b, "。");
        break;
    case 1:                                         /* Japanese */
        for (k = 0; k < n; k++) {
            if (rnd_below(3) == 0) {
                put_char3(b, zh);
            } else if (rnd_below(4) == 0) {
                put_cp(b, 0x30a1 + rnd_below(0x30f3 - 0x30a1));
            } else {
                put_cp(b, 0x3041 + rnd_below(0x3093 - 0x3041));
            }
        }
        puts_(b, "。");
        break;
    default:                                        /* Korean */
        for (k = 0; k < n; k++) {
            put_char3(b, ko);
            if (rnd_below(4) == 0) {
                puts_(b, " ");
            }
        }
        puts_(b, ".");
    }
}


static void
gen_emoji(struct bench_buf *b)
{
    unsigned  k;

    for (k = 1 + rnd_below(6); k > 0; k--) {
        switch (rnd_below(5)) {
        case 0:
        case 1:
            put_cp(b, 0x1f600 + rnd_below(0x50));
            break;
        case 2:                                     /* skin tone */
            put_cp(b, 0x1f44b + rnd_below(6));
            put_cp(b, 0x1f3fb + rnd_below(5));
            break;
        case 3:                                     /* ZWJ family */
            put_cp(b, 0x1f468);
            put_cp(b, 0x200d);
            put_cp(b, 0x1f469);
            put_cp(b, 0x200d);
            put_cp(b, 0x1f467 + rnd_below(2));
            break;
        default:                                    /* a flag */
            put_cp(b, 0x1f1e6 + rnd_below(26));
            put_cp(b, 0x1f1e6 + rnd_below(26));
        }
        puts_(b, rnd_below(2) ? " " : "");
    }
}


/* The "text" of every line of FIXTURES/gpt2/cases.jsonl (the corpus is the
 * same for every family). */
static size_t
load_cases(const char *fixtures, char **cases, size_t max)
{
    char    path[1024], *line = NULL;
    size_t  cap = 0, n = 0;
    FILE   *f;
    cJSON  *j, *text;

    snprintf(path, sizeof(path), "%s/gpt2/cases.jsonl", fixtures);
    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "lmd_bench_tokenizer: %s: %s (the text is made "
                "without the fixture cases)\n", path, strerror(errno));
        return 0;
    }
    while (n < max && getline(&line, &cap, f) > 0) {
        j = cJSON_Parse(line);
        text = cJSON_GetObjectItemCaseSensitive(j, "text");
        if (cJSON_IsString(text) && text->valuestring[0]) {
            cases[n++] = strdup(text->valuestring);
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return n;
}


static void
make_text(struct bench_buf *b, const char *fixtures, size_t target)
{
    char      *cases[BENCH_MAX_CASES];
    size_t     ncases, i;
    unsigned   r;

    ncases = load_cases(fixtures, cases, BENCH_MAX_CASES);
    while (b->len < target) {
        r = rnd_below(100);
        if (r < 45) {
            gen_prose(b);
        } else if (r < 60) {
            gen_code(b);
        } else if (r < 68) {
            gen_numbers(b);
        } else if (r < 80) {
            gen_cjk(b);
        } else if (r < 85) {
            gen_emoji(b);
        } else if (ncases > 0) {
            puts_(b, cases[rnd_below((unsigned) ncases)]);
        } else {
            gen_prose(b);
        }
        puts_(b, rnd_below(3) == 0 ? "\n\n" : rnd_below(2) ? "\n" : " ");
    }
    for (i = 0; i < ncases; i++) {
        free(cases[i]);
    }
}


static int
read_text(const char *path, struct bench_buf *b)
{
    FILE    *f;
    char     chunk[65536];
    size_t   n;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "lmd_bench_tokenizer: %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        put(b, chunk, n);
    }
    fclose(f);
    return 0;
}


static int
write_text(const char *path, const struct bench_buf *b)
{
    char   dir[1024], *slash;
    FILE  *f;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
        mkdir(dir, 0755);       /* objs/ exists; objs/bench may not */
    }
    f = fopen(path, "wb");
    if (f == NULL || fwrite(b->data, 1, b->len, f) != b->len
        || fclose(f) != 0)
    {
        fprintf(stderr, "lmd_bench_tokenizer: %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}


/* --------------------------------------------------------------- timing */

static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


struct bench_result {
    const char  *mode;
    size_t       bytes;
    size_t       tokens;
    double       seconds;
};


static void
report(FILE *tsv, const char *family, const struct bench_result *r)
{
    double  mb_s = (double) r->bytes / 1e6 / r->seconds;
    double  tok_s = (double) r->tokens / r->seconds;

    printf("%-10s %-13s %9.2f %12.0f %10zu %10zu %8.3f\n", family, r->mode,
           mb_s, tok_s, r->tokens, r->bytes, r->seconds);
    if (tsv != NULL) {
        fprintf(tsv, "lmd\t%s\t%s\t%zu\t%zu\t%.6f\t%.3f\t%.0f\n", family,
                r->mode, r->bytes, r->tokens, r->seconds, mb_s, tok_s);
    }
}


/* Times encode, encode-lines and decode of text with one tokenizer. */
static int
bench_family(const char *fixtures, const char *family,
    const struct bench_buf *text, int repeat, FILE *tsv)
{
    struct lmd_tokenizer  *t;
    struct lmd_tokens      ids = { NULL, 0, 0 }, line = { NULL, 0, 0 };
    struct bench_result    enc = { "encode", text->len, 0, 1e30 },
                           lines = { "encode-lines", text->len, 0, 1e30 },
                           dec = { "decode", 0, 0, 1e30 };
    const char            *p, *end, *nl;
    char                   path[1024], err[512], *out;
    size_t                 out_len, total;
    double                 t0, dt, load;
    int                    i;

    snprintf(path, sizeof(path), "%s/%s", fixtures, family);
    t0 = now();
    t = lmd_tokenizer_load(path, err, sizeof(err));
    load = now() - t0;
    if (t == NULL) {
        fprintf(stderr, "lmd_bench_tokenizer: %s: %s\n", family, err);
        return -1;
    }

    for (i = 0; i < repeat; i++) {
        ids.n = 0;
        t0 = now();
        if (lmd_tokenizer_encode(t, text->data, text->len, 0, &ids, err,
                                 sizeof(err)) != 0)
        {
            fprintf(stderr, "lmd_bench_tokenizer: %s: encode: %s\n",
                    family, err);
            goto failed;
        }
        dt = now() - t0;
        enc.seconds = dt < enc.seconds ? dt : enc.seconds;
        enc.tokens = ids.n;

        total = 0;
        end = text->data + text->len;
        t0 = now();
        for (p = text->data; p < end; p = nl) {
            nl = memchr(p, '\n', (size_t) (end - p));
            nl = nl != NULL ? nl + 1 : end;
            line.n = 0;
            if (lmd_tokenizer_encode(t, p, (size_t) (nl - p), 0, &line, err,
                                     sizeof(err)) != 0)
            {
                fprintf(stderr, "lmd_bench_tokenizer: %s: encode: %s\n",
                        family, err);
                goto failed;
            }
            total += line.n;
        }
        dt = now() - t0;
        lines.seconds = dt < lines.seconds ? dt : lines.seconds;
        lines.tokens = total;

        t0 = now();
        if (lmd_tokenizer_decode(t, ids.ids, ids.n, 0, &out, &out_len)
            != 0)
        {
            fprintf(stderr, "lmd_bench_tokenizer: %s: decode failed\n",
                    family);
            goto failed;
        }
        dt = now() - t0;
        free(out);
        dec.seconds = dt < dec.seconds ? dt : dec.seconds;
        dec.tokens = ids.n;
        dec.bytes = out_len;
    }

    printf("%-10s %-13s %9s %12s %10s %10s %8.3f\n", family, "load", "",
           "", "", "", load);
    report(tsv, family, &enc);
    report(tsv, family, &lines);
    report(tsv, family, &dec);
    fflush(stdout);
    lmd_tokens_free(&ids);
    lmd_tokens_free(&line);
    lmd_tokenizer_free(t);
    return 0;

failed:

    lmd_tokens_free(&ids);
    lmd_tokens_free(&line);
    lmd_tokenizer_free(t);
    return -1;
}


static void
usage(FILE *out)
{
    fprintf(out,
        "usage: lmd_bench_tokenizer [-f FIXTURES] [-i TEXT | -o TEXT] "
        "[-s MB] [-r N]\n"
        "                           [-t TSV] [FAMILY...]\n"
        "  -f FIXTURES  tokenizer fixtures (default "
        "$LMD_SHARED/fixtures/tokenizers,\n"
        "               LMD_SHARED being ../shared by default)\n"
        "  -i TEXT      encode this file instead of making the mixed text\n"
        "  -o TEXT      where the mixed text is written "
        "(default objs/bench/mixed.txt)\n"
        "  -s MB        size of the mixed text (default 10, MiB)\n"
        "  -r N         runs of each measure, the best is kept (default 3)\n"
        "  -t TSV       also write the figures as TSV\n"
        "  FAMILY       default: gpt2 llama3 qwen2 llama2 mistral "
        "internlm2\n");
}


int
main(int argc, char **argv)
{
    static const char  *all[] = { "gpt2", "llama3", "qwen2", "llama2",
                                  "mistral", "internlm2" };
    struct bench_buf    text = { NULL, 0, 0 };
    const char         *in = NULL, *out = "objs/bench/mixed.txt", *shared;
    const char         *tsv_path = NULL;
    char                fixtures[512];
    double              mb = 10;
    int                 repeat = 3, c, i, ok = 0, nfam;
    FILE               *tsv = NULL;
    char              **fam;

    shared = getenv("LMD_SHARED");
    snprintf(fixtures, sizeof(fixtures), "%s/fixtures/tokenizers",
             shared != NULL && shared[0] ? shared : "../shared");

    while ((c = getopt(argc, argv, "f:i:o:s:r:t:h")) != -1) {
        switch (c) {
        case 'f':
            snprintf(fixtures, sizeof(fixtures), "%s", optarg);
            break;
        case 'i':
            in = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 's':
            mb = strtod(optarg, NULL);
            break;
        case 'r':
            repeat = (int) strtol(optarg, NULL, 10);
            break;
        case 't':
            tsv_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (mb <= 0 || mb > 4096 || repeat < 1) {
        usage(stderr);
        return 2;
    }

    if (in != NULL) {
        if (read_text(in, &text) != 0) {
            return 1;
        }
    } else {
        make_text(&text, fixtures, (size_t) (mb * 1024 * 1024));
        if (write_text(out, &text) != 0) {
            return 1;
        }
    }
    printf("text: %s, %zu bytes; fixtures: %s; best of %d runs, one "
           "thread, no special tokens\n\n", in != NULL ? in : out, text.len,
           fixtures, repeat);

    if (tsv_path != NULL) {
        tsv = fopen(tsv_path, "w");
        if (tsv == NULL) {
            fprintf(stderr, "lmd_bench_tokenizer: %s: %s\n", tsv_path,
                    strerror(errno));
            return 1;
        }
        fprintf(tsv, "impl\tfamily\tmode\tbytes\ttokens\tseconds\tmb_s\t"
                "tok_s\n");
    }

    printf("%-10s %-13s %9s %12s %10s %10s %8s\n", "family", "mode", "MB/s",
           "tokens/s", "tokens", "bytes", "seconds");
    fam = optind < argc ? argv + optind : (char **) all;
    nfam = optind < argc ? argc - optind : (int) (sizeof(all)
                                                  / sizeof(all[0]));
    for (i = 0; i < nfam; i++) {
        ok += bench_family(fixtures, fam[i], &text, repeat, tsv) == 0;
    }

    if (tsv != NULL) {
        fclose(tsv);
    }
    free(text.data);
    return ok > 0 ? 0 : 1;
}
