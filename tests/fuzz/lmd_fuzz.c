/*
 * lmd_fuzz.c -- helpers shared by the fuzz harnesses (lmd_fuzz.h).
 */

#include "lmd_fuzz.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LMD_FUZZ_MAX_FILES  16

static char   lmd_fuzz_dir[256];
static char  *lmd_fuzz_files[LMD_FUZZ_MAX_FILES];
static int    lmd_fuzz_nfiles;


static void
lmd_fuzz_cleanup(void)
{
    int  i;

    for (i = 0; i < lmd_fuzz_nfiles; i++) {
        unlink(lmd_fuzz_files[i]);
        free(lmd_fuzz_files[i]);
    }
    if (lmd_fuzz_dir[0]) {
        rmdir(lmd_fuzz_dir);
    }
}


const char *
lmd_fuzz_tmpdir(void)
{
    const char  *tmp;

    if (lmd_fuzz_dir[0]) {
        return lmd_fuzz_dir;
    }
    tmp = getenv("TMPDIR");
    snprintf(lmd_fuzz_dir, sizeof(lmd_fuzz_dir), "%s/lmd-fuzz-XXXXXX",
             tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(lmd_fuzz_dir) == NULL) {
        perror("lmd_fuzz: mkdtemp");
        abort();
    }
    atexit(lmd_fuzz_cleanup);
    return lmd_fuzz_dir;
}


const char *
lmd_fuzz_write(const char *name, const void *data, size_t len)
{
    static char  path[512];
    int          fd, i;
    ssize_t      n;

    snprintf(path, sizeof(path), "%s/%s", lmd_fuzz_tmpdir(), name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1) {
        perror(path);
        abort();
    }
    for (i = 0; i < lmd_fuzz_nfiles; i++) {
        if (strcmp(lmd_fuzz_files[i], path) == 0) {
            break;
        }
    }
    if (i == lmd_fuzz_nfiles && i < LMD_FUZZ_MAX_FILES) {
        lmd_fuzz_files[lmd_fuzz_nfiles++] = strdup(path);
    }
    while (len > 0) {
        n = write(fd, data, len);
        if (n <= 0) {
            perror(path);
            abort();
        }
        data = (const char *) data + n;
        len -= (size_t) n;
    }
    close(fd);
    return path;
}


void
lmd_fuzz_remove(const char *name)
{
    char  path[512];

    snprintf(path, sizeof(path), "%s/%s", lmd_fuzz_tmpdir(), name);
    unlink(path);
}


void
lmd_fuzz_fail(const char *file, int line, const char *cond, const char *what)
{
    fprintf(stderr, "lmd fuzz: %s:%d: check failed: %s: %s\n", file, line,
            cond, what);
    abort();
}


/* GPT-2's byte-to-character table: printable Latin-1 bytes stand for
 * themselves, the others (controls, space, 0x7f-0xa0, 0xad) map to
 * U+0100 onwards in byte order. */
static unsigned
lmd_fuzz_byte_char(unsigned b)
{
    unsigned  i, n = 0;

    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) {
        return b;
    }
    for (i = 0; i < b; i++) {
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174)) {
            n++;
        }
    }
    return 256 + n;
}


/* Appends code point c to p as JSON string content. */
static char *
lmd_fuzz_put_char(char *p, unsigned c)
{
    if (c == '"' || c == '\\') {
        *p++ = '\\';
        *p++ = (char) c;
    } else if (c < 0x80) {
        *p++ = (char) c;
    } else if (c < 0x800) {
        *p++ = (char) (0xc0 | c >> 6);
        *p++ = (char) (0x80 | (c & 0x3f));
    } else {
        *p++ = (char) (0xe0 | c >> 12);
        *p++ = (char) (0x80 | ((c >> 6) & 0x3f));
        *p++ = (char) (0x80 | (c & 0x3f));
    }
    return p;
}


char *
lmd_fuzz_tiny_tokenizer_json(size_t *len)
{
    /* Merges as GPT-2 writes them; "Ġ" (U+0120) is the space byte. */
    static const char  *merges[][2] = {
        { "Ġ", "t" }, { "h", "e" }, { "Ġt", "he" }, { "i", "n" },
        { "Ġ", "a" }, { "e", "r" }, { "Ġ", "s" }, { "o", "n" },
        { "Ġ", "w" }, { "o", "r" }, { "Ġw", "or" }, { "l", "d" },
        { "Ġwor", "ld" },
    };
    size_t     i, nmerges = sizeof(merges) / sizeof(merges[0]);
    char      *buf, *p;
    unsigned   b;

    buf = malloc(16384);
    if (buf == NULL) {
        abort();
    }
    p = buf;
    p += snprintf(p, 1024,
        "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
        "\"added_tokens\":[{\"id\":%zu,\"content\":\"<|end|>\","
        "\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
        "\"normalized\":false,\"special\":true}],"
        "\"normalizer\":null,"
        "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":"
        "false,\"trim_offsets\":true,\"use_regex\":true},"
        "\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":"
        "true,\"trim_offsets\":false,\"use_regex\":true},"
        "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
        "\"trim_offsets\":true,\"use_regex\":true},"
        "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
        "\"continuing_subword_prefix\":\"\",\"end_of_word_suffix\":\"\","
        "\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{",
        256 + nmerges);

    for (b = 0; b < 256; b++) {
        *p++ = '"';
        p = lmd_fuzz_put_char(p, lmd_fuzz_byte_char(b));
        p += snprintf(p, 16, "\":%u,", b);
    }
    for (i = 0; i < nmerges; i++) {
        p += snprintf(p, 64, "\"%s%s\":%zu%s", merges[i][0], merges[i][1],
                      256 + i, i + 1 < nmerges ? "," : "");
    }
    p += snprintf(p, 32, "},\"merges\":[");
    for (i = 0; i < nmerges; i++) {
        p += snprintf(p, 64, "\"%s %s\"%s", merges[i][0], merges[i][1],
                      i + 1 < nmerges ? "," : "");
    }
    p += snprintf(p, 16, "]}}");
    *len = (size_t) (p - buf);
    return buf;
}


const char *
lmd_fuzz_fixtures(void)
{
    static char  path[512];
    const char  *shared;
    char         probe[600];

    if (path[0]) {
        return path;
    }
    shared = getenv("LMD_SHARED");
    snprintf(path, sizeof(path), "%s/fixtures/tokenizers",
             shared != NULL && shared[0] ? shared : "../shared");
    snprintf(probe, sizeof(probe), "%s/README.md", path);
    if (access(probe, R_OK) != 0) {
        path[0] = '\0';
        return NULL;
    }
    return path;
}


int
lmd_fuzz_utf8_valid(const uint8_t *s, size_t len)
{
    size_t    i = 0, n, k;
    uint32_t  c;

    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (s[i] >= 0xc2 && s[i] <= 0xdf) {
            n = 2;
            c = s[i] & 0x1f;
        } else if (s[i] >= 0xe0 && s[i] <= 0xef) {
            n = 3;
            c = s[i] & 0x0f;
        } else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
            n = 4;
            c = s[i] & 0x07;
        } else {
            return 0;
        }
        if (len - i < n) {
            return 0;
        }
        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            c = c << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)))
            || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
        {
            return 0;
        }
        i += n;
    }
    return 1;
}
