/*
 * lmd_rawhttp.c -- a raw HTTP/1.1 client for the integration tests, for
 * what curl cannot do: send exact bytes (pipelined, malformed or slowloris
 * requests), see exactly what comes back and when the server closes, count
 * pipelined responses, and hold many keep-alive connections at once.
 *
 *   lmd_rawhttp --port P send FILE... [--chunk N] [--delay-ms N] [--parse]
 *   lmd_rawhttp parse [--requests FILE] < responses
 *   lmd_rawhttp --port P concurrent --connections N --requests-per-conn M
 *
 * `lmd_rawhttp --help` describes every option and the exit statuses.
 *
 * Design: standalone C11 on POSIX sockets, no library beyond libc.  Every
 * wait is a poll() with a deadline, so the tool never hangs however the
 * server behaves.  One parser (rh_parse_msg) frames both requests and
 * responses (RFC 9112 section 6: Content-Length, chunked, bodiless
 * statuses and HEAD, close-delimited); the send command runs it over the
 * bytes it sent to learn which responses answer HEAD requests.
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Exit statuses. */
#define RH_EXIT_OK        0     /* done; send: the server closed */
#define RH_EXIT_ERROR     1     /* usage or system error; a failed check */
#define RH_EXIT_PARSE     2     /* a response was malformed or cut short */
#define RH_EXIT_TIMEOUT   3     /* the server did not close in time */

#define RH_MAX_CONNS      20000           /* concurrent: sockets */
#define RH_MAX_INPUT      (64 * 1024 * 1024)  /* concurrent: a response */

struct rh_opts {
    const char   *host;
    const char   *port;
    long          timeout_ms;       /* silence before giving up */
    long          close_within_ms;  /* send: close deadline; -1 none */
    long          chunk;            /* send: piece size; 0 whole files */
    long          delay_ms;         /* send: pause between pieces */
    int           parse;            /* send: summary lines, not bytes */
    int           stats;            /* send: a stats line on stderr */
    long          rcvbuf;           /* SO_RCVBUF; 0 the system's */
    long          read_delay_ms;    /* send: a slow reader's pause */
    const char   *show_header;      /* parse: append this header's value */
    const char   *requests;         /* parse: the requests answered */
    long          connections;      /* concurrent */
    long          per_conn;         /* concurrent */
    const char   *path;             /* concurrent */
    char        **files;            /* send */
    int           nfiles;
};

/* A growing byte buffer. */
struct rh_buf {
    char         *data;
    size_t        len;
    size_t        cap;
};

/* What the parser learned about one message. */
struct rh_msg {
    int           status;           /* responses: the status code */
    int           is_head;          /* requests: the method is HEAD */
    long long     body_len;         /* body bytes, after de-chunking */
    char          header[256];      /* value of the header asked for */
};

static const char  *rh_usage_text =
"usage: lmd_rawhttp [OPTIONS] COMMAND [FILE...]\n"
"\n"
"Commands:\n"
"  send FILE...    connect, send the files' bytes as they are (\"-\" is\n"
"                  stdin), then read until the server closes and write\n"
"                  what came back to stdout.  Each file is one piece\n"
"                  unless --chunk splits it; --delay-ms pauses between\n"
"                  pieces, and a close seen during a pause ends the send.\n"
"  parse           read HTTP/1.1 responses from stdin and print one line\n"
"                  per response: \"STATUS BODY_LENGTH\" (interim 1xx\n"
"                  responses too); a last line \"incomplete\" or\n"
"                  \"malformed\" reports bytes that do not make one.\n"
"  concurrent      open --connections sockets at once and send\n"
"                  --requests-per-conn sequential keep-alive GETs of\n"
"                  --path on each; every response must be complete with\n"
"                  status 200.  Prints \"connections=N ok=X failed=Y\n"
"                  responses=R\".\n"
"\n"
"Options:\n"
"  --host ADDR                 server address (127.0.0.1)\n"
"  --port PORT                 server port (send, concurrent)\n"
"  --timeout-ms N              give up after N ms without a byte (5000)\n"
"  --expect-close-within-ms N  send: the server must close within N ms\n"
"                              of the connect, else exit 3\n"
"  --chunk N                   send: pieces of N bytes\n"
"  --delay-ms N                send: N ms between pieces\n"
"  --parse                     send: print parse's lines, not the bytes\n"
"  --rcvbuf N                  the socket's receive buffer (SO_RCVBUF)\n"
"  --read-delay-ms N           send: read 16 KiB at a time, N ms apart\n"
"                              (a slow client; with a small --rcvbuf)\n"
"  --stats                     send: print \"sent=B received=B\n"
"                              closed=yes|reset|no elapsed_ms=N\" to\n"
"                              stderr (elapsed: connect to close)\n"
"  --show-header NAME          parse, send --parse: add NAME's value to\n"
"                              each line (\"-\" when absent)\n"
"  --requests FILE             parse: the requests the responses answer\n"
"                              (responses to HEAD have no body)\n"
"  --connections N             concurrent: sockets (10)\n"
"  --requests-per-conn M       concurrent: requests on each (1)\n"
"  --path PATH                 concurrent: the target (/health)\n"
"  --help                      this text\n"
"\n"
"Exit status: 0 done (send: the server closed the connection), 1 usage\n"
"or system error or a failed check, 2 a malformed or incomplete response,\n"
"3 timeout (the server did not close in time).\n";


