/*
 * lmd_tls.c -- server TLS contexts.
 *
 * A context is built per TLS listener whenever a configuration is loaded,
 * so SIGHUP picks up renewed certificates: new connections get the new
 * context, established ones keep theirs (OpenSSL reference-counts it).
 */

#include "lmd_core.h"
#include "lmd_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>


static void
lmd_tls_error(char *err, size_t errlen, const char *what, const char *file)
{
    char           reason[256];
    unsigned long  e;

    e = ERR_peek_last_error();
    if (e != 0) {
        ERR_error_string_n(e, reason, sizeof(reason));
    } else {
        snprintf(reason, sizeof(reason), "%s", strerror(errno));
    }
    ERR_clear_error();
    snprintf(err, errlen, "cannot load %s \"%s\": %s", what, file, reason);
}


/* ALPN: we speak HTTP/1.1 only, so say so and let h2-first clients fall
 * back instead of guessing. */
static int
lmd_tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char  http11[] = "\x08http/1.1";
    unsigned char              *sel;

    lmd_unused(ssl);
    lmd_unused(arg);
    if (SSL_select_next_proto(&sel, outlen, http11, sizeof(http11) - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
    {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}


SSL_CTX *
lmd_tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX  *ctx;

    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        lmd_tls_error(err, errlen, "TLS context for", cert);
        return NULL;
    }

    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION
                             | SSL_OP_CIPHER_SERVER_PREFERENCE
                             | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *) "lmd", 3);
    SSL_CTX_set_alpn_select_cb(ctx, lmd_tls_alpn_cb, NULL);

    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        lmd_tls_error(err, errlen, "certificate", cert);
        goto failed;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        lmd_tls_error(err, errlen, "certificate key", key);
        goto failed;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        lmd_tls_error(err, errlen, "certificate key (does not match the "
                      "certificate)", key);
        goto failed;
    }
    return ctx;

failed:
    SSL_CTX_free(ctx);
    return NULL;
}
