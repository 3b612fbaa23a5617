/*
 * lmd_http_auth.c -- API keys: "Authorization: Bearer KEY".
 *
 * Keys are kept as SHA-256 digests (computed when a configuration is
 * loaded) and the presented key is hashed too, so every comparison runs
 * over 32 bytes with CRYPTO_memcmp: the time taken says nothing about how
 * long the keys are or how much of one matched.  All keys are compared,
 * even after a match.
 */

#include "lmd_http.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>


void
lmd_http_auth_digest(const char *key, size_t len,
    unsigned char digest[LMD_KEY_DIGEST_LEN])
{
    SHA256((const unsigned char *) key, len, digest);
}


int
lmd_http_auth_check(const struct lmd_cycle *cycle,
    const struct lmd_str *authorization)
{
    unsigned char  digest[LMD_KEY_DIGEST_LEN];
    const char    *p, *end;
    size_t         i;
    int            match;

    if (cycle->nkeys == 0) {
        return LMD_OK;
    }
    if (authorization == NULL) {
        return LMD_DECLINED;
    }

    /* credentials = auth-scheme 1*SP token68; the scheme is caseless. */
    p = authorization->data;
    end = p + authorization->len;
    if (authorization->len < 7 || !lmd_strieq(p, 6, "bearer")
        || (p[6] != ' ' && p[6] != '\t'))
    {
        return LMD_DECLINED;
    }
    for (p += 6; p < end && (*p == ' ' || *p == '\t'); p++) {
        /* skip */
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    if (p == end) {
        return LMD_DECLINED;
    }

    lmd_http_auth_digest(p, (size_t) (end - p), digest);
    match = 0;
    for (i = 0; i < cycle->nkeys; i++) {
        match |= CRYPTO_memcmp(digest, cycle->key_digests[i],
                               LMD_KEY_DIGEST_LEN) == 0;
    }
    return match ? LMD_OK : LMD_DECLINED;
}