/* ------------------------------------------------------------- helpers */

static void
rh_die(const char *fmt, ...)
{
    va_list  ap;

    fputs("lmd_rawhttp: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(RH_EXIT_ERROR);
}


static long long
rh_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
rh_buf_add(struct rh_buf *b, const void *data, size_t len)
{
    size_t   cap;
    char    *p;

    if (b->len + len > b->cap) {
        cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) {
            cap *= 2;
        }
        p = realloc(b->data, cap);
        if (p == NULL) {
            rh_die("out of memory");
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}


static void
rh_buf_read_file(struct rh_buf *b, const char *name)
{
    char     chunk[65536];
    ssize_t  n;
    int      fd;

    fd = strcmp(name, "-") == 0 ? 0 : open(name, O_RDONLY);
    if (fd == -1) {
        rh_die("cannot open %s: %s", name, strerror(errno));
    }
    for ( ;; ) {
        n = read(fd, chunk, sizeof(chunk));
        if (n == 0) {
            break;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            rh_die("cannot read %s: %s", name, strerror(errno));
        }
        rh_buf_add(b, chunk, (size_t) n);
    }
    if (fd != 0) {
        close(fd);
    }
}


static void
rh_write_all(int fd, const char *data, size_t len)
{
    ssize_t  n;

    while (len > 0) {
        n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            rh_die("write to stdout failed: %s", strerror(errno));
        }
        data += n;
        len -= (size_t) n;
    }
}


/* A non-negative decimal option value. */
static long
rh_number(const char *opt, const char *s)
{
    char  *end;
    long   v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0) {
        rh_die("%s needs a non-negative number, not \"%s\"", opt, s);
    }
    return v;
}


/* ------------------------------------------------------------- parsing */

/* The next line of buf[pos..len): sets *start and *n (without CRLF or LF)
 * and returns the position after it, or 0 when no line end is there. */
static size_t
rh_line(const char *buf, size_t len, size_t pos, size_t *start, size_t *n)
{
    const char  *nl;

    nl = memchr(buf + pos, '\n', len - pos);
    if (nl == NULL) {
        return 0;
    }
    *start = pos;
    *n = (size_t) (nl - (buf + pos));
    if (*n > 0 && buf[pos + *n - 1] == '\r') {
        (*n)--;
    }
    return (size_t) (nl - buf) + 1;
}


/* Does the comma-separated list s[0..n) hold token (any case)? */
static int
rh_has_token(const char *s, size_t n, const char *token)
{
    size_t  i, j, tlen = strlen(token);

    i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) {
            i++;
        }
        j = i;
        while (j < n && s[j] != ',') {
            j++;
        }
        while (j > i && (s[j - 1] == ' ' || s[j - 1] == '\t')) {
            j--;
        }
        if (j - i == tlen && strncasecmp(s + i, token, tlen) == 0) {
            return 1;
        }
        while (j < n && s[j] != ',') {
            j++;
        }
        i = j;
    }
    return 0;
}


/* Walks a chunked body from pos; returns the position after its trailer
 * section, 0 when more bytes are needed, -1 when malformed. */
