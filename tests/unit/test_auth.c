/*
 * test_auth.c -- API key checks on the Authorization header (RFC 6750
 * Bearer tokens; the scheme is case-insensitive per RFC 9110 11.1).
 */

#include "lmd_test.h"
#include "lmd_http.h"

static unsigned char     digests[2][LMD_KEY_DIGEST_LEN];
static struct lmd_cycle  cycle;


static int
check(const char *header)
{
    struct lmd_str  h;

    if (cycle.nkeys == 0) {
        lmd_http_auth_digest("sk-one", 6, digests[0]);
        lmd_http_auth_digest("sk-two-longer", 13, digests[1]);
        cycle.key_digests = digests;
        cycle.nkeys = 2;
    }
    if (header == NULL) {
        return lmd_http_auth_check(&cycle, NULL);
    }
    h.data = header;
    h.len = strlen(header);
    return lmd_http_auth_check(&cycle, &h);
}


/* Assumption: any configured key passes, in any position of the list. */
LMD_TEST(auth_keys_accepted)
{
    fail_unless(check("Bearer sk-one") == LMD_OK, "first key");
    fail_unless(check("Bearer sk-two-longer") == LMD_OK, "second key");
    fail_unless(check("bearer sk-one") == LMD_OK, "lowercase scheme");
    fail_unless(check("BEARER   sk-one  ") == LMD_OK,
                "extra spaces around the token");
}


/* Assumption: anything else is refused: other keys, prefixes and
 * extensions of keys, other schemes, a missing header. */
LMD_TEST(auth_refused)
{
    fail_unless(check(NULL) == LMD_DECLINED, "no header");
    fail_unless(check("") == LMD_DECLINED, "empty header");
    fail_unless(check("Bearer") == LMD_DECLINED, "scheme only");
    fail_unless(check("Bearer ") == LMD_DECLINED, "empty token");
    fail_unless(check("Bearer sk-on") == LMD_DECLINED, "prefix of a key");
    fail_unless(check("Bearer sk-one1") == LMD_DECLINED, "key plus more");
    fail_unless(check("Bearersk-one") == LMD_DECLINED, "no space");
    fail_unless(check("Basic c2stb25lOg==") == LMD_DECLINED, "Basic");
    fail_unless(check("Token sk-one") == LMD_DECLINED, "other scheme");
}


/* Assumption: with no keys configured every request passes. */
LMD_TEST(auth_no_keys)
{
    struct lmd_cycle  open;

    memset(&open, 0, sizeof(open));
    fail_unless(lmd_http_auth_check(&open, NULL) == LMD_OK, "open server");
}
