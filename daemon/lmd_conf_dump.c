/*
 * lmd_conf_dump.c -- printing the effective configuration (`lmd -T`).
 *
 * The dump walks the same tables as the loader, so every key appears,
 * defaults included, in table order, with paths already made absolute.
 * The output is YAML that lmd_conf_load accepts, and loading it gives a
 * conf whose dump is the same text: strings are always double-quoted, sizes
 * and durations are written in their shortest exact form, and optional
 * values that are unset (daemon.user, api_keys_file) are left out.
 *
 * Note that the dump contains the API keys: treat it like the config.
 */

#include "lmd_core.h"

#include "lmd_conf.h"
#include "lmd_conf_table.h"


void
lmd_conf_dump_key(struct lmd_conf_dumper *d, int indent, const char *key)
{
    if (d->item) {
        fprintf(d->out, "%*s- %s:", indent - 2, "", key);
        d->item = 0;
        return;
    }
    fprintf(d->out, "%*s%s:", indent, "", key);
}


/* Decodes one UTF-8 sequence at s into *cp; returns its length, or 0 when
 * the bytes are not well-formed UTF-8. */
static size_t
lmd_conf_utf8(const unsigned char *s, uint32_t *cp)
{
    uint32_t  min, v;
    size_t    n, i;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    /* The lead byte gives the length and the first bits; min catches
     * overlong forms. */
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2;
        min = 0x80;
        v = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        min = 0x800;
        v = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4;
        min = 0x10000;
        v = s[0] & 0x07;
    } else {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;                   /* also stops at the NUL */
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        return 0;
    }
    *cp = v;
    return n;
}


/*
 * YAML double-quoted style: backslash and quote are escaped, and so is
 * every code point YAML would not give back as it is: C0 and C1 controls
 * and DEL (not allowed raw), U+0085, U+2028 and U+2029 (YAML line breaks,
 * folded into a space inside quotes), U+FEFF (a byte order mark) and the
 * non-characters U+FFFE and U+FFFF.  Everything else is copied as it is.
 * Bytes that are not UTF-8 (only possible in a path built from a non-UTF-8
 * prefix) have no YAML spelling; they are copied too.
 */
void
lmd_conf_dump_string(FILE *out, const char *s)
{
    const unsigned char  *p;
    uint32_t              cp;
    size_t                n;

    fputc('"', out);
    for (p = (const unsigned char *) s; *p != '\0'; p += n) {
        n = lmd_conf_utf8(p, &cp);
        if (n == 0) {
            fputc(*p, out);
            n = 1;
            continue;
        }

        if (cp == '"' || cp == '\\') {
            fputc('\\', out);
            fputc((int) cp, out);
        } else if (cp == '\n') {
            fputs("\\n", out);
        } else if (cp == '\t') {
            fputs("\\t", out);
        } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            fprintf(out, "\\x%02x", (unsigned) cp);
        } else if (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff
                   || cp == 0xfffe || cp == 0xffff)
        {
            fprintf(out, "\\u%04x", (unsigned) cp);
        } else {
            fwrite(p, 1, n, out);
        }
    }
    fputc('"', out);
}


void
lmd_conf_dump_section(struct lmd_conf_dumper *d,
    const struct lmd_conf_section *sec, const void *base, int indent)
{
    const struct lmd_conf_cmd  *cmd;

    for (cmd = sec->cmds; cmd->key != NULL; cmd++) {
        cmd->type->dump(d, indent, cmd->key,
                        (const char *) base + cmd->offset, cmd);
    }
}


void
lmd_conf_dump(const struct lmd_conf *conf, FILE *out)
{
    struct lmd_conf_dumper  d;

    d.out = out;
    d.item = 0;

    fputs("# lmd effective configuration: every key with its value,\n"
          "# defaults included, relative paths resolved.\n\n", out);
    lmd_conf_dump_section(&d, &lmd_conf_main_section, conf, 0);
}