static long long
rh_parse_chunked(const char *buf, size_t len, size_t pos, long long *body)
{
    unsigned long long  size;
    size_t              start, n, i, next;
    int                 digit;
    char                c;

    for ( ;; ) {
        next = rh_line(buf, len, pos, &start, &n);
        if (next == 0) {
            return 0;
        }
        size = 0;
        for (i = 0; i < n; i++) {
            c = buf[start + i];
            if (c >= '0' && c <= '9') {
                digit = c - '0';
            } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
                digit = (c | 0x20) - 'a' + 10;
            } else {
                break;
            }
            if (size > (1ULL << 40)) {
                return -1;
            }
            size = size * 16 + (unsigned long long) digit;
        }
        if (i == 0 || (i < n && buf[start + i] != ';'
                       && buf[start + i] != ' ' && buf[start + i] != '\t'))
        {
            return -1;
        }
        pos = next;

        if (size == 0) {
            /* Trailer fields, then the empty line. */
            for ( ;; ) {
                next = rh_line(buf, len, pos, &start, &n);
                if (next == 0) {
                    return 0;
                }
                pos = next;
                if (n == 0) {
                    return (long long) pos;
                }
            }
        }

        if (len - pos < size + 1) {
            return 0;
        }
        pos += size;
        if (buf[pos] == '\r') {
            if (len - pos < 2) {
                return 0;
            }
            if (buf[pos + 1] != '\n') {
                return -1;
            }
            pos += 2;
        } else if (buf[pos] == '\n') {
            pos += 1;
        } else {
            return -1;
        }
        *body += (long long) size;
    }
}


/*
 * Frames one message at the start of buf[0..len).  request: parse a
 * request (else a response); head: the response answers a HEAD request;
 * eof: nothing follows buf (a response without Content-Length or chunked
 * framing ends there); show: a header whose value goes to m->header.
 * Returns the message's length in bytes, 0 when more bytes are needed,
 * -1 when it is malformed.
 */
static long long
rh_parse_msg(const char *buf, size_t len, int request, int head, int eof,
    const char *show, struct rh_msg *m)
{
    size_t       pos, next, start, n, nlen, vs, ve;
    long long    clen, rc;
    const char  *line, *colon;
    char        *end;
    int          chunked, bodyless;

    memset(m, 0, sizeof(*m));
    snprintf(m->header, sizeof(m->header), "-");
    clen = -1;
    chunked = 0;

    /* The start line. */
    pos = rh_line(buf, len, 0, &start, &n);
    if (pos == 0) {
        return (len > 0 && eof) ? -1 : 0;
    }
    line = buf + start;
    if (request) {
        m->is_head = n >= 5 && memcmp(line, "HEAD ", 5) == 0;
    } else {
        if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' '
            || line[9] < '1' || line[9] > '5'
            || line[10] < '0' || line[10] > '9'
            || line[11] < '0' || line[11] > '9'
            || (n > 12 && line[12] != ' '))
        {
            return -1;
        }
        m->status = (line[9] - '0') * 100 + (line[10] - '0') * 10
                    + (line[11] - '0');
    }

    /* Header fields up to the empty line. */
    for ( ;; ) {
        next = rh_line(buf, len, pos, &start, &n);
        if (next == 0) {
            return eof ? -1 : 0;
        }
        pos = next;
        if (n == 0) {
            break;
        }
        line = buf + start;
        colon = memchr(line, ':', n);
        if (colon == NULL) {
            if (request) {
                continue;       /* a bad request is still sent as is */
            }
            return -1;
        }
        nlen = (size_t) (colon - line);
        vs = nlen + 1;
        while (vs < n && (line[vs] == ' ' || line[vs] == '\t')) {
            vs++;
        }
        ve = n;
        while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t')) {
            ve--;
        }

        if (show != NULL && nlen == strlen(show)
            && strncasecmp(line, show, nlen) == 0)
        {
            snprintf(m->header, sizeof(m->header), "%.*s",
                     (int) (ve - vs), line + vs);
        }
        if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
            errno = 0;
            clen = strtoll(line + vs, &end, 10);
            if (errno != 0 || end != line + ve || clen < 0) {
                return -1;
            }
        } else if (nlen == 17
                   && strncasecmp(line, "Transfer-Encoding", 17) == 0)
        {
            chunked = rh_has_token(line + vs, ve - vs, "chunked");
        }
    }

    /* The body, framed as RFC 9112 section 6.3 says. */
    bodyless = !request
               && (head || m->status < 200 || m->status == 204
                   || m->status == 304);
    if (bodyless) {
        return (long long) pos;
    }
    if (chunked) {
        rc = rh_parse_chunked(buf, len, pos, &m->body_len);
        if (rc == 0 && eof) {
            return -1;
        }
        return rc;
    }
    if (clen >= 0) {
        if ((unsigned long long) (len - pos) < (unsigned long long) clen) {
            return eof ? -1 : 0;
        }
        m->body_len = clen;
        return (long long) pos + clen;
    }
    if (request) {
        return (long long) pos;     /* no framing: no body */
    }
    if (!eof) {
        return 0;                   /* the body ends where the TCP does */
    }
    m->body_len = (long long) (len - pos);
    return (long long) len;
}


