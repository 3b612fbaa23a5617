/*
 * lmd_tls.h -- server TLS contexts (OpenSSL): TLS 1.2 and newer, a
 * certificate chain and key from PEM files, ALPN "http/1.1".
 */

#ifndef LMD_TLS_H
#define LMD_TLS_H

#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;

/* Builds a context from a PEM certificate chain and private key.  Returns
 * NULL with err naming the file and OpenSSL's reason.  The caller owns the
 * returned reference (SSL_CTX_free). */
SSL_CTX *lmd_tls_ctx_new(const char *cert, const char *key, char *err,
    size_t errlen);

#endif /* LMD_TLS_H */