/* Which requests in buf are HEAD: heads[i] for the i-th request.  A part
 * that does not parse ends the scan (the server will refuse it too). */
static size_t
rh_scan_requests(const char *buf, size_t len, unsigned char *heads,
    size_t max)
{
    struct rh_msg  m;
    long long      n;
    size_t         pos = 0, count = 0;

    while (pos < len && count < max) {
        n = rh_parse_msg(buf + pos, len - pos, 1, 0, 1, NULL, &m);
        if (n <= 0) {
            break;
        }
        heads[count++] = (unsigned char) m.is_head;
        pos += (size_t) n;
    }
    return count;
}


/* Prints one line per response in buf; returns an exit status. */
static int
rh_print_responses(const char *buf, size_t len, const unsigned char *heads,
    size_t nheads, const char *show)
{
    struct rh_msg  m;
    long long      n;
    size_t         pos = 0, answered = 0;
    int            head;

    while (pos < len) {
        head = answered < nheads && heads[answered];
        n = rh_parse_msg(buf + pos, len - pos, 0, head, 1, show, &m);
        if (n <= 0) {
            /* rh_parse_msg says -1 at eof for a cut-short message too:
             * tell the two apart by whether a start line parses. */
            printf("%s\n", (len - pos >= 12
                            && memcmp(buf + pos, "HTTP/1.", 7) == 0)
                           ? "incomplete" : "malformed");
            return RH_EXIT_PARSE;
        }
        if (show != NULL) {
            printf("%d %lld %s\n", m.status, m.body_len, m.header);
        } else {
            printf("%d %lld\n", m.status, m.body_len);
        }
        if (m.status >= 200) {
            answered++;
        }
        pos += (size_t) n;
    }
    return RH_EXIT_OK;
}


/* ------------------------------------------------------------- sockets */

static int
rh_connect(const struct rh_opts *o, int nonblock)
{
    struct addrinfo   hints, *res;
    int               fd, rc, flags, size;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(o->host, o->port, &hints, &res);
    if (rc != 0) {
        rh_die("%s:%s: %s", o->host, o->port, gai_strerror(rc));
    }
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd == -1) {
        rh_die("socket() failed: %s", strerror(errno));
    }
    if (o->rcvbuf > 0) {
        /* Before connect(), so that the window is negotiated with it. */
        size = (int) o->rcvbuf;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    if (nonblock) {
        flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc == -1 && !(nonblock && errno == EINPROGRESS)) {
        if (!nonblock) {
            rh_die("connect to %s:%s failed: %s", o->host, o->port,
                   strerror(errno));
        }
        close(fd);
        return -1;
    }
    if (!nonblock) {
        flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    return fd;
}


/* ---------------------------------------------------------------- send */

struct rh_send {
    int            fd;
    struct rh_buf  in;            /* everything received */
    size_t         sent;
    int            closed;        /* 1 FIN, 2 reset */
    long long      t0, t_close;
    long long      last_rx;
    long           read_delay_ms; /* read 16 KiB, then pause this long */
};


/* Reads what is there; notes a close. */
static void
rh_send_read(struct rh_send *s)
{
    struct timespec  ts;
    char             chunk[65536];
    ssize_t          n;

    while (!s->closed) {
        n = read(s->fd, chunk, s->read_delay_ms > 0 ? 16384 : sizeof(chunk));
        if (n > 0) {
            rh_buf_add(&s->in, chunk, (size_t) n);
            s->last_rx = rh_now_ms();
            if (s->read_delay_ms > 0) {
                ts.tv_sec = s->read_delay_ms / 1000;
                ts.tv_nsec = (s->read_delay_ms % 1000) * 1000000L;
                nanosleep(&ts, NULL);
                return;
            }
            continue;
        }
        if (n == 0) {
            s->closed = 1;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else {
            s->closed = 2;          /* ECONNRESET and friends */
        }
        s->t_close = rh_now_ms();
    }
}



/* Waits until deadline (absolute ms) for input or a close while writing
 * *data (when not NULL; *left bytes, both advanced as they go).  Returns
 * at the deadline, once the data is written, or when the server closed. */
static void
rh_send_pump(struct rh_send *s, long long deadline, const char **data,
    size_t *left)
{
    struct pollfd  pfd;
    long long      now;
    ssize_t        n;
    int            rc;

    for ( ;; ) {
        if (s->closed || (data != NULL && *left == 0)) {
            return;
        }
        now = rh_now_ms();
        if (now >= deadline) {
            return;
        }
        pfd.fd = s->fd;
        pfd.events = POLLIN | (data != NULL ? POLLOUT : 0);
        pfd.revents = 0;
        rc = poll(&pfd, 1, (int) (deadline - now));
        if (rc < 0 && errno != EINTR) {
            rh_die("poll() failed: %s", strerror(errno));
        }
        if (rc <= 0) {
            continue;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            rh_send_read(s);
        }
        if (data == NULL || s->closed || !(pfd.revents & POLLOUT)) {
            continue;
        }
        n = send(s->fd, *data, *left, MSG_NOSIGNAL);
        if (n > 0) {
            s->sent += (size_t) n;
            *data += n;
            *left -= (size_t) n;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                   && errno != EINTR)
        {
            /* The server is gone; what it sent before may still be read. */
            rh_send_read(s);
            if (!s->closed) {
                s->closed = 2;
                s->t_close = rh_now_ms();
            }
        }
    }
}


static long long
rh_min(long long a, long long b)
{
    return a < b ? a : b;
}


/*
 * send: the files' bytes in pieces, then read until the server closes.
 * Timing: pauses (--delay-ms) are kept exactly and are not "silence";
 * --timeout-ms counts from the last byte received or sent; the optional
 * close deadline counts from the connect and also cuts the sending short.
 */
static int
rh_cmd_send(const struct rh_opts *o)
{
    struct rh_send   s;
    struct rh_buf    out;
    unsigned char   *heads;
    const char      *p;
    size_t          *ends, pos, end, left, nheads;
    long long        deadline, now, last;
    int              i, fi, status;

    memset(&out, 0, sizeof(out));
    ends = calloc((size_t) o->nfiles, sizeof(size_t));
    if (ends == NULL) {
        rh_die("out of memory");
    }
    for (i = 0; i < o->nfiles; i++) {
        rh_buf_read_file(&out, o->files[i]);
        ends[i] = out.len;
    }

    memset(&s, 0, sizeof(s));
    s.read_delay_ms = o->read_delay_ms;
    s.fd = rh_connect(o, 0);
    s.t0 = rh_now_ms();
    deadline = o->close_within_ms >= 0 ? s.t0 + o->close_within_ms
                                       : (long long) 1 << 62;
    status = RH_EXIT_OK;

    /* Send, piece by piece. */
    pos = 0;
    fi = 0;
    while (pos < out.len && !s.closed) {
        while (pos >= ends[fi]) {
            fi++;
        }
        if (pos > 0 && o->delay_ms > 0) {
            rh_send_pump(&s, rh_min(rh_now_ms() + o->delay_ms, deadline),
                         NULL, NULL);
            if (s.closed || rh_now_ms() >= deadline) {
                break;
            }
        }
        end = ends[fi];
        if (o->chunk > 0 && pos + (size_t) o->chunk < end) {
            end = pos + (size_t) o->chunk;
        }
        p = out.data + pos;
        left = end - pos;
        rh_send_pump(&s, rh_min(rh_now_ms() + o->timeout_ms, deadline), &p,
                     &left);
        pos = end - left;
        if (left > 0 && !s.closed) {
            break;          /* the server stopped reading */
        }
    }

    /* Read until the server closes, goes silent, or the deadline. */
    last = rh_now_ms();
    while (!s.closed) {
        if (s.last_rx > last) {
            last = s.last_rx;
        }
        now = rh_now_ms();
        if (now >= rh_min(last + o->timeout_ms, deadline)) {
            break;
        }
        rh_send_pump(&s, rh_min(last + o->timeout_ms, deadline), NULL,
                     NULL);
    }
    if (!s.closed || s.t_close > deadline) {
        status = RH_EXIT_TIMEOUT;
    }

    if (o->parse) {
        heads = malloc(out.len + 1);
        if (heads == NULL) {
            rh_die("out of memory");
        }
        nheads = rh_scan_requests(out.data, out.len, heads, out.len + 1);
        i = rh_print_responses(s.in.data, s.in.len, heads, nheads,
                               o->show_header);
        if (status == RH_EXIT_OK) {
            status = i;
        }
        free(heads);
    } else if (s.in.len > 0) {
        rh_write_all(1, s.in.data, s.in.len);
    }
    fflush(stdout);

    if (o->stats) {
        fprintf(stderr, "sent=%zu received=%zu closed=%s elapsed_ms=%lld\n",
                s.sent, s.in.len,
                s.closed == 1 ? "yes" : s.closed == 2 ? "reset" : "no",
                (s.closed ? s.t_close : rh_now_ms()) - s.t0);
    }
    close(s.fd);
    free(out.data);
    free(s.in.data);
    free(ends);
    return status;
}


/* --------------------------------------------------------------- parse */

static int
rh_cmd_parse(const struct rh_opts *o)
{
    struct rh_buf    in, req;
    unsigned char   *heads = NULL;
    size_t           nheads = 0;
    int              status;

    memset(&in, 0, sizeof(in));
    memset(&req, 0, sizeof(req));
    rh_buf_read_file(&in, "-");
    if (o->requests != NULL) {
        rh_buf_read_file(&req, o->requests);
        heads = malloc(req.len + 1);
        if (heads == NULL) {
            rh_die("out of memory");
        }
        nheads = rh_scan_requests(req.data, req.len, heads, req.len + 1);
    }
    status = rh_print_responses(in.data, in.len, heads, nheads,
                                o->show_header);
    fflush(stdout);
    free(heads);
    free(in.data);
    free(req.data);
    return status;
}


/* ---------------------------------------------------------- concurrent */

enum rh_client_state {
    RH_CONNECTING = 0,      /* non-blocking connect under way */
    RH_SENDING,             /* writing the current request */
    RH_READING,             /* waiting for its response */
    RH_DONE,                /* every response was a complete 200 */
    RH_FAILED               /* see why */
};

struct rh_client {
    int             fd;
    int             state;          /* enum rh_client_state */
    long            done;           /* responses received */
    size_t          out_off;        /* request bytes written */
    struct rh_buf   in;
    char            why[96];
};


static void
rh_client_fail(struct rh_client *c, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
    c->state = RH_FAILED;
    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }
}


/* One readiness event on a client; returns 1 when it made progress. */
static int
rh_client_event(struct rh_client *c, short revents, const char *req,
    size_t reqlen, long per_conn)
{
    struct rh_msg  m;
    char           chunk[16384];
    long long      n;
    socklen_t      len;
    ssize_t        r;
    int            err;

    if (c->state == RH_CONNECTING) {
        err = 0;
        len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0
            || err != 0)
        {
            rh_client_fail(c, "connect failed: %s", strerror(err));
            return 1;
        }
        c->state = RH_SENDING;
    }

    if (c->state == RH_SENDING) {
        if (!(revents & POLLOUT)) {
            if (revents & (POLLHUP | POLLERR)) {
                rh_client_fail(c, "closed before request %ld", c->done + 1);
                return 1;
            }
            return 0;
        }
        r = send(c->fd, req + c->out_off, reqlen - c->out_off,
                 MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                return 0;
            }
            rh_client_fail(c, "send failed on request %ld: %s", c->done + 1,
                           strerror(errno));
            return 1;
        }
        c->out_off += (size_t) r;
        if (c->out_off == reqlen) {
            c->state = RH_READING;
        }
        return 1;
    }

    if (c->state != RH_READING
        || !(revents & (POLLIN | POLLHUP | POLLERR)))
    {
        return 0;
    }
    r = read(c->fd, chunk, sizeof(chunk));
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return 0;
        }
        rh_client_fail(c, "read failed on request %ld: %s", c->done + 1,
                       strerror(errno));
        return 1;
    }
    if (r == 0) {
        rh_client_fail(c, "server closed during response %ld (%zu bytes "
                       "of it)", c->done + 1, c->in.len);
        return 1;
    }
    rh_buf_add(&c->in, chunk, (size_t) r);
    if (c->in.len > RH_MAX_INPUT) {
        rh_client_fail(c, "response %ld is over %d bytes", c->done + 1,
                       RH_MAX_INPUT);
        return 1;
    }

    n = rh_parse_msg(c->in.data, c->in.len, 0, 0, 0, NULL, &m);
    if (n == 0) {
        return 1;
    }
    if (n < 0) {
        rh_client_fail(c, "malformed response %ld", c->done + 1);
        return 1;
    }
    if (m.status != 200) {
        rh_client_fail(c, "status %d on request %ld", m.status,
                       c->done + 1);
        return 1;
    }
    if ((size_t) n != c->in.len) {
        rh_client_fail(c, "%zu unexpected bytes after response %ld",
                       c->in.len - (size_t) n, c->done + 1);
        return 1;
    }
    c->in.len = 0;
    c->done++;
    if (c->done == per_conn) {
        c->state = RH_DONE;
        close(c->fd);
        c->fd = -1;
    } else {
        c->state = RH_SENDING;
        c->out_off = 0;
    }
    return 1;
}


static int
rh_cmd_concurrent(const struct rh_opts *o)
{
    struct rh_client  *cl;
    struct pollfd     *pfd;
    struct rlimit      rl;
    char              *req;
    long              *idx;
    long               i, n, active, ok, failed, shown, responses;
    long long          last, now;
    size_t             reqlen;
    int                rc;

    if (o->connections < 1 || o->connections > RH_MAX_CONNS
        || o->per_conn < 1)
    {
        rh_die("--connections must be 1 to %d and --requests-per-conn at "
               "least 1", RH_MAX_CONNS);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0
        && rl.rlim_cur < (rlim_t) o->connections + 16)
    {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    reqlen = strlen(o->path) + strlen(o->host) + strlen(o->port) + 64;
    req = malloc(reqlen);
    cl = calloc((size_t) o->connections, sizeof(struct rh_client));
    pfd = calloc((size_t) o->connections, sizeof(struct pollfd));
    idx = calloc((size_t) o->connections, sizeof(long));
    if (req == NULL || cl == NULL || pfd == NULL || idx == NULL) {
        rh_die("out of memory");
    }
    reqlen = (size_t) snprintf(req, reqlen, "GET %s HTTP/1.1\r\nHost: %s:%s"
                               "\r\nUser-Agent: lmd_rawhttp\r\n\r\n",
                               o->path, o->host, o->port);

    /* Every connect is started before any request is sent. */
    for (i = 0; i < o->connections; i++) {
        cl[i].fd = rh_connect(o, 1);
        if (cl[i].fd == -1) {
            rh_client_fail(&cl[i], "connect failed: %s", strerror(errno));
        }
    }

    last = rh_now_ms();
    for ( ;; ) {
        active = 0;
        for (i = 0; i < o->connections; i++) {
            if (cl[i].state == RH_DONE || cl[i].state == RH_FAILED) {
                continue;
            }
            pfd[active].fd = cl[i].fd;
            pfd[active].events = cl[i].state == RH_READING ? POLLIN
                                                           : POLLOUT;
            pfd[active].revents = 0;
            idx[active++] = i;
        }
        if (active == 0) {
            break;
        }
        now = rh_now_ms();
        if (now >= last + o->timeout_ms) {
            for (n = 0; n < active; n++) {
                rh_client_fail(&cl[idx[n]], "timed out after %ld "
                               "response(s)", cl[idx[n]].done);
            }
            break;
        }
        rc = poll(pfd, (nfds_t) active, (int) (last + o->timeout_ms - now));
        if (rc < 0 && errno != EINTR) {
            rh_die("poll() failed: %s", strerror(errno));
        }
        for (n = 0; rc > 0 && n < active; n++) {
            if (pfd[n].revents != 0
                && rh_client_event(&cl[idx[n]], pfd[n].revents, req, reqlen,
                                   o->per_conn))
            {
                last = rh_now_ms();
            }
        }
    }

    ok = failed = shown = responses = 0;
    for (i = 0; i < o->connections; i++) {
        responses += cl[i].done;
        if (cl[i].state == RH_DONE) {
            ok++;
            continue;
        }
        failed++;
        if (shown++ < 10) {
            fprintf(stderr, "lmd_rawhttp: connection %ld: %s\n", i + 1,
                    cl[i].why);
        }
        if (cl[i].fd != -1) {
            close(cl[i].fd);
        }
    }
    printf("connections=%ld ok=%ld failed=%ld responses=%ld\n",
           o->connections, ok, failed, responses);
    fflush(stdout);

    for (i = 0; i < o->connections; i++) {
        free(cl[i].in.data);
    }
    free(cl);
    free(pfd);
    free(idx);
    free(req);
    return failed == 0 ? RH_EXIT_OK : RH_EXIT_ERROR;
}


/* ---------------------------------------------------------------- main */

/* The value of an option: "--name=value" or "--name value". */
static const char *
rh_optval(int argc, char **argv, int *i, const char *name)
{
    size_t  len = strlen(name);

    if (strncmp(argv[*i], name, len) != 0) {
        return NULL;
    }
    if (argv[*i][len] == '=') {
        return argv[*i] + len + 1;
    }
    if (argv[*i][len] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        rh_die("%s needs a value", name);
    }
    return argv[++*i];
}


int
main(int argc, char **argv)
{
    struct rh_opts   o;
    const char      *cmd = NULL, *v;
    int              i, status;

    memset(&o, 0, sizeof(o));
    o.host = "127.0.0.1";
    o.timeout_ms = 5000;
    o.close_within_ms = -1;
    o.connections = 10;
    o.per_conn = 1;
    o.path = "/health";
    o.files = calloc((size_t) argc, sizeof(char *));
    if (o.files == NULL) {
        rh_die("out of memory");
    }
    signal(SIGPIPE, SIG_IGN);

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(rh_usage_text, stdout);
            return RH_EXIT_OK;
        }
        if ((v = rh_optval(argc, argv, &i, "--host")) != NULL) {
            o.host = v;
        } else if ((v = rh_optval(argc, argv, &i, "--port")) != NULL) {
            o.port = v;
        } else if ((v = rh_optval(argc, argv, &i, "--timeout-ms")) != NULL) {
            o.timeout_ms = rh_number("--timeout-ms", v);
        } else if ((v = rh_optval(argc, argv, &i,
                                  "--expect-close-within-ms")) != NULL)
        {
            o.close_within_ms = rh_number("--expect-close-within-ms", v);
        } else if ((v = rh_optval(argc, argv, &i, "--chunk")) != NULL) {
            o.chunk = rh_number("--chunk", v);
        } else if ((v = rh_optval(argc, argv, &i, "--delay-ms")) != NULL) {
            o.delay_ms = rh_number("--delay-ms", v);
        } else if (strcmp(argv[i], "--parse") == 0) {
            o.parse = 1;
        } else if (strcmp(argv[i], "--stats") == 0) {
            o.stats = 1;
        } else if ((v = rh_optval(argc, argv, &i, "--rcvbuf")) != NULL) {
            o.rcvbuf = rh_number("--rcvbuf", v);
        } else if ((v = rh_optval(argc, argv, &i, "--read-delay-ms"))
                   != NULL)
        {
            o.read_delay_ms = rh_number("--read-delay-ms", v);
        } else if ((v = rh_optval(argc, argv, &i, "--show-header"))
                   != NULL)
        {
            o.show_header = v;
        } else if ((v = rh_optval(argc, argv, &i, "--requests")) != NULL) {
            o.requests = v;
        } else if ((v = rh_optval(argc, argv, &i, "--connections"))
                   != NULL)
        {
            o.connections = rh_number("--connections", v);
        } else if ((v = rh_optval(argc, argv, &i, "--requests-per-conn"))
                   != NULL)
        {
            o.per_conn = rh_number("--requests-per-conn", v);
        } else if ((v = rh_optval(argc, argv, &i, "--path")) != NULL) {
            o.path = v;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            rh_die("unknown option %s (see --help)", argv[i]);
        } else if (cmd == NULL) {
            cmd = argv[i];
        } else {
            o.files[o.nfiles++] = argv[i];
        }
    }

    if (cmd == NULL) {
        fputs(rh_usage_text, stderr);
        return RH_EXIT_ERROR;
    }
    if (strcmp(cmd, "send") != 0 && strcmp(cmd, "concurrent") != 0
        && strcmp(cmd, "parse") != 0)
    {
        rh_die("unknown command \"%s\" (see --help)", cmd);
    }
    if (o.port == NULL && strcmp(cmd, "parse") != 0) {
        rh_die("%s needs --port", cmd);
    }
    if (o.nfiles == 0 && strcmp(cmd, "send") == 0) {
        rh_die("send needs at least one FILE (\"-\" for stdin)");
    }

    if (strcmp(cmd, "parse") == 0) {
        status = rh_cmd_parse(&o);
    } else if (strcmp(cmd, "concurrent") == 0) {
        status = rh_cmd_concurrent(&o);
    } else {
        status = rh_cmd_send(&o);
    }
    free(o.files);
    return status;
}
