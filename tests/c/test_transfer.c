/*
 * test_transfer.c: the blocking transfer calls (resmgr_client_run_upload,
 * resmgr_client_run_download, resmgr_client_upload_file, resmgr_client_cancel)
 * and their read / write / progress callbacks, through the public header,
 * against a real HTTP/1.1 server on a loopback socket.
 *
 * The server lives in this file: POSIX sockets and one pthread, bound to
 * 127.0.0.1 on a free port, one request per connection (`Connection:
 * close`), scripted per test (serve an in-memory object honouring
 * `Range: bytes=N-`, cut the body, answer an S3-style XML error, dribble,
 * stall, accept a PUT and hash its body). It records every request so the
 * tests can assert what the library sent. Each test stops and joins it.
 *
 * When the library header does not declare the transfer API (built
 * without the "http" feature), the program says so and exits 77: ctest
 * reports it as skipped, not passed.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "support.h"

#ifdef RESMGR_HTTP

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Time                                                                 */
/* ------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000u);
    ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Safety limit for anything a test waits for (never asserted on). */
#define WAIT_LIMIT_MS 20000u

/* ------------------------------------------------------------------ */
/* The scripted HTTP server                                             */
/* ------------------------------------------------------------------ */

#define SRV_MAX_REQS 32
#define SRV_MAX_STEPS 8

/* What the server does with one request. The i-th request after the
 * script was set follows step i; the last step repeats; no steps at all =
 * every request is served normally. */
typedef struct srv_step {
    int status;         /* 0: success (GET 200, or 206 for a Range; PUT 200) */
    const char *code;   /* <Code> of the XML error body of an error status */
    bool cut;           /* GET: close the connection after cut_after body bytes */
    size_t cut_after;
    unsigned dribble_ms; /* GET: one body byte every dribble_ms */
    bool stall;          /* GET: headers then nothing; PUT: read the body, never answer */
    bool stall_head;     /* read the request, then send nothing at all */
    bool ignore_range;   /* GET: answer 200 with the whole object whatever the Range */
    bool bad_range;      /* GET: a 206 whose Content-Range starts one byte late */
    bool answer_first;   /* PUT: 200 right after the head (no 100 Continue, body unread) */
} srv_step;

typedef struct srv_req {
    char method[16];
    char target[512];
    bool has_range;
    char range[128];
    bool has_content_length;
    uint64_t content_length;
    bool has_content_md5;
    char content_md5[64];
    bool has_transfer_encoding;
    char transfer_encoding[64];
    uint64_t body_len; /* PUT: body bytes received; GET: body bytes sent */
    bool body_complete;
    char body_md5[RESMGR_MD5_HEX_SIZE]; /* PUT: MD5 of the body received */
    int answered;                       /* status line sent, 0 if none */
} srv_req;

typedef struct http_server {
    pthread_mutex_t mu;
    pthread_t thread;
    bool started;
    int listen_fd;
    unsigned port;
    bool stop;       /* the test is over */
    bool abort_conn; /* safety net: end every connection now */
    const uint8_t *obj;
    size_t obj_len;
    srv_step steps[SRV_MAX_STEPS];
    size_t n_steps;
    size_t step_base; /* the request that follows steps[0] */
    size_t n_reqs; /* requests seen (may exceed SRV_MAX_REQS) */
    srv_req reqs[SRV_MAX_REQS];
} http_server;

typedef struct srv_conn {
    http_server *s;
    int fd;
    uint8_t buf[4096];
    size_t len, pos;
} srv_conn;

/* Copies `src` into `dst` (capacity `cap`), cut to fit. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static bool srv_quit(http_server *s)
{
    bool q;
    pthread_mutex_lock(&s->mu);
    q = s->stop || s->abort_conn;
    pthread_mutex_unlock(&s->mu);
    return q;
}

/* Waits for fd to become readable (data or EOF): true; false when the
 * server must quit or a connection has been silent for too long. */
static bool srv_wait_io(srv_conn *c, short events)
{
    uint64_t deadline = now_ms() + WAIT_LIMIT_MS;
    for (;;) {
        struct pollfd p;
        int rc;
        p.fd = c->fd;
        p.events = events;
        p.revents = 0;
        rc = poll(&p, 1, 20);
        if (rc > 0) {
            return true;
        }
        if (rc < 0 && errno != EINTR) {
            return false;
        }
        if (srv_quit(c->s) || now_ms() > deadline) {
            return false;
        }
    }
}

/* Refills the buffer: bytes read, 0 at EOF, -1 on error / quit. */
static int srv_fill(srv_conn *c)
{
    for (;;) {
        ssize_t n;
        if (!srv_wait_io(c, POLLIN)) {
            return -1;
        }
        n = recv(c->fd, c->buf, sizeof c->buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        c->len = (size_t)n;
        c->pos = 0;
        return (int)n;
    }
}

static int srv_getc(srv_conn *c)
{
    if (c->pos == c->len && srv_fill(c) <= 0) {
        return -1;
    }
    return c->buf[c->pos++];
}

/* One CRLF- (or LF-) terminated line without its terminator; false at
 * EOF. Overlong lines are cut. */
static bool srv_line(srv_conn *c, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int ch = srv_getc(c);
        if (ch < 0) {
            return false;
        }
        if (ch == '\n') {
            break;
        }
        if (n + 1 < cap) {
            line[n++] = (char)ch;
        }
    }
    if (n > 0 && line[n - 1] == '\r') {
        n--;
    }
    line[n] = '\0';
    return true;
}

/* Reads up to `want` body bytes into the hash; returns how many came. */
static uint64_t srv_body(srv_conn *c, uint64_t want, resmgr_md5 *md5)
{
    uint64_t got = 0;
    while (got < want) {
        size_t n;
        if (c->pos == c->len && srv_fill(c) <= 0) {
            break;
        }
        n = c->len - c->pos;
        if ((uint64_t)n > want - got) {
            n = (size_t)(want - got);
        }
        resmgr_md5_update(md5, c->buf + c->pos, n);
        c->pos += n;
        got += n;
    }
    return got;
}

static bool srv_send(srv_conn *c, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    while (len > 0) {
        size_t chunk = len < 16384 ? len : 16384;
        ssize_t n;
        if (!srv_wait_io(c, POLLOUT)) {
            return false;
        }
        n = send(c->fd, p, chunk, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool srv_sendf(srv_conn *c, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) {
        return false;
    }
    return srv_send(c, buf, (size_t)n);
}

/* Reads and drops whatever comes until the peer closes or the server
 * quits (a stalled answer). */
static void srv_wait_close(srv_conn *c)
{
    while (srv_fill(c) > 0) {
    }
}

static const char *srv_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void srv_error(srv_conn *c, int status, const char *code)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                     "<Message>scripted error</Message><Resource>/bucket</Resource>"
                     "<RequestId>test-req-1</RequestId></Error>",
                     code != NULL ? code : "InternalError");
    if (srv_sendf(c,
                  "HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
                  "Connection: close\r\n\r\n",
                  status, srv_reason(status), n)) {
        srv_send(c, body, (size_t)n);
    }
}

static void srv_note(http_server *s, size_t idx, uint64_t body_len, bool complete,
                     const char *md5_hex, int answered)
{
    pthread_mutex_lock(&s->mu);
    if (idx < SRV_MAX_REQS) {
        srv_req *q = &s->reqs[idx];
        q->body_len = body_len;
        q->body_complete = complete;
        if (md5_hex != NULL) {
            copy_str(q->body_md5, sizeof q->body_md5, md5_hex);
        }
        if (answered != 0) {
            q->answered = answered;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* Parses "bytes=N-"; false for anything else. */
static bool parse_range(const char *v, uint64_t *start)
{
    char *end;
    unsigned long long n;
    if (strncmp(v, "bytes=", 6) != 0 || v[6] < '0' || v[6] > '9') {
        return false;
    }
    errno = 0;
    n = strtoull(v + 6, &end, 10);
    if (errno != 0 || strcmp(end, "-") != 0) {
        return false;
    }
    *start = (uint64_t)n;
    return true;
}

static void srv_get(srv_conn *c, size_t idx, const srv_req *rq, const srv_step *st)
{
    http_server *s = c->s;
    uint64_t start = 0, left, sent = 0;
    bool partial = false;
    if (st->status != 0 && st->status != 200) {
        srv_error(c, st->status, st->code);
        srv_note(s, idx, 0, false, NULL, st->status);
        return;
    }
    if (rq->has_range && !st->ignore_range) {
        if (!parse_range(rq->range, &start) || start >= s->obj_len) {
            srv_error(c, 416, "InvalidRange");
            srv_note(s, idx, 0, false, NULL, 416);
            return;
        }
        partial = true;
    }
    left = s->obj_len - start;
    if (partial) {
        srv_sendf(c,
                  "HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\n"
                  "Content-Length: %" PRIu64 "\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64
                  "/%" PRIu64 "\r\nETag: \"obj\"\r\nConnection: close\r\n\r\n",
                  left, start + (st->bad_range ? 1u : 0u), (uint64_t)s->obj_len - 1,
                  (uint64_t)s->obj_len);
    } else {
        srv_sendf(c,
                  "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  "Content-Length: %" PRIu64 "\r\nAccept-Ranges: bytes\r\nETag: \"obj\"\r\n"
                  "Connection: close\r\n\r\n",
                  left);
    }
    srv_note(s, idx, 0, false, NULL, partial ? 206 : 200);
    if (st->stall) {
        srv_wait_close(c);
        return;
    }
    if (st->cut && st->cut_after < left) {
        left = st->cut_after;
    }
    if (st->dribble_ms > 0) {
        while (sent < left && !srv_quit(s)) {
            unsigned waited = 0;
            if (!srv_send(c, s->obj + start + sent, 1)) {
                break;
            }
            sent++;
            srv_note(s, idx, sent, false, NULL, 0);
            while (waited < st->dribble_ms && !srv_quit(s)) {
                unsigned step = st->dribble_ms - waited < 10 ? st->dribble_ms - waited : 10;
                sleep_ms(step);
                waited += step;
            }
        }
    } else if (left > 0 && srv_send(c, s->obj + start, (size_t)left)) {
        sent = left;
    }
    srv_note(s, idx, sent, sent == s->obj_len - start, NULL, 0);
}

static void srv_put(srv_conn *c, size_t idx, const srv_req *rq, const srv_step *st,
                    bool expect_continue, bool chunked)
{
    http_server *s = c->s;
    resmgr_md5 *md5 = resmgr_md5_new();
    resmgr_digest d;
    uint64_t got = 0;
    bool complete = false;
    if (md5 == NULL) {
        return;
    }
    if (st->answer_first) {
        /* A store that says OK instead of 100 Continue, having no body. */
        resmgr_md5_free(md5);
        srv_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        srv_note(s, idx, 0, false, NULL, 200);
        return;
    }
    if (expect_continue) {
        srv_sendf(c, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    if (chunked) {
        char line[256];
        for (;;) {
            unsigned long long n;
            uint64_t k;
            if (!srv_line(c, line, sizeof line)) {
                break;
            }
            n = strtoull(line, NULL, 16);
            if (n == 0) {
                while (srv_line(c, line, sizeof line) && line[0] != '\0') {
                }
                complete = true;
                break;
            }
            k = srv_body(c, (uint64_t)n, md5);
            got += k;
            if (k < n || !srv_line(c, line, sizeof line)) {
                break;
            }
        }
    } else if (rq->has_content_length) {
        got = srv_body(c, rq->content_length, md5);
        complete = got == rq->content_length;
    } else {
        complete = true;
    }
    resmgr_md5_finish(md5, &d);
    resmgr_md5_free(md5);
    srv_note(s, idx, got, complete, d.hex, 0);
    if (!complete) {
        return; /* the client gave up on the request */
    }
    if (st->stall) {
        srv_wait_close(c);
        return;
    }
    if (st->status != 0 && (st->status < 200 || st->status > 299)) {
        srv_error(c, st->status, st->code);
        srv_note(s, idx, got, complete, NULL, st->status);
        return;
    }
    srv_sendf(c,
              "HTTP/1.1 %d %s\r\nETag: \"%s\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
              st->status != 0 ? st->status : 200, srv_reason(st->status != 0 ? st->status : 200),
              d.hex);
    srv_note(s, idx, got, complete, NULL, st->status != 0 ? st->status : 200);
}

static void srv_handle(http_server *s, int fd)
{
    srv_conn *c = (srv_conn *)xmalloc(sizeof *c);
    char line[2048];
    srv_req rq;
    srv_step st;
    size_t idx;
    bool expect_continue = false, chunked = false;
    char *sp1, *sp2;

    c->s = s;
    c->fd = fd;
    c->len = c->pos = 0;
    memset(&rq, 0, sizeof rq);
    if (!srv_line(c, line, sizeof line)) {
        free(c);
        return;
    }
    sp1 = strchr(line, ' ');
    sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL) {
        free(c);
        return;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    copy_str(rq.method, sizeof rq.method, line);
    copy_str(rq.target, sizeof rq.target, sp1 + 1);
    for (;;) {
        char *colon, *v;
        if (!srv_line(c, line, sizeof line)) {
            free(c);
            return;
        }
        if (line[0] == '\0') {
            break;
        }
        colon = strchr(line, ':');
        if (colon == NULL) {
            continue;
        }
        *colon = '\0';
        v = colon + 1;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        if (strcasecmp(line, "Range") == 0) {
            rq.has_range = true;
            copy_str(rq.range, sizeof rq.range, v);
        } else if (strcasecmp(line, "Content-Length") == 0) {
            rq.has_content_length = true;
            rq.content_length = (uint64_t)strtoull(v, NULL, 10);
        } else if (strcasecmp(line, "Content-MD5") == 0) {
            rq.has_content_md5 = true;
            copy_str(rq.content_md5, sizeof rq.content_md5, v);
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            rq.has_transfer_encoding = true;
            copy_str(rq.transfer_encoding, sizeof rq.transfer_encoding, v);
            chunked = strcasecmp(v, "chunked") == 0;
        } else if (strcasecmp(line, "Expect") == 0) {
            expect_continue = strcasecmp(v, "100-continue") == 0;
        }
    }
    pthread_mutex_lock(&s->mu);
    idx = s->n_reqs++;
    if (idx < SRV_MAX_REQS) {
        s->reqs[idx] = rq;
    }
    if (s->n_steps == 0) {
        memset(&st, 0, sizeof st);
    } else {
        size_t k = idx - s->step_base;
        st = s->steps[k < s->n_steps ? k : s->n_steps - 1];
    }
    pthread_mutex_unlock(&s->mu);

    if (st.stall_head) {
        srv_wait_close(c);
    } else if (strcmp(rq.method, "GET") == 0) {
        srv_get(c, idx, &rq, &st);
    } else if (strcmp(rq.method, "PUT") == 0) {
        srv_put(c, idx, &rq, &st, expect_continue, chunked);
    } else {
        srv_error(c, 405, "MethodNotAllowed");
    }
    free(c);
}

static void *srv_main(void *arg)
{
    http_server *s = (http_server *)arg;
    for (;;) {
        struct pollfd p;
        int rc, fd;
        bool stopping;
        pthread_mutex_lock(&s->mu);
        stopping = s->stop;
        pthread_mutex_unlock(&s->mu);
        p.fd = s->listen_fd;
        p.events = POLLIN;
        p.revents = 0;
        /* Once told to stop, still take the connections already queued (a
         * client may have sent a request and gone before it was accepted),
         * then leave. */
        rc = poll(&p, 1, stopping ? 0 : 20);
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            if (stopping) {
                break;
            }
            continue;
        }
        fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (stopping) {
                break;
            }
            continue;
        }
        srv_handle(s, fd);
        close(fd);
    }
    return NULL;
}

/* Starts a server serving `obj` (borrowed; it must outlive the server). */
static bool srv_start(http_server *s, const uint8_t *obj, size_t obj_len)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int one = 1;
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->obj = obj;
    s->obj_len = obj_len;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->listen_fd < 0) {
        CHECK_FAIL("socket() failed");
        return false;
    }
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = 0;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        CHECK_FAIL("bind/listen/getsockname on 127.0.0.1:0 failed");
        close(s->listen_fd);
        s->listen_fd = -1;
        return false;
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->thread, NULL, srv_main, s) != 0) {
        CHECK_FAIL("pthread_create (server) failed");
        close(s->listen_fd);
        s->listen_fd = -1;
        return false;
    }
    s->started = true;
    return true;
}

static void srv_script(http_server *s, const srv_step *steps, size_t n)
{
    pthread_mutex_lock(&s->mu);
    s->n_steps = n < SRV_MAX_STEPS ? n : SRV_MAX_STEPS;
    s->step_base = s->n_reqs;
    if (s->n_steps > 0) {
        memcpy(s->steps, steps, s->n_steps * sizeof *steps);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Swaps the object served (between runs, while no request is running). */
static void srv_set_object(http_server *s, const uint8_t *obj, size_t obj_len)
{
    pthread_mutex_lock(&s->mu);
    s->obj = obj;
    s->obj_len = obj_len;
    pthread_mutex_unlock(&s->mu);
}

static size_t srv_count(http_server *s)
{
    size_t n;
    if (!s->started) {
        return s->n_reqs;
    }
    pthread_mutex_lock(&s->mu);
    n = s->n_reqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void srv_abort(http_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->abort_conn = true;
    pthread_mutex_unlock(&s->mu);
}

/* Stops the server thread and joins it; the records stay readable. */
static void srv_stop(http_server *s)
{
    if (!s->started) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    s->listen_fd = -1;
    s->started = false;
    pthread_mutex_destroy(&s->mu);
}

/* The record of request `i`, or a zeroed one when there is none. */
static const srv_req *srv_req_at(http_server *s, size_t i)
{
    static srv_req none;
    if (i >= s->n_reqs || i >= SRV_MAX_REQS) {
        memset(&none, 0, sizeof none);
        return &none;
    }
    return &s->reqs[i];
}

/* http://127.0.0.1:PORT/bucket/KEY?sig=SIG */
static const char *srv_url(http_server *s, char *buf, size_t cap, const char *key,
                           const char *sig)
{
    snprintf(buf, cap, "http://127.0.0.1:%u/bucket/%s?sig=%s", s->port, key, sig);
    return buf;
}

static const char *srv_target(char *buf, size_t cap, const char *key, const char *sig)
{
    snprintf(buf, cap, "/bucket/%s?sig=%s", key, sig);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Files, data, digests                                                 */
/* ------------------------------------------------------------------ */

static bool make_dir(char *out, size_t cap)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0' || strlen(base) > 150) {
        base = "/tmp";
    }
    snprintf(out, cap, "%s/resmgr-xfer-XXXXXX", base);
    if (mkdtemp(out) == NULL) {
        CHECK_FAIL("mkdtemp failed");
        out[0] = '\0';
        return false;
    }
    return true;
}

static void join_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static bool exists_in(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    join_path(p, sizeof p, dir, name);
    return lstat(p, &st) == 0;
}

static long file_size_in(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    join_path(p, sizeof p, dir, name);
    return lstat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* Entries of `dir` other than . and .. */
static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    if (d == NULL) {
        return (size_t)-1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static void remove_dir(const char *dir)
{
    DIR *d;
    struct dirent *e;
    if (dir[0] == '\0') {
        return;
    }
    d = opendir(dir);
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            char p[512];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
                continue;
            }
            join_path(p, sizeof p, dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The whole file at dir/name (malloc'd), or NULL. */
static uint8_t *read_in(const char *dir, const char *name, size_t *len)
{
    char p[512];
    FILE *f;
    uint8_t *buf;
    long n;
    join_path(p, sizeof p, dir, name);
    f = fopen(p, "rb");
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = (uint8_t *)xmalloc((size_t)n);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Checks that dir/name holds exactly `len` bytes of `data`. */
static void check_file_in_(const char *dir, const char *name, const uint8_t *data, size_t len,
                           const char *file, int line)
{
    size_t got_len = 0;
    uint8_t *got = read_in(dir, name, &got_len);
    check_mem_(got, got_len, data, len, file, line, name, "the expected content");
    free(got);
}
#define CHECK_FILE_IN(dir, name, data, len) check_file_in_((dir), (name), (data), (len), __FILE__, __LINE__)

static bool write_in(const char *dir, const char *name, const void *data, size_t len)
{
    char p[512];
    FILE *f;
    bool ok;
    join_path(p, sizeof p, dir, name);
    f = fopen(p, "wb");
    if (f == NULL) {
        CHECK_FAIL("cannot create a temporary file");
        return false;
    }
    ok = len == 0 || fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0 || !ok) {
        CHECK_FAIL("cannot write a temporary file");
        return false;
    }
    return true;
}

/* `len` pseudo-random bytes (malloc'd). */
static uint8_t *make_object(size_t len, uint32_t seed)
{
    uint8_t *p = (uint8_t *)xmalloc(len);
    uint32_t x = seed * 2654435761u + 12345u;
    size_t i;
    for (i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

static void md5_of(const void *data, size_t len, resmgr_digest *out)
{
    resmgr_md5 *m = resmgr_md5_new();
    memset(out, 0, sizeof *out);
    if (m == NULL) {
        CHECK_FAIL("resmgr_md5_new failed");
        return;
    }
    resmgr_md5_update(m, (const uint8_t *)data, len);
    resmgr_md5_finish(m, out);
    resmgr_md5_free(m);
}

/* ------------------------------------------------------------------ */
/* Client set-up and report checks                                     */
/* ------------------------------------------------------------------ */

/* A client wired to `r` whose transfers retry `max_retries` times with a
 * few ms of backoff and give up on a stall after `idle_ms`. */
static resmgr_client *xfer_client(recorder *r, uint32_t max_retries, uint32_t idle_ms)
{
    resmgr_client *c = make_client(r);
    resmgr_transfer_options o;
    if (c == NULL) {
        return NULL;
    }
    CHECK_STATUS(resmgr_transfer_options_init(&o), RESMGR_OK);
    o.connect_timeout_ms = 5000;
    o.idle_timeout_ms = idle_ms;
    o.max_retries = max_retries;
    o.backoff_initial_ms = 5;
    o.backoff_max_ms = 20;
    CHECK_STATUS(resmgr_client_set_transfer_options(c, &o), RESMGR_OK);
    return c;
}

#define DONE_JSON "{\"state\":\"done\",\"result_code\":0,\"result_msg\":\"\"}"
#define FAIL_JSON(code, msg) \
    "{\"state\":\"fail\",\"result_code\":" #code ",\"result_msg\":\"" msg "\"}"

static const char *report_json(char *buf, size_t cap, const char *type, const char *name,
                               const char *progress)
{
    snprintf(buf, cap, "{\"type\":\"%s\",\"name\":\"%s\",\"progress\":%s}", type, name,
             progress);
    return buf;
}

#define CHECK_LAST_REPORT(r, type, name, progress)                                          \
    do {                                                                                    \
        char rj_[1024];                                                                     \
        CHECK_LAST_PUB((r), report_json(rj_, sizeof rj_, (type), (name), (progress)), 1); \
    } while (0)

/* The last publish is a `fail` report of `type` for `name` at QoS 1 with
 * a non-zero result_code and a non-empty result_msg (a failure without a
 * standard code: the protocol says "non-zero code, say what happened"). */
static int check_last_fail_any_(recorder *r, const char *type, const char *name,
                                const char *file, int line)
{
    char prefix[512];
    rec_pub *p = rec_last_pub(r);
    const char *rest;
    char *end;
    long code;
    snprintf(prefix, sizeof prefix,
             "{\"type\":\"%s\",\"name\":\"%s\",\"progress\":{\"state\":\"fail\",\"result_code\":",
             type, name);
    if (p != NULL && p->qos == 1 && strcmp(p->topic, UP_TOPIC) == 0 &&
        strncmp(p->payload, prefix, strlen(prefix)) == 0) {
        rest = p->payload + strlen(prefix);
        code = strtol(rest, &end, 10);
        if (code != 0 && strncmp(end, ",\"result_msg\":\"", 15) == 0 && end[15] != '"' &&
            strcmp(p->payload + p->len - 2, "}}") == 0) {
            check_passed_++;
            return 1;
        }
    }
    check_fail_head_(file, line);
    printf("expected a fail report for \"%s\" with a non-zero code and a message, got ", name);
    if (p == NULL) {
        printf("no publish\n");
    } else {
        printf("qos %d ", p->qos);
        check_print_quoted_(p->payload, p->len, 600);
        fputc('\n', stdout);
    }
    return 0;
}
#define CHECK_LAST_FAIL_ANY(r, type, name) \
    check_last_fail_any_((r), (type), (name), __FILE__, __LINE__)

/* Publishes whose payload contains `needle`. */
static size_t count_pubs_with(recorder *r, const char *needle)
{
    size_t i, n = 0;
    pthread_mutex_lock(&r->mu);
    for (i = 0; i < r->n_pubs && i < REC_MAX_PUBS; i++) {
        if (strstr(r->pubs[i].payload, needle) != NULL) {
            n++;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

static size_t final_reports(recorder *r)
{
    return count_pubs_with(r, "\"state\":\"done\"") + count_pubs_with(r, "\"state\":\"fail\"");
}

/* Every publish from `from` up to (not including) the last is an
 * in-progress report of `type` / `state` for `name`, at QoS 0. */
static int check_progress_reports_(recorder *r, size_t from, const char *type,
                                   const char *name, const char *state, const char *file,
                                   int line)
{
    char prefix[512];
    size_t i;
    snprintf(prefix, sizeof prefix,
             "{\"type\":\"%s\",\"name\":\"%s\",\"progress\":{\"state\":\"%s\",\"percent\":",
             type, name, state);
    for (i = from; i + 1 < r->n_pubs && i < REC_MAX_PUBS; i++) {
        rec_pub *p = &r->pubs[i];
        if (p->qos != 0 || strncmp(p->payload, prefix, strlen(prefix)) != 0) {
            check_fail_head_(file, line);
            printf("publish #%zu is not a QoS 0 \"%s\" report: qos %d ", i, state, p->qos);
            check_print_quoted_(p->payload, p->len, 400);
            fputc('\n', stdout);
            return 0;
        }
    }
    check_passed_++;
    return 1;
}
#define CHECK_PROGRESS_REPORTS(r, from, type, name, state) \
    check_progress_reports_((r), (from), (type), (name), (state), __FILE__, __LINE__)

#define DL "report_download_progress"
#define UL "report_upload_progress"

/* ------------------------------------------------------------------ */
/* Callbacks                                                            */
/* ------------------------------------------------------------------ */

typedef struct progress_log {
    pthread_mutex_t mu;
    char name[RESMGR_MAX_NAME_LEN + 1];
    size_t calls;
    uint64_t last_done, total;
    bool decreased, over, total_changed, wrong_name;
} progress_log;

static void plog_init(progress_log *pl, const char *name)
{
    memset(pl, 0, sizeof *pl);
    pthread_mutex_init(&pl->mu, NULL);
    copy_str(pl->name, sizeof pl->name, name);
}

static void plog_free(progress_log *pl)
{
    pthread_mutex_destroy(&pl->mu);
}

static void progress_cb(void *user, const char *name, uint64_t done, uint64_t total)
{
    progress_log *pl = (progress_log *)user;
    pthread_mutex_lock(&pl->mu);
    if (name == NULL || strcmp(name, pl->name) != 0) {
        pl->wrong_name = true;
    }
    if (pl->calls > 0 && done < pl->last_done) {
        pl->decreased = true;
    }
    if (pl->calls > 0 && total != pl->total) {
        pl->total_changed = true;
    }
    if (done > total) {
        pl->over = true;
    }
    pl->calls++;
    pl->last_done = done;
    pl->total = total;
    pthread_mutex_unlock(&pl->mu);
}

static uint64_t plog_done(progress_log *pl)
{
    uint64_t d;
    pthread_mutex_lock(&pl->mu);
    d = pl->calls > 0 ? pl->last_done : 0;
    pthread_mutex_unlock(&pl->mu);
    return d;
}

/* The callback saw the right name, `done` never went down nor past
 * `total`, `total` was the task's size, and it ended at `total`. */
static void check_progress_log_(progress_log *pl, uint64_t size, const char *file, int line)
{
    check_true_(pl->calls > 0, file, line, "the progress callback was called");
    check_true_(!pl->wrong_name, file, line, "progress callback got the task's name");
    check_true_(!pl->decreased, file, line, "progress `done` never decreased");
    check_true_(!pl->over, file, line, "progress `done` never exceeded `total`");
    check_true_(!pl->total_changed, file, line, "progress `total` stayed the same");
    check_eq_u64_(pl->total, size, file, line, "progress total", "size");
    check_eq_u64_(pl->last_done, size, file, line, "last progress done", "size");
}
#define CHECK_PROGRESS_LOG(pl, size) check_progress_log_((pl), (size), __FILE__, __LINE__)

/* A write callback collecting into memory. */
typedef struct mem_sink {
    uint8_t *buf;
    size_t cap;
    uint64_t received; /* end of the last write */
    size_t calls;
    size_t restarts;     /* writes at offset 0 after data had arrived */
    bool gap;            /* a write neither contiguous nor a restart at 0 */
    bool overflow;       /* a write past `cap` */
    uint64_t fail_from;  /* fail a write reaching past this offset (0 = never) */
    size_t calls_after_fail;
    bool failed;
} mem_sink;

static int32_t sink_write(void *user, uint64_t offset, const uint8_t *buf, size_t len)
{
    mem_sink *s = (mem_sink *)user;
    if (s->failed) {
        s->calls_after_fail++;
    }
    s->calls++;
    if (offset != s->received) {
        if (offset == 0) {
            s->restarts++;
        } else {
            s->gap = true;
        }
    }
    if (offset > s->cap || len > s->cap - offset) {
        s->overflow = true;
        return 0;
    }
    if (len > 0) {
        memcpy(s->buf + offset, buf, len);
    }
    s->received = offset + len;
    if (s->fail_from > 0 && offset + len > s->fail_from) {
        s->failed = true;
        return 7;
    }
    return 0;
}

static void sink_init(mem_sink *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->buf = (uint8_t *)xmalloc(cap);
    s->cap = cap;
}

/* A read callback serving memory, with ways to misbehave. */
enum { SRC_PLAIN, SRC_SHORT, SRC_ERROR, SRC_LONGER };

typedef struct mem_source {
    const uint8_t *data;
    size_t len;    /* bytes served (may differ from the task's size) */
    int mode;
    size_t cut_at; /* SRC_SHORT: ends here; SRC_ERROR: fails from here */
    size_t calls;
    size_t zero_offset_calls;
    bool beyond; /* asked for an offset past the data (other than a probe) */
} mem_source;

static int64_t source_read(void *user, uint64_t offset, uint8_t *buf, size_t len)
{
    mem_source *s = (mem_source *)user;
    size_t end = s->len, n;
    s->calls++;
    if (offset == 0) {
        s->zero_offset_calls++;
    }
    if (s->mode == SRC_ERROR && offset >= s->cut_at) {
        return -1;
    }
    if (s->mode == SRC_SHORT) {
        end = s->cut_at;
        if (len > 1000) {
            len = 1000; /* fewer bytes than asked, every time */
        }
    }
    if (offset >= end) {
        return 0;
    }
    n = end - (size_t)offset;
    if (n > len) {
        n = len;
    }
    memcpy(buf, s->data + offset, n);
    return (int64_t)n;
}

/* ------------------------------------------------------------------ */
/* Download fixture                                                     */
/* ------------------------------------------------------------------ */

typedef struct dl_fix {
    recorder *r;
    resmgr_client *c;
    http_server srv;
    char dir[256];
    uint8_t *obj;
    size_t size;
    resmgr_digest md5;
    char url[512];
} dl_fix;

/* A server holding a `size`-byte object, a client with the given retry
 * and idle settings, a temporary directory, and download task `name`
 * pushed with the server's URL (unless name is NULL). */
static bool dl_setup(dl_fix *f, const char *name, size_t size, uint32_t retries,
                     uint32_t idle_ms)
{
    memset(f, 0, sizeof *f);
    f->r = rec_new();
    f->c = xfer_client(f->r, retries, idle_ms);
    f->size = size;
    f->obj = make_object(size, (uint32_t)size);
    md5_of(f->obj, size, &f->md5);
    f->dir[0] = '\0';
    f->url[0] = '\0';
    if (!srv_start(&f->srv, f->obj, size) || f->c == NULL || !make_dir(f->dir, sizeof f->dir)) {
        return false;
    }
    if (name != NULL) {
        srv_url(&f->srv, f->url, sizeof f->url, name, "t");
        if (!CHECK_STATUS(push_download(f->c, name, size, f->md5.hex, f->url), RESMGR_OK)) {
            return false;
        }
    }
    return true;
}

static void dl_teardown(dl_fix *f)
{
    srv_stop(&f->srv);
    resmgr_client_free(f->c);
    rec_free(f->r);
    remove_dir(f->dir);
    free(f->obj);
}

/* ------------------------------------------------------------------ */
/* 1. Download into a directory                                         */
/* ------------------------------------------------------------------ */

static void download_into_directory_writes_the_verified_file(void)
{
    dl_fix f;
    progress_log pl;
    uint8_t *got;
    size_t got_len = 0;
    char target[512];
    plog_init(&pl, "fw.bin");
    if (dl_setup(&f, "fw.bin", 200000, 0, 5000)) {
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, progress_cb,
                                                &pl),
                     RESMGR_OK);
        CHECK_NO_ERROR_MESSAGE();
        srv_stop(&f.srv);
        got = read_in(f.dir, "fw.bin", &got_len);
        CHECK(got != NULL);
        if (got != NULL) {
            CHECK_MEM(got, got_len, f.obj, f.size);
        }
        free(got);
        CHECK(!exists_in(f.dir, ".fw.bin.resmgr-part"));
        CHECK(!exists_in(f.dir, ".fw.bin.resmgr-state"));
        CHECK_EQ_INT(count_entries(f.dir), 1);
        CHECK_PROGRESS_LOG(&pl, f.size);
        /* One plain GET of the presigned URL, path and query as given. */
        CHECK_EQ_INT(f.srv.n_reqs, 1);
        CHECK_STR(srv_req_at(&f.srv, 0)->method, "GET");
        CHECK_STR(srv_req_at(&f.srv, 0)->target,
                  srv_target(target, sizeof target, "fw.bin", "t"));
        CHECK(!srv_req_at(&f.srv, 0)->has_range);
        /* Throttled "downloading" reports at QoS 0, then done at QoS 1. */
        CHECK_PROGRESS_REPORTS(f.r, 0, DL, "fw.bin", "downloading");
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", DONE_JSON);
        CHECK_EQ_INT(final_reports(f.r), 1);
        /* The task is over. */
        CHECK_STATUS(resmgr_client_track_download_progress(f.c, "fw.bin", 0, NULL),
                     RESMGR_ERR_NO_TASK);
    }
    dl_teardown(&f);
    plog_free(&pl);
}

static void download_of_an_empty_object(void)
{
    dl_fix f;
    size_t got_len = 99;
    uint8_t *got;
    if (dl_setup(&f, "empty.txt", 0, 0, 5000)) {
        CHECK_STR(f.md5.hex, MD5_EMPTY);
        CHECK_STATUS(
            resmgr_client_run_download(f.c, "empty.txt", f.dir, NULL, NULL, NULL, NULL),
            RESMGR_OK);
        got = read_in(f.dir, "empty.txt", &got_len);
        CHECK(got != NULL);
        CHECK_EQ_INT(got_len, 0);
        free(got);
        CHECK_EQ_INT(count_entries(f.dir), 1);
        CHECK_LAST_REPORT(f.r, DL, "empty.txt", DONE_JSON);
    }
    dl_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 2. Download through a write callback                                 */
/* ------------------------------------------------------------------ */

static void download_through_write_callback_gets_contiguous_offsets(void)
{
    dl_fix f;
    mem_sink s;
    progress_log pl;
    plog_init(&pl, "blob");
    sink_init(&s, 200000);
    if (dl_setup(&f, "blob", 200000, 0, 5000)) {
        CHECK_STATUS(resmgr_client_run_download(f.c, "blob", NULL, sink_write, &s, progress_cb,
                                                &pl),
                     RESMGR_OK);
        CHECK(s.calls >= 1);
        CHECK(!s.gap);
        CHECK(!s.overflow);
        CHECK_EQ_INT(s.restarts, 0);
        CHECK_EQ_U64(s.received, f.size);
        CHECK_MEM(s.buf, (size_t)s.received, f.obj, f.size);
        CHECK_PROGRESS_LOG(&pl, f.size);
        /* Nothing is written to disk with a write callback. */
        CHECK_EQ_INT(count_entries(f.dir), 0);
        CHECK_LAST_REPORT(f.r, DL, "blob", DONE_JSON);
    }
    dl_teardown(&f);
    free(s.buf);
    plog_free(&pl);
}

static void write_callback_failure_fails_the_download_with_io(void)
{
    dl_fix f;
    mem_sink s;
    sink_init(&s, 200000);
    s.fail_from = 100000; /* the write reaching past half the object fails */
    if (dl_setup(&f, "blob", 200000, 3, 5000)) {
        CHECK_STATUS(resmgr_client_run_download(f.c, "blob", NULL, sink_write, &s, NULL, NULL),
                     RESMGR_ERR_IO);
        CHECK_ERROR_MESSAGE();
        CHECK(s.failed);
        CHECK_EQ_INT(s.calls_after_fail, 0);
        srv_stop(&f.srv);
        /* A local write failure is not worth retrying. */
        CHECK_EQ_INT(f.srv.n_reqs, 1);
        CHECK_LAST_FAIL_ANY(f.r, DL, "blob");
        CHECK_EQ_INT(final_reports(f.r), 1);
        CHECK_STATUS(resmgr_client_track_download_progress(f.c, "blob", 0, NULL),
                     RESMGR_ERR_NO_TASK);
    }
    dl_teardown(&f);
    free(s.buf);
}

/* ------------------------------------------------------------------ */
/* 3. Resume after a broken connection                                  */
/* ------------------------------------------------------------------ */

static void cut_download_resumes_with_a_range_request(void)
{
    dl_fix f;
    uint8_t *got;
    size_t got_len = 0;
    srv_step steps[2];
    memset(steps, 0, sizeof steps);
    steps[0].cut = true;
    steps[0].cut_after = 70000;
    if (dl_setup(&f, "fw.bin", 200000, 2, 5000)) {
        srv_script(&f.srv, steps, 2);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_OK);
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 2);
        CHECK(!srv_req_at(&f.srv, 0)->has_range);
        CHECK_EQ_U64(srv_req_at(&f.srv, 0)->body_len, 70000);
        CHECK(srv_req_at(&f.srv, 1)->has_range);
        CHECK_STR(srv_req_at(&f.srv, 1)->range, "bytes=70000-");
        CHECK_EQ_INT(srv_req_at(&f.srv, 1)->answered, 206);
        got = read_in(f.dir, "fw.bin", &got_len);
        CHECK(got != NULL);
        if (got != NULL) {
            CHECK_MEM(got, got_len, f.obj, f.size);
        }
        free(got);
        CHECK_EQ_INT(count_entries(f.dir), 1);
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", DONE_JSON);
    }
    dl_teardown(&f);
}

static void cut_download_through_write_callback_resumes_contiguously(void)
{
    dl_fix f;
    mem_sink s;
    srv_step steps[2];
    memset(steps, 0, sizeof steps);
    steps[0].cut = true;
    steps[0].cut_after = 50000;
    sink_init(&s, 150000);
    if (dl_setup(&f, "blob", 150000, 2, 5000)) {
        srv_script(&f.srv, steps, 2);
        CHECK_STATUS(resmgr_client_run_download(f.c, "blob", NULL, sink_write, &s, NULL, NULL),
                     RESMGR_OK);
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 2);
        CHECK_STR(srv_req_at(&f.srv, 1)->range, "bytes=50000-");
        CHECK(!s.gap);
        CHECK_EQ_INT(s.restarts, 0);
        CHECK_MEM(s.buf, (size_t)s.received, f.obj, f.size);
        CHECK_LAST_REPORT(f.r, DL, "blob", DONE_JSON);
    }
    dl_teardown(&f);
    free(s.buf);
}

/* protocol.md: "a 200 means the server ignored the range and the body
 * starts at byte 0" -- it must not be appended to the partial data. */
static void range_ignored_by_the_store_starts_over(void)
{
    dl_fix f;
    mem_sink s;
    uint8_t *got;
    size_t got_len = 0;
    srv_step steps[2];
    memset(steps, 0, sizeof steps);
    steps[0].cut = true;
    steps[0].cut_after = 70000;
    steps[1].ignore_range = true;
    sink_init(&s, 200000);
    if (dl_setup(&f, "fw.bin", 200000, 2, 5000)) {
        srv_script(&f.srv, steps, 2);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_OK);
        got = read_in(f.dir, "fw.bin", &got_len);
        CHECK(got != NULL);
        if (got != NULL) {
            CHECK_MEM(got, got_len, f.obj, f.size);
        }
        free(got);
        CHECK_EQ_INT(srv_count(&f.srv), 2);
        CHECK_STR(srv_req_at(&f.srv, 1)->range, "bytes=70000-");
        CHECK_EQ_INT(srv_req_at(&f.srv, 1)->answered, 200);
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", DONE_JSON);

        /* Same through a write callback: the writes start again at 0. */
        rec_clear(f.r);
        srv_script(&f.srv, steps, 2);
        CHECK_STATUS(push_download(f.c, "fw.bin", f.size, f.md5.hex, f.url), RESMGR_OK);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", NULL, sink_write, &s, NULL, NULL),
                     RESMGR_OK);
        CHECK_EQ_INT(s.restarts, 1);
        CHECK(!s.gap);
        CHECK_MEM(s.buf, (size_t)s.received, f.obj, f.size);
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", DONE_JSON);
    }
    dl_teardown(&f);
    free(s.buf);
}

/* protocol.md: "Only a 206 with a matching Content-Range may be appended
 * at offset"; header: RESMGR_ERR_BAD_RESPONSE for a wrong Content-Range. */
static void wrong_content_range_is_never_appended(void)
{
    dl_fix f;
    uint8_t *got;
    size_t got_len = 0;
    srv_step steps[3];
    memset(steps, 0, sizeof steps);
    steps[0].cut = true;
    steps[0].cut_after = 70000;
    steps[1].bad_range = true;
    if (dl_setup(&f, "fw.bin", 200000, 3, 5000)) {
        srv_script(&f.srv, steps, 3);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_OK);
        got = read_in(f.dir, "fw.bin", &got_len);
        CHECK(got != NULL);
        if (got != NULL) {
            CHECK_MEM(got, got_len, f.obj, f.size);
        }
        free(got);
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", DONE_JSON);
        CHECK(srv_count(&f.srv) >= 3);
        CHECK_STR(srv_req_at(&f.srv, 1)->range, "bytes=70000-");

        /* Without a retry left, the run fails with BAD_RESPONSE. */
        rec_clear(f.r);
        remove_dir(f.dir);
        CHECK(mkdir(f.dir, 0700) == 0);
        {
            resmgr_transfer_options o;
            resmgr_transfer_options_init(&o);
            o.max_retries = 1;
            o.backoff_initial_ms = 5;
            CHECK_STATUS(resmgr_client_set_transfer_options(f.c, &o), RESMGR_OK);
        }
        srv_script(&f.srv, steps, 2);
        CHECK_STATUS(push_download(f.c, "fw.bin", f.size, f.md5.hex, f.url), RESMGR_OK);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_BAD_RESPONSE);
        CHECK(!exists_in(f.dir, "fw.bin"));
        CHECK_LAST_FAIL_ANY(f.r, DL, "fw.bin");
    }
    dl_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 4. MD5 mismatch                                                      */
/* ------------------------------------------------------------------ */

static void download_with_wrong_md5_leaves_nothing(void)
{
    dl_fix f;
    uint8_t *other;
    mem_sink s;
    sink_init(&s, 100000);
    if (dl_setup(&f, "fw.bin", 100000, 2, 5000)) {
        /* Same size, one byte different from what the task announces. */
        other = (uint8_t *)xmalloc(f.size);
        memcpy(other, f.obj, f.size);
        other[f.size / 2] ^= 0x5a;
        srv_set_object(&f.srv, other, f.size);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_MD5_MISMATCH);
        CHECK_ERROR_MESSAGE();
        CHECK(!exists_in(f.dir, "fw.bin"));
        CHECK(!exists_in(f.dir, ".fw.bin.resmgr-part"));
        CHECK(!exists_in(f.dir, ".fw.bin.resmgr-state"));
        CHECK_EQ_INT(count_entries(f.dir), 0);
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", FAIL_JSON(-4, "md5sum not matched"));
        CHECK_EQ_INT(final_reports(f.r), 1);

        /* Through a write callback too. */
        rec_clear(f.r);
        CHECK_STATUS(push_download(f.c, "fw.bin", f.size, f.md5.hex, f.url), RESMGR_OK);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", NULL, sink_write, &s, NULL, NULL),
                     RESMGR_ERR_MD5_MISMATCH);
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", FAIL_JSON(-4, "md5sum not matched"));
        srv_stop(&f.srv);
        free(other);
    }
    dl_teardown(&f);
    free(s.buf);
}

/* More bytes than the task's size (RESMGR_ERR_BAD_RESPONSE). */
static void download_longer_than_the_task_is_a_bad_response(void)
{
    dl_fix f;
    uint8_t *longer;
    if (dl_setup(&f, "fw.bin", 50000, 2, 5000)) {
        longer = make_object(60000, 50000); /* starts with the same bytes */
        srv_set_object(&f.srv, longer, 60000);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_BAD_RESPONSE);
        CHECK(!exists_in(f.dir, "fw.bin"));
        CHECK_LAST_FAIL_ANY(f.r, DL, "fw.bin");
        srv_stop(&f.srv);
        free(longer);
    }
    dl_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 5. Store statuses and retries                                        */
/* ------------------------------------------------------------------ */

static void download_404_is_not_found(void)
{
    dl_fix f;
    srv_step st;
    memset(&st, 0, sizeof st);
    st.status = 404;
    st.code = "NoSuchKey";
    if (dl_setup(&f, "fw.bin", 1000, 3, 5000)) {
        srv_script(&f.srv, &st, 1);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_NOT_FOUND);
        CHECK_ERROR_MESSAGE();
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 1); /* not retried */
        CHECK(!exists_in(f.dir, "fw.bin"));
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", FAIL_JSON(-2, "file_not_exist"));
        CHECK_EQ_INT(final_reports(f.r), 1);
    }
    dl_teardown(&f);
}

static void download_500_twice_then_200_succeeds_after_retries(void)
{
    dl_fix f;
    uint8_t *got;
    size_t got_len = 0;
    srv_step steps[3];
    memset(steps, 0, sizeof steps);
    steps[0].status = 500;
    steps[0].code = "InternalError";
    steps[1].status = 500;
    steps[1].code = "InternalError";
    if (dl_setup(&f, "fw.bin", 30000, 3, 5000)) {
        srv_script(&f.srv, steps, 3);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_OK);
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 3);
        got = read_in(f.dir, "fw.bin", &got_len);
        CHECK(got != NULL);
        if (got != NULL) {
            CHECK_MEM(got, got_len, f.obj, f.size);
        }
        free(got);
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", DONE_JSON);
        CHECK_EQ_INT(final_reports(f.r), 1);
    }
    dl_teardown(&f);
}

static void download_500_always_gives_up_after_max_retries(void)
{
    dl_fix f;
    srv_step st;
    memset(&st, 0, sizeof st);
    st.status = 500;
    st.code = "InternalError";
    if (dl_setup(&f, "fw.bin", 30000, 1, 5000)) {
        srv_script(&f.srv, &st, 1);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_HTTP);
        CHECK_ERROR_MESSAGE();
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 2);
        CHECK(!exists_in(f.dir, "fw.bin"));
        CHECK_LAST_FAIL_ANY(f.r, DL, "fw.bin");
        CHECK_EQ_INT(final_reports(f.r), 1);
    }
    dl_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 6. 403 on a download: the URL expired                                */
/* ------------------------------------------------------------------ */

static void download_403_is_url_expired_and_not_reported(void)
{
    dl_fix f;
    srv_step steps[3];
    char fresh[512], target[512];
    uint8_t *got;
    size_t got_len = 0;
    memset(steps, 0, sizeof steps);
    steps[0].cut = true; /* some data first, so there is something to keep */
    steps[0].cut_after = 40000;
    steps[1].status = 403;
    steps[1].code = "AccessDenied";
    if (dl_setup(&f, "fw.bin", 100000, 1, 5000)) {
        srv_script(&f.srv, steps, 3);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_URL_EXPIRED);
        CHECK_ERROR_MESSAGE();
        CHECK_EQ_INT(srv_count(&f.srv), 2);
        /* Nothing final was reported; the task stays open. */
        CHECK_EQ_INT(final_reports(f.r), 0);
        CHECK_EQ_INT(count_pubs_with(f.r, "\"result_code\":-"), 0);
        CHECK_STATUS(resmgr_client_track_download_progress(f.c, "fw.bin", 40000, NULL), RESMGR_OK);
        /* The partial download is kept, nothing at the final path. */
        CHECK(!exists_in(f.dir, "fw.bin"));
        CHECK(exists_in(f.dir, ".fw.bin.resmgr-part"));

        /* A fresh URL (pushed again) continues where it stopped. */
        srv_url(&f.srv, fresh, sizeof fresh, "fw.bin", "fresh");
        CHECK_STATUS(push_download(f.c, "fw.bin", f.size, f.md5.hex, fresh), RESMGR_OK);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_OK);
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 3);
        CHECK_STR(srv_req_at(&f.srv, 2)->target,
                  srv_target(target, sizeof target, "fw.bin", "fresh"));
        CHECK_STR(srv_req_at(&f.srv, 2)->range, "bytes=40000-");
        got = read_in(f.dir, "fw.bin", &got_len);
        CHECK(got != NULL);
        if (got != NULL) {
            CHECK_MEM(got, got_len, f.obj, f.size);
        }
        free(got);
        CHECK_EQ_INT(count_entries(f.dir), 1);
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", DONE_JSON);
    }
    dl_teardown(&f);
}

/* Another download of the same name into the same directory holds the
 * lock file (here: this program, with flock(2) on the documented path):
 * RESMGR_ERR_IN_USE at once, nothing fetched, nothing reported, the task
 * still open; once the lock is free the download runs. */
static void download_of_a_name_another_download_holds_is_in_use(void)
{
    dl_fix f;
    char lock[512];
    int fd;
    if (dl_setup(&f, "fw.bin", 100000, 0, 5000)) {
        join_path(lock, sizeof lock, f.dir, ".fw.bin.resmgr-lock");
        fd = open(lock, O_RDWR | O_CREAT, 0600);
        CHECK(fd >= 0);
        CHECK_EQ_INT(flock(fd, LOCK_EX | LOCK_NB), 0);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_IN_USE);
        CHECK_ERROR_MESSAGE();
        CHECK_CONTAINS(resmgr_status_str(RESMGR_ERR_IN_USE), "another download");
        CHECK_EQ_INT(srv_count(&f.srv), 0);
        CHECK_EQ_INT(final_reports(f.r), 0);
        CHECK(!exists_in(f.dir, ".fw.bin.resmgr-part"));
        CHECK_STATUS(resmgr_client_track_download_progress(f.c, "fw.bin", 0, NULL), RESMGR_OK);
        /* The holder ends (here it unlinks and closes, as the library does). */
        unlink(lock);
        close(fd);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_OK);
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", DONE_JSON);
        CHECK_EQ_INT(count_entries(f.dir), 1);
    }
    dl_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 7. Unsafe names                                                      */
/* ------------------------------------------------------------------ */

static void unsafe_names_are_refused_in_a_directory(void)
{
    static const char *const names[] = {"a/b", "../x", ".hidden", "..", "/abs"};
    dl_fix f;
    size_t i;
    mem_sink s;
    sink_init(&s, 1000);
    if (dl_setup(&f, NULL, 1000, 0, 5000)) {
        srv_url(&f.srv, f.url, sizeof f.url, "unsafe", "t");
        for (i = 0; i < sizeof names / sizeof names[0]; i++) {
            /* Valid resource names for the protocol... */
            CHECK_STATUS(push_download(f.c, names[i], f.size, f.md5.hex, f.url), RESMGR_OK);
            /* ...but not file names. */
            CHECK_STATUS(
                resmgr_client_run_download(f.c, names[i], f.dir, NULL, NULL, NULL, NULL),
                RESMGR_ERR_UNSAFE_NAME);
            CHECK_ERROR_MESSAGE();
            /* No directory can hold it: the task is ended with a fail report. */
            CHECK(strstr(rec_last_pub(f.r)->payload, "\"state\":\"fail\",\"result_code\":-1") != NULL);
            CHECK_STATUS(resmgr_client_track_download_progress(f.c, names[i], 0, NULL), RESMGR_ERR_NO_TASK);
        }
        CHECK_EQ_INT(srv_count(&f.srv), 0);
        CHECK_EQ_INT(count_entries(f.dir), 0);
        /* A write callback has no file name to worry about. */
        CHECK_STATUS(push_download(f.c, "a/b", f.size, f.md5.hex, f.url), RESMGR_OK);
        CHECK_STATUS(resmgr_client_run_download(f.c, "a/b", NULL, sink_write, &s, NULL, NULL),
                     RESMGR_OK);
        CHECK_MEM(s.buf, (size_t)s.received, f.obj, f.size);
        CHECK_LAST_REPORT(f.r, DL, "a/b", DONE_JSON);
        CHECK_EQ_INT(srv_count(&f.srv), 1);
    }
    dl_teardown(&f);
    free(s.buf);
}

/* Issue 11: a run that fails on the device's side before any byte moves
 * (a download directory that does not exist, an upload file that cannot
 * be opened) ends the task with a fail report, as the header says of
 * RESMGR_ERR_IO; it used to return with the task left open and the
 * platform never told. */
static void run_into_a_missing_directory_ends_the_task(void)
{
    dl_fix f;
    char missing[512];
    resmgr_task_state state = RESMGR_TASK_STARTED;
    if (dl_setup(&f, "fw.bin", 1000, 0, 5000)) {
        join_path(missing, sizeof missing, f.dir, "no-such-dir");
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", missing, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_IO);
        CHECK_ERROR_MESSAGE();
        CHECK_LAST_FAIL_ANY(f.r, DL, "fw.bin");
        CHECK_STATUS(resmgr_client_track_download_progress(f.c, "fw.bin", 0, NULL), RESMGR_ERR_NO_TASK);
        CHECK_STATUS(resmgr_client_task_state(f.c, RESMGR_DIRECTION_DOWNLOAD, "fw.bin", &state),
                     RESMGR_OK);
        CHECK_EQ_INT(state, RESMGR_TASK_NONE);
        CHECK_EQ_INT(srv_count(&f.srv), 0);
    }
    dl_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Upload fixture                                                       */
/* ------------------------------------------------------------------ */

typedef struct ul_fix {
    recorder *r;
    resmgr_client *c;
    http_server srv;
    char dir[256];
    uint8_t *obj;
    size_t size;
    resmgr_digest md5;
    char url[512];
} ul_fix;

/* A server, a client, a temporary directory, a `size`-byte object, and
 * upload task `name` for it with the server's URL (unless name is NULL). */
static bool ul_setup(ul_fix *f, const char *name, size_t size, uint32_t retries,
                     uint32_t idle_ms)
{
    memset(f, 0, sizeof *f);
    f->r = rec_new();
    f->c = xfer_client(f->r, retries, idle_ms);
    f->size = size;
    f->obj = make_object(size, (uint32_t)size + 7u);
    md5_of(f->obj, size, &f->md5);
    f->dir[0] = '\0';
    f->url[0] = '\0';
    if (!srv_start(&f->srv, NULL, 0) || f->c == NULL || !make_dir(f->dir, sizeof f->dir)) {
        return false;
    }
    if (name != NULL) {
        srv_url(&f->srv, f->url, sizeof f->url, name, "put");
        if (!CREATE_UPLOAD_OK(f->r, name, size, f->md5.hex) ||
            !CHECK_STATUS(upload_url_rsp(f->c, name, size, f->md5.hex, f->url), RESMGR_OK)) {
            return false;
        }
    }
    return true;
}

static void ul_teardown(ul_fix *f)
{
    srv_stop(&f->srv);
    resmgr_client_free(f->c);
    rec_free(f->r);
    remove_dir(f->dir);
    free(f->obj);
}

/* Request `i` is a PUT of the whole object with the protocol's headers. */
static void check_put_(ul_fix *f, size_t i, const char *name, const char *file, int line)
{
    const srv_req *q = srv_req_at(&f->srv, i);
    char target[512];
    check_str_(q->method, "PUT", file, line, "method", "\"PUT\"");
    check_str_(q->target, srv_target(target, sizeof target, name, "put"), file, line,
               "request target", "the URL's path and query");
    check_true_(q->has_content_length, file, line, "the PUT has a Content-Length");
    check_eq_u64_(q->content_length, f->size, file, line, "Content-Length", "size");
    check_true_(!q->has_transfer_encoding, file, line, "the PUT has no Transfer-Encoding");
    check_true_(q->has_content_md5, file, line, "the PUT has a Content-MD5");
    check_str_(q->content_md5, f->md5.base64, file, line, "Content-MD5", "base64 MD5");
    check_true_(q->body_complete, file, line, "the whole body arrived");
    check_eq_u64_(q->body_len, f->size, file, line, "body bytes received", "size");
    check_str_(q->body_md5, f->md5.hex, file, line, "MD5 of the body received", "hex MD5");
}
#define CHECK_PUT(f, i, name) check_put_((f), (i), (name), __FILE__, __LINE__)

/* The store never received a complete body. */
static void check_no_complete_body_(ul_fix *f, const char *file, int line)
{
    size_t i;
    bool ok = true;
    for (i = 0; i < f->srv.n_reqs && i < SRV_MAX_REQS; i++) {
        const srv_req *q = &f->srv.reqs[i];
        if (q->body_complete || q->body_len >= f->size) {
            ok = false;
        }
    }
    check_true_(ok, file, line, "no request carried the complete body");
}
#define CHECK_NO_COMPLETE_BODY(f) check_no_complete_body_((f), __FILE__, __LINE__)

/* ------------------------------------------------------------------ */
/* 8. Uploads                                                           */
/* ------------------------------------------------------------------ */

static void run_upload_from_a_missing_file_ends_the_task(void)
{
    ul_fix f;
    char missing[512];
    if (ul_setup(&f, "log.bin", 1000, 0, 5000)) {
        join_path(missing, sizeof missing, f.dir, "no-such-file.bin");
        CHECK_STATUS(resmgr_client_run_upload(f.c, "log.bin", missing, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_IO);
        CHECK_ERROR_MESSAGE();
        CHECK_LAST_FAIL_ANY(f.r, UL, "log.bin");
        CHECK_STATUS(resmgr_client_track_upload_progress(f.c, "log.bin", 0, NULL), RESMGR_ERR_NO_TASK);
        CHECK_EQ_INT(srv_count(&f.srv), 0);
    }
    ul_teardown(&f);
}

static void upload_from_file_sends_length_and_content_md5(void)
{
    ul_fix f;
    progress_log pl;
    char path[512];
    plog_init(&pl, "log.bin");
    if (ul_setup(&f, "log.bin", 150000, 0, 5000) && write_in(f.dir, "log.bin", f.obj, f.size)) {
        size_t before = f.r->n_pubs;
        join_path(path, sizeof path, f.dir, "log.bin");
        CHECK_STATUS(
            resmgr_client_run_upload(f.c, "log.bin", path, NULL, NULL, progress_cb, &pl),
            RESMGR_OK);
        CHECK_NO_ERROR_MESSAGE();
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 1);
        CHECK_PUT(&f, 0, "log.bin");
        CHECK_PROGRESS_LOG(&pl, f.size);
        CHECK_PROGRESS_REPORTS(f.r, before, UL, "log.bin", "uploading");
        CHECK_LAST_REPORT(f.r, UL, "log.bin", DONE_JSON);
        CHECK_EQ_INT(final_reports(f.r), 1);
        CHECK_STATUS(resmgr_client_track_upload_progress(f.c, "log.bin", 0, NULL),
                     RESMGR_ERR_NO_TASK);
    }
    ul_teardown(&f);
    plog_free(&pl);
}

static void upload_from_read_callback_sends_the_buffer(void)
{
    ul_fix f;
    progress_log pl;
    mem_source src;
    plog_init(&pl, "mem.bin");
    if (ul_setup(&f, "mem.bin", 150000, 0, 5000)) {
        memset(&src, 0, sizeof src);
        src.data = f.obj;
        src.len = f.size;
        CHECK_STATUS(resmgr_client_run_upload(f.c, "mem.bin", NULL, source_read, &src,
                                              progress_cb, &pl),
                     RESMGR_OK);
        srv_stop(&f.srv);
        CHECK(src.calls >= 1);
        CHECK_EQ_INT(f.srv.n_reqs, 1);
        CHECK_PUT(&f, 0, "mem.bin");
        CHECK_PROGRESS_LOG(&pl, f.size);
        CHECK_LAST_REPORT(f.r, UL, "mem.bin", DONE_JSON);
    }
    ul_teardown(&f);
    plog_free(&pl);
}

static void upload_of_an_empty_object(void)
{
    ul_fix f;
    mem_source src;
    if (ul_setup(&f, "empty", 0, 0, 5000)) {
        CHECK_STR(f.md5.base64, MD5_EMPTY_B64);
        memset(&src, 0, sizeof src);
        src.data = f.obj;
        src.len = 0;
        CHECK_STATUS(resmgr_client_run_upload(f.c, "empty", NULL, source_read, &src, NULL, NULL),
                     RESMGR_OK);
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 1);
        CHECK_PUT(&f, 0, "empty");
        CHECK_LAST_REPORT(f.r, UL, "empty", DONE_JSON);
    }
    ul_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 9. Upload data that is not what was announced                         */
/* ------------------------------------------------------------------ */

/* Large enough that the HTTP client has sent part of the body (it
 * buffers up to 128 KiB) when the data turns out wrong. */
#define BIG_UPLOAD 600000

static void upload_of_changed_data_stops_before_the_last_byte(void)
{
    ul_fix f;
    uint8_t *changed;
    mem_source src;
    if (ul_setup(&f, "chg.bin", BIG_UPLOAD, 2, 5000)) {
        changed = (uint8_t *)xmalloc(f.size);
        memcpy(changed, f.obj, f.size);
        changed[f.size / 3] ^= 1;
        memset(&src, 0, sizeof src);
        src.data = changed;
        src.len = f.size;
        CHECK_STATUS(
            resmgr_client_run_upload(f.c, "chg.bin", NULL, source_read, &src, NULL, NULL),
            RESMGR_ERR_MD5_MISMATCH);
        CHECK_ERROR_MESSAGE();
        srv_stop(&f.srv);
        CHECK_NO_COMPLETE_BODY(&f);
        CHECK_LAST_REPORT(f.r, UL, "chg.bin", FAIL_JSON(-4, "md5sum not matched"));
        CHECK_EQ_INT(final_reports(f.r), 1);
        free(changed);
    }
    ul_teardown(&f);
}

static void upload_of_a_file_changed_after_hashing_is_a_mismatch(void)
{
    ul_fix f;
    char path[512];
    if (ul_setup(&f, "file.bin", BIG_UPLOAD, 2, 5000)) {
        /* The task announced f.obj; the file now holds other bytes. */
        uint8_t *other = make_object(f.size, 4242);
        CHECK(write_in(f.dir, "file.bin", other, f.size));
        join_path(path, sizeof path, f.dir, "file.bin");
        CHECK_STATUS(resmgr_client_run_upload(f.c, "file.bin", path, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_MD5_MISMATCH);
        srv_stop(&f.srv);
        CHECK_NO_COMPLETE_BODY(&f);
        CHECK_LAST_REPORT(f.r, UL, "file.bin", FAIL_JSON(-4, "md5sum not matched"));
        free(other);
    }
    ul_teardown(&f);
}

static void upload_whose_data_ends_early_is_a_mismatch(void)
{
    ul_fix f;
    mem_source src;
    if (ul_setup(&f, "short.bin", BIG_UPLOAD, 2, 5000)) {
        memset(&src, 0, sizeof src);
        src.data = f.obj;
        src.len = f.size;
        src.mode = SRC_SHORT; /* 1000 bytes at most per call, 0 from 500000 on */
        src.cut_at = 500000;
        CHECK_STATUS(
            resmgr_client_run_upload(f.c, "short.bin", NULL, source_read, &src, NULL, NULL),
            RESMGR_ERR_MD5_MISMATCH);
        CHECK_ERROR_MESSAGE();
        srv_stop(&f.srv);
        CHECK_NO_COMPLETE_BODY(&f);
        CHECK_LAST_REPORT(f.r, UL, "short.bin", FAIL_JSON(-4, "md5sum not matched"));
    }
    ul_teardown(&f);
}

static void upload_whose_data_is_longer_is_a_mismatch(void)
{
    ul_fix f;
    mem_source src;
    uint8_t *longer;
    if (ul_setup(&f, "long.bin", BIG_UPLOAD, 2, 5000)) {
        longer = (uint8_t *)xmalloc(f.size + 100);
        memcpy(longer, f.obj, f.size);
        memset(longer + f.size, 'x', 100);
        memset(&src, 0, sizeof src);
        src.data = longer;
        src.len = f.size + 100; /* the announced bytes, then more */
        CHECK_STATUS(
            resmgr_client_run_upload(f.c, "long.bin", NULL, source_read, &src, NULL, NULL),
            RESMGR_ERR_MD5_MISMATCH);
        srv_stop(&f.srv);
        CHECK_NO_COMPLETE_BODY(&f);
        CHECK_LAST_REPORT(f.r, UL, "long.bin", FAIL_JSON(-4, "md5sum not matched"));
        free(longer);
    }
    ul_teardown(&f);
}

static void upload_whose_read_callback_fails_is_io(void)
{
    ul_fix f;
    mem_source src;
    if (ul_setup(&f, "err.bin", BIG_UPLOAD, 2, 5000)) {
        memset(&src, 0, sizeof src);
        src.data = f.obj;
        src.len = f.size;
        src.mode = SRC_ERROR;
        src.cut_at = 400000;
        CHECK_STATUS(
            resmgr_client_run_upload(f.c, "err.bin", NULL, source_read, &src, NULL, NULL),
            RESMGR_ERR_IO);
        CHECK_ERROR_MESSAGE();
        srv_stop(&f.srv);
        CHECK_NO_COMPLETE_BODY(&f);
        CHECK_LAST_FAIL_ANY(f.r, UL, "err.bin");
        CHECK_EQ_INT(final_reports(f.r), 1);
    }
    ul_teardown(&f);
}

/* Issue 10, defect 3: a 2xx that came before the whole body went out is
 * not `done` (it was, with 0 bytes sent): RESMGR_ERR_BAD_RESPONSE, retried
 * as configured, then a fail report saying so. */
static void upload_answered_200_before_its_body_is_not_done(void)
{
    ul_fix f;
    srv_step st;
    mem_source src;
    memset(&st, 0, sizeof st);
    st.answer_first = true;
    if (ul_setup(&f, "up.bin", 300000, 1, 5000)) {
        srv_script(&f.srv, &st, 1);
        memset(&src, 0, sizeof src);
        src.data = f.obj;
        src.len = f.size;
        CHECK_STATUS(resmgr_client_run_upload(f.c, "up.bin", NULL, source_read, &src, NULL, NULL),
                     RESMGR_ERR_BAD_RESPONSE);
        CHECK_ERROR_MESSAGE();
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 2); /* one retry */
        CHECK(!srv_req_at(&f.srv, 0)->body_complete);
        CHECK_EQ_INT(srv_req_at(&f.srv, 0)->answered, 200);
        CHECK_EQ_INT(final_reports(f.r), 1);
        CHECK_EQ_INT(count_pubs_with(f.r, "\"state\":\"done\""), 0);
        CHECK_EQ_INT(count_pubs_with(f.r, "not counted as done"), 1);
    }
    ul_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 10. Upload refused by the store                                      */
/* ------------------------------------------------------------------ */

static void upload_refused_with(int status, const char *code, resmgr_status expected,
                                const char *report)
{
    ul_fix f;
    srv_step st;
    mem_source src;
    memset(&st, 0, sizeof st);
    st.status = status;
    st.code = code;
    if (ul_setup(&f, "up.bin", 20000, 3, 5000)) {
        srv_script(&f.srv, &st, 1);
        memset(&src, 0, sizeof src);
        src.data = f.obj;
        src.len = f.size;
        CHECK_STATUS(resmgr_client_run_upload(f.c, "up.bin", NULL, source_read, &src, NULL, NULL),
                     expected);
        CHECK_ERROR_MESSAGE();
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 1); /* not retried */
        CHECK_PUT(&f, 0, "up.bin");
        CHECK_EQ_INT(srv_req_at(&f.srv, 0)->answered, status);
        CHECK_LAST_REPORT(f.r, UL, "up.bin", report);
        CHECK_EQ_INT(final_reports(f.r), 1);
    }
    ul_teardown(&f);
}

static void upload_400_bad_digest_is_md5_mismatch(void)
{
    upload_refused_with(400, "BadDigest", RESMGR_ERR_MD5_MISMATCH,
                        FAIL_JSON(-4, "md5sum not matched"));
}

static void upload_400_invalid_digest_is_md5_mismatch(void)
{
    upload_refused_with(400, "InvalidDigest", RESMGR_ERR_MD5_MISMATCH,
                        FAIL_JSON(-4, "md5sum not matched"));
}

static void upload_403_is_sign_invalid(void)
{
    upload_refused_with(403, "SignatureDoesNotMatch", RESMGR_ERR_SIGN_INVALID,
                        FAIL_JSON(-3, "sign invalid"));
}

static void upload_404_is_not_found(void)
{
    upload_refused_with(404, "NoSuchBucket", RESMGR_ERR_NOT_FOUND,
                        FAIL_JSON(-2, "file_not_exist"));
}

static void upload_500_is_retried_from_offset_zero(void)
{
    ul_fix f;
    srv_step steps[2];
    mem_source src;
    memset(steps, 0, sizeof steps);
    steps[0].status = 500;
    steps[0].code = "InternalError";
    if (ul_setup(&f, "up.bin", 100000, 2, 5000)) {
        srv_script(&f.srv, steps, 2);
        memset(&src, 0, sizeof src);
        src.data = f.obj;
        src.len = f.size;
        CHECK_STATUS(resmgr_client_run_upload(f.c, "up.bin", NULL, source_read, &src, NULL, NULL),
                     RESMGR_OK);
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 2);
        CHECK_PUT(&f, 0, "up.bin");
        CHECK_PUT(&f, 1, "up.bin");
        /* "Offsets restart at 0 when an upload is retried." */
        CHECK(src.zero_offset_calls >= 2);
        CHECK_LAST_REPORT(f.r, UL, "up.bin", DONE_JSON);
    }
    ul_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 11. Cancel                                                           */
/* ------------------------------------------------------------------ */

typedef struct canceller {
    resmgr_client *c;
    int32_t direction;
    const char *name;
    progress_log *pl;
    http_server *srv;
    pthread_mutex_t mu;
    bool run_returned;
    resmgr_status cancel_status;
    bool saw_bytes;
    /* When set, feeds this down message instead of cancelling (its status
     * goes to cancel_status): the platform changes the task mid-transfer. */
    const char *feed;
} canceller;

static bool canceller_returned(canceller *k)
{
    bool b;
    pthread_mutex_lock(&k->mu);
    b = k->run_returned;
    pthread_mutex_unlock(&k->mu);
    return b;
}

/* Waits until the transfer moved some bytes, cancels it, then (safety
 * net only) makes the server drop the connection if the run never
 * returns. */
static void *canceller_main(void *arg)
{
    canceller *k = (canceller *)arg;
    uint64_t deadline = now_ms() + WAIT_LIMIT_MS;
    while (plog_done(k->pl) == 0 && now_ms() < deadline && !canceller_returned(k)) {
        sleep_ms(5);
    }
    k->saw_bytes = plog_done(k->pl) > 0;
    k->cancel_status = k->feed != NULL ? feed(k->c, k->feed)
                                       : resmgr_client_cancel(k->c, k->direction, k->name);
    deadline = now_ms() + WAIT_LIMIT_MS;
    while (!canceller_returned(k) && now_ms() < deadline) {
        sleep_ms(10);
    }
    if (!canceller_returned(k)) {
        srv_abort(k->srv);
    }
    return NULL;
}

/* Runs download `name` of fixture f, its body dribbled (one byte per
 * 50 ms: minutes for the whole object), while a canceller thread acts on
 * it once bytes moved: cancels it, or feeds `feed_json` when not NULL.
 * Returns the run's status; false in *ok when the thread could not start. */
static resmgr_status run_slow_download_meanwhile(canceller *k, dl_fix *f, const char *name,
                                                 progress_log *pl, const char *feed_json,
                                                 bool *ok)
{
    pthread_t t;
    resmgr_status rc = RESMGR_OK;
    srv_step steps[2];
    memset(steps, 0, sizeof steps);
    steps[0].dribble_ms = 50;
    srv_script(&f->srv, steps, 2);
    memset(k, 0, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    k->c = f->c;
    k->direction = RESMGR_DIRECTION_DOWNLOAD;
    k->name = name;
    k->pl = pl;
    k->srv = &f->srv;
    k->feed = feed_json;
    *ok = pthread_create(&t, NULL, canceller_main, k) == 0;
    if (!*ok) {
        CHECK_FAIL("pthread_create (canceller) failed");
    } else {
        rc = resmgr_client_run_download(f->c, name, f->dir, NULL, NULL, progress_cb, pl);
        pthread_mutex_lock(&k->mu);
        k->run_returned = true;
        pthread_mutex_unlock(&k->mu);
        pthread_join(t, NULL);
    }
    pthread_mutex_destroy(&k->mu);
    return rc;
}

static void download_cancelled_from_another_thread(void)
{
    dl_fix f;
    progress_log pl;
    canceller k;
    long part;
    resmgr_status rc;
    uint8_t *got;
    size_t got_len = 0;
    char expect_range[64];
    bool ok;
    plog_init(&pl, "slow.bin");
    if (dl_setup(&f, "slow.bin", 4096, 0, 5000)) {
        rc = run_slow_download_meanwhile(&k, &f, "slow.bin", &pl, NULL, &ok);
        if (ok) {
            CHECK(k.saw_bytes);
            CHECK_STATUS(k.cancel_status, RESMGR_OK);
            CHECK_STATUS(rc, RESMGR_ERR_CANCELLED);
            CHECK(!exists_in(f.dir, "slow.bin"));
            /* The partial file is kept for a later resume. */
            part = file_size_in(f.dir, ".slow.bin.resmgr-part");
            CHECK(part > 0 && (size_t)part < f.size);
            CHECK_LAST_FAIL_ANY(f.r, DL, "slow.bin");
            CHECK_EQ_INT(final_reports(f.r), 1);
            CHECK_EQ_INT(srv_count(&f.srv), 1);

            /* A later run for the same resource continues where it stopped. */
            CHECK_STATUS(push_download(f.c, "slow.bin", f.size, f.md5.hex, f.url), RESMGR_OK);
            CHECK_STATUS(
                resmgr_client_run_download(f.c, "slow.bin", f.dir, NULL, NULL, NULL, NULL),
                RESMGR_OK);
            srv_stop(&f.srv);
            CHECK_EQ_INT(f.srv.n_reqs, 2);
            snprintf(expect_range, sizeof expect_range, "bytes=%ld-", part);
            CHECK_STR(srv_req_at(&f.srv, 1)->range, expect_range);
            got = read_in(f.dir, "slow.bin", &got_len);
            CHECK(got != NULL);
            if (got != NULL) {
                CHECK_MEM(got, got_len, f.obj, f.size);
            }
            free(got);
            CHECK_LAST_REPORT(f.r, DL, "slow.bin", DONE_JSON);
        }
    }
    dl_teardown(&f);
    plog_free(&pl);
}

/* Issue 10, defect 2: the platform pushes fw.bin again with a new size and
 * MD5 while the old version downloads. The old transfer is cancelled and
 * ends with RESMGR_ERR_NO_TASK without reporting (its report would be
 * taken for the new task); the new task stays, and its run fetches the new
 * version. Before, the old transfer ran on, reported done and removed the
 * new task. */
static void download_replaced_by_the_platform_stops_without_a_report(void)
{
    dl_fix f;
    progress_log pl;
    canceller k;
    resmgr_status rc;
    resmgr_digest v2_md5;
    bool ok;
    char push[1024];
    uint8_t *v2 = make_object(3000, 77);
    plog_init(&pl, "fw.bin");
    md5_of(v2, 3000, &v2_md5);
    if (dl_setup(&f, "fw.bin", 4096, 0, 5000)) {
        snprintf(push, sizeof push,
                 "{\"type\":\"download\",\"size\":3000,\"name\":\"fw.bin\",\"md5sum\":\"%s\",\"url\":\"%s\"}",
                 v2_md5.hex, f.url);
        rc = run_slow_download_meanwhile(&k, &f, "fw.bin", &pl, push, &ok);
        if (ok) {
            CHECK(k.saw_bytes);
            CHECK_STATUS(k.cancel_status, RESMGR_OK);
            CHECK_STATUS(rc, RESMGR_ERR_NO_TASK);
            CHECK_CONTAINS(last_error(), "reported nothing");
            CHECK(!exists_in(f.dir, "fw.bin"));
            CHECK_EQ_INT(final_reports(f.r), 0);

            /* The new task is still there and fetches the new version. */
            srv_script(&f.srv, NULL, 0);
            srv_set_object(&f.srv, v2, 3000);
            CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                         RESMGR_OK);
            CHECK_FILE_IN(f.dir, "fw.bin", v2, 3000);
            CHECK_EQ_INT(final_reports(f.r), 1);
            CHECK_LAST_REPORT(f.r, DL, "fw.bin", DONE_JSON);
        }
    }
    dl_teardown(&f);
    plog_free(&pl);
    free(v2);
}

static void upload_cancelled_from_another_thread(void)
{
    ul_fix f;
    progress_log pl;
    canceller k;
    pthread_t t;
    srv_step st;
    mem_source src;
    resmgr_status rc;
    memset(&st, 0, sizeof st);
    st.stall = true; /* takes the body, never answers */
    plog_init(&pl, "up.bin");
    if (ul_setup(&f, "up.bin", 20000, 0, 10000)) {
        srv_script(&f.srv, &st, 1);
        memset(&src, 0, sizeof src);
        src.data = f.obj;
        src.len = f.size;
        memset(&k, 0, sizeof k);
        pthread_mutex_init(&k.mu, NULL);
        k.c = f.c;
        k.direction = RESMGR_DIRECTION_UPLOAD;
        k.name = "up.bin";
        k.pl = &pl;
        k.srv = &f.srv;
        if (pthread_create(&t, NULL, canceller_main, &k) != 0) {
            CHECK_FAIL("pthread_create (canceller) failed");
        } else {
            rc = resmgr_client_run_upload(f.c, "up.bin", NULL, source_read, &src, progress_cb,
                                          &pl);
            pthread_mutex_lock(&k.mu);
            k.run_returned = true;
            pthread_mutex_unlock(&k.mu);
            pthread_join(t, NULL);
            CHECK(k.saw_bytes);
            CHECK_STATUS(k.cancel_status, RESMGR_OK);
            CHECK_STATUS(rc, RESMGR_ERR_CANCELLED);
            CHECK_LAST_FAIL_ANY(f.r, UL, "up.bin");
            CHECK_EQ_INT(final_reports(f.r), 1);
        }
        pthread_mutex_destroy(&k.mu);
    }
    ul_teardown(&f);
    plog_free(&pl);
}

/* "A transfer started after the cancel stops at once." */
static void transfer_cancelled_before_it_starts_stops_at_once(void)
{
    dl_fix f;
    if (dl_setup(&f, "fw.bin", 10000, 3, 5000)) {
        CHECK_STATUS(resmgr_client_cancel(f.c, RESMGR_DIRECTION_DOWNLOAD, "fw.bin"), RESMGR_OK);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_CANCELLED);
        CHECK(!exists_in(f.dir, "fw.bin"));
        CHECK_LAST_FAIL_ANY(f.r, DL, "fw.bin");
        CHECK_EQ_INT(srv_count(&f.srv), 0);
    }
    dl_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 12. Stalls                                                           */
/* ------------------------------------------------------------------ */

/* The header: RESMGR_ERR_TIMEOUT for "connect, idle or overall limit";
 * protocol.md: result_code -1 goes with result_msg "time_out". */
static void download_stalled_after_headers_times_out(void)
{
    dl_fix f;
    srv_step st;
    memset(&st, 0, sizeof st);
    st.stall = true;
    if (dl_setup(&f, "fw.bin", 10000, 0, 300)) {
        srv_script(&f.srv, &st, 1);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_TIMEOUT);
        CHECK_ERROR_MESSAGE();
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 1);
        CHECK(!exists_in(f.dir, "fw.bin"));
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", FAIL_JSON(-1, "time_out"));
        CHECK_EQ_INT(final_reports(f.r), 1);
    }
    dl_teardown(&f);
}

/* Issue 10, defect 9: a store dribbling one byte every 100 ms never
 * stalls a read (the idle timeout is 1 s) and, before the minimum speed,
 * never ended (total_timeout_ms is 0 by default). With the default speed
 * floor (1024 bytes/s) over a 1 s window it ends as a timeout, the bytes
 * that came kept for a resume. */
static void download_below_the_minimum_speed_times_out(void)
{
    dl_fix f;
    srv_step st;
    resmgr_transfer_options o;
    memset(&st, 0, sizeof st);
    st.dribble_ms = 100;
    if (dl_setup(&f, "fw.bin", 10000, 0, 1000)) {
        CHECK_STATUS(resmgr_transfer_options_init(&o), RESMGR_OK);
        o.idle_timeout_ms = 1000;
        o.max_retries = 0;
        o.min_speed_window_ms = 1000;
        CHECK_STATUS(resmgr_client_set_transfer_options(f.c, &o), RESMGR_OK);
        srv_script(&f.srv, &st, 1);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_TIMEOUT);
        CHECK_ERROR_MESSAGE();
        CHECK_CONTAINS(last_error(), "minimum speed");
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 1);
        CHECK(!exists_in(f.dir, "fw.bin"));
        CHECK(exists_in(f.dir, ".fw.bin.resmgr-state"));
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", FAIL_JSON(-1, "time_out"));
        CHECK_EQ_INT(final_reports(f.r), 1);
    }
    dl_teardown(&f);
}

static void download_without_an_answer_times_out(void)
{
    dl_fix f;
    srv_step st;
    memset(&st, 0, sizeof st);
    st.stall_head = true;
    if (dl_setup(&f, "fw.bin", 10000, 0, 300)) {
        srv_script(&f.srv, &st, 1);
        CHECK_STATUS(resmgr_client_run_download(f.c, "fw.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_TIMEOUT);
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 1);
        CHECK_LAST_REPORT(f.r, DL, "fw.bin", FAIL_JSON(-1, "time_out"));
    }
    dl_teardown(&f);
}

static void upload_never_answered_times_out(void)
{
    ul_fix f;
    srv_step st;
    mem_source src;
    memset(&st, 0, sizeof st);
    st.stall = true;
    if (ul_setup(&f, "up.bin", 10000, 0, 300)) {
        srv_script(&f.srv, &st, 1);
        memset(&src, 0, sizeof src);
        src.data = f.obj;
        src.len = f.size;
        CHECK_STATUS(resmgr_client_run_upload(f.c, "up.bin", NULL, source_read, &src, NULL, NULL),
                     RESMGR_ERR_TIMEOUT);
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 1);
        CHECK_LAST_REPORT(f.r, UL, "up.bin", FAIL_JSON(-1, "time_out"));
    }
    ul_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 13. resmgr_client_upload_file                                        */
/* ------------------------------------------------------------------ */

typedef struct platform {
    recorder *r;
    resmgr_client *c;
    const char *name;
    uint64_t size;
    char md5[RESMGR_MD5_HEX_SIZE];
    char url[512];
    bool reject;
    bool saw_create;
    resmgr_status fed;
} platform;

/* Plays the platform: waits for the create_upload_task publish, then
 * answers it with the URL (or a refusal). */
static void *platform_main(void *arg)
{
    platform *p = (platform *)arg;
    uint64_t deadline = now_ms() + WAIT_LIMIT_MS;
    char buf[1024];
    while (now_ms() < deadline && !p->saw_create) {
        size_t i;
        pthread_mutex_lock(&p->r->mu);
        for (i = 0; i < p->r->n_pubs && i < REC_MAX_PUBS; i++) {
            if (strstr(p->r->pubs[i].payload, "\"type\":\"create_upload_task\"") != NULL) {
                p->saw_create = true;
            }
        }
        pthread_mutex_unlock(&p->r->mu);
        if (!p->saw_create) {
            sleep_ms(2);
        }
    }
    if (!p->saw_create) {
        return NULL;
    }
    if (p->reject) {
        p->fed = feed(p->c, fmt_msg(buf, sizeof buf,
                                    "{\"type\":\"create_upload_task_rsp\",\"name\":\"%s\","
                                    "\"result_code\":-5,\"result_msg\":\"quota exceeded\"}",
                                    p->name));
    } else {
        p->fed = upload_url_rsp(p->c, p->name, p->size, p->md5, p->url);
    }
    return NULL;
}

static void upload_file_with_platform_thread(const char *name_arg, const char *task_name,
                                             bool reject)
{
    ul_fix f;
    platform p;
    pthread_t t;
    progress_log pl;
    char path[512], expect[512];
    resmgr_status rc;
    plog_init(&pl, task_name);
    if (ul_setup(&f, NULL, 120000, 0, 5000) && write_in(f.dir, "report.csv", f.obj, f.size)) {
        join_path(path, sizeof path, f.dir, "report.csv");
        memset(&p, 0, sizeof p);
        p.r = f.r;
        p.c = f.c;
        p.name = task_name;
        p.size = f.size;
        p.reject = reject;
        copy_str(p.md5, sizeof p.md5, f.md5.hex);
        srv_url(&f.srv, p.url, sizeof p.url, task_name, "put");
        if (pthread_create(&t, NULL, platform_main, &p) != 0) {
            CHECK_FAIL("pthread_create (platform) failed");
        } else {
            rc = resmgr_client_upload_file(f.c, path, name_arg, 20000, progress_cb, &pl);
            pthread_join(t, NULL);
            CHECK(p.saw_create);
            CHECK_STATUS(p.fed, RESMGR_OK);
            snprintf(expect, sizeof expect,
                     "{\"type\":\"create_upload_task\",\"size\":%zu,\"name\":\"%s\","
                     "\"md5sum\":\"%s\"}",
                     f.size, task_name, f.md5.hex);
            CHECK_PUB(f.r, 0, expect, 1);
            srv_stop(&f.srv);
            if (reject) {
                CHECK_STATUS(rc, RESMGR_ERR_NO_TASK);
                CHECK_EQ_INT(f.srv.n_reqs, 0);
            } else {
                CHECK_STATUS(rc, RESMGR_OK);
                CHECK_EQ_INT(f.srv.n_reqs, 1);
                CHECK_PUT(&f, 0, task_name);
                CHECK_PROGRESS_LOG(&pl, f.size);
                CHECK_LAST_REPORT(f.r, UL, task_name, DONE_JSON);
                CHECK_EQ_INT(final_reports(f.r), 1);
            }
        }
    }
    ul_teardown(&f);
    plog_free(&pl);
}

static void upload_file_gets_its_url_from_another_thread(void)
{
    upload_file_with_platform_thread("daily-report", "daily-report", false);
}

static void upload_file_names_the_task_after_the_file(void)
{
    upload_file_with_platform_thread(NULL, "report.csv", false);
}

static void upload_file_refused_by_the_platform_is_no_task(void)
{
    upload_file_with_platform_thread(NULL, "report.csv", true);
}

static void upload_file_without_url_times_out(void)
{
    ul_fix f;
    char path[512];
    if (ul_setup(&f, NULL, 1000, 0, 5000) && write_in(f.dir, "late.bin", f.obj, f.size)) {
        join_path(path, sizeof path, f.dir, "late.bin");
        CHECK_STATUS(resmgr_client_upload_file(f.c, path, NULL, 200, NULL, NULL),
                     RESMGR_ERR_TIMEOUT);
        CHECK_ERROR_MESSAGE();
        CHECK_EQ_INT(f.r->n_pubs, 2);
        CHECK_LAST_REPORT(f.r, UL, "late.bin", FAIL_JSON(-1, "time_out"));
        /* The task was ended. */
        CHECK_STATUS(resmgr_client_track_upload_progress(f.c, "late.bin", 0, NULL),
                     RESMGR_ERR_NO_TASK);
        srv_stop(&f.srv);
        CHECK_EQ_INT(f.srv.n_reqs, 0);
        /* A missing file: nothing is published. */
        join_path(path, sizeof path, f.dir, "missing.bin");
        CHECK_STATUS(resmgr_client_upload_file(f.c, path, NULL, 200, NULL, NULL), RESMGR_ERR_IO);
        CHECK_EQ_INT(f.r->n_pubs, 2);
    }
    ul_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 14. Argument checks                                                  */
/* ------------------------------------------------------------------ */

static void transfer_options_defaults_and_checks(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    resmgr_transfer_options o;
    char dir[256];
    memset(&o, 0xab, sizeof o);
    CHECK_STATUS(resmgr_transfer_options_init(&o), RESMGR_OK);
    CHECK_EQ_INT(o.connect_timeout_ms, 10000);
    CHECK_EQ_INT(o.idle_timeout_ms, 30000);
    CHECK_EQ_INT(o.total_timeout_ms, 0);
    CHECK_EQ_INT(o.max_retries, 5);
    CHECK_EQ_INT(o.backoff_initial_ms, 500);
    CHECK_EQ_INT(o.backoff_max_ms, 30000);
    CHECK(o.ca_file == NULL);
    /* Issue 10, defect 9: a minimum speed is on by default. */
    CHECK_EQ_INT(o.min_speed_bytes_per_s, 1024);
    CHECK_EQ_INT(o.min_speed_window_ms, 60000);
    CHECK_STATUS(resmgr_transfer_options_init(NULL), RESMGR_ERR_NULL_ARG);
    CHECK_STATUS(resmgr_client_set_transfer_options(c, &o), RESMGR_OK);
    CHECK_STATUS(resmgr_client_set_transfer_options(NULL, &o), RESMGR_ERR_NULL_ARG);
    CHECK_STATUS(resmgr_client_set_transfer_options(c, NULL), RESMGR_ERR_NULL_ARG);

    o.idle_timeout_ms = 0;
    CHECK_STATUS(resmgr_client_set_transfer_options(c, &o), RESMGR_ERR_INVALID_ARG);
    CHECK_ERROR_MESSAGE();
    o.idle_timeout_ms = 1000;
    o.connect_timeout_ms = 0;
    CHECK_STATUS(resmgr_client_set_transfer_options(c, &o), RESMGR_ERR_INVALID_ARG);
    o.connect_timeout_ms = 1000;
    /* A minimum speed needs a window; 0 turns the rule off, window or not. */
    o.min_speed_window_ms = 0;
    CHECK_STATUS(resmgr_client_set_transfer_options(c, &o), RESMGR_ERR_INVALID_ARG);
    CHECK_ERROR_MESSAGE();
    o.min_speed_bytes_per_s = 0;
    CHECK_STATUS(resmgr_client_set_transfer_options(c, &o), RESMGR_OK);
    o.min_speed_bytes_per_s = 1024;
    o.min_speed_window_ms = 60000;

    o.ca_file = "/nonexistent/resmgr-test/ca.pem";
    CHECK_STATUS(resmgr_client_set_transfer_options(c, &o), RESMGR_ERR_TLS);
    CHECK_ERROR_MESSAGE();
    /* A readable file without certificates. */
    if (make_dir(dir, sizeof dir)) {
        char path[512];
        write_in(dir, "empty.pem", "not a certificate\n", 18);
        join_path(path, sizeof path, dir, "empty.pem");
        o.ca_file = path;
        CHECK_STATUS(resmgr_client_set_transfer_options(c, &o), RESMGR_ERR_TLS);
        remove_dir(dir);
    }
    o.ca_file = "\xff\xfe.pem";
    CHECK_STATUS(resmgr_client_set_transfer_options(c, &o), RESMGR_ERR_UTF8);
    CHECK_EQ_INT(r->n_pubs, 0);
    resmgr_client_free(c);
    rec_free(r);
}

static int64_t never_read(void *user, uint64_t offset, uint8_t *buf, size_t len)
{
    (void)user;
    (void)offset;
    (void)buf;
    (void)len;
    return -1;
}

static void transfer_arguments_are_checked(void)
{
    ul_fix f;
    mem_sink s;
    char path[512], durl[512];
    sink_init(&s, 100);
    if (ul_setup(&f, "up.bin", 100, 0, 5000) && write_in(f.dir, "up.bin", f.obj, f.size)) {
        size_t pubs;
        join_path(path, sizeof path, f.dir, "up.bin");
        srv_url(&f.srv, durl, sizeof durl, "dl.bin", "t");
        CHECK_STATUS(push_download(f.c, "dl.bin", f.size, f.md5.hex, durl), RESMGR_OK);
        pubs = f.r->n_pubs;

        /* Upload: exactly one of path and read. */
        CHECK_STATUS(
            resmgr_client_run_upload(f.c, "up.bin", path, never_read, NULL, NULL, NULL),
            RESMGR_ERR_INVALID_ARG);
        CHECK_ERROR_MESSAGE();
        CHECK_STATUS(resmgr_client_run_upload(f.c, "up.bin", NULL, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_INVALID_ARG);
        CHECK_STATUS(resmgr_client_run_upload(NULL, "up.bin", path, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_NULL_ARG);
        CHECK_STATUS(resmgr_client_run_upload(f.c, NULL, path, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_NULL_ARG);
        CHECK_STATUS(resmgr_client_run_upload(f.c, "nope", path, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_NO_TASK);
        CHECK_STATUS(resmgr_client_run_upload(f.c, "dl.bin", path, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_NO_TASK);

        /* Download: exactly one of dir and write. */
        CHECK_STATUS(
            resmgr_client_run_download(f.c, "dl.bin", f.dir, sink_write, &s, NULL, NULL),
            RESMGR_ERR_INVALID_ARG);
        CHECK_ERROR_MESSAGE();
        CHECK_STATUS(resmgr_client_run_download(f.c, "dl.bin", NULL, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_INVALID_ARG);
        CHECK_STATUS(resmgr_client_run_download(NULL, "dl.bin", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_NULL_ARG);
        CHECK_STATUS(resmgr_client_run_download(f.c, NULL, f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_NULL_ARG);
        CHECK_STATUS(resmgr_client_run_download(f.c, "nope", f.dir, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_NO_TASK);
        CHECK_STATUS(resmgr_client_run_download(f.c, "up.bin", NULL, sink_write, &s, NULL, NULL),
                     RESMGR_ERR_NO_TASK);

        /* upload_file */
        CHECK_STATUS(resmgr_client_upload_file(NULL, path, NULL, 100, NULL, NULL),
                     RESMGR_ERR_NULL_ARG);
        CHECK_STATUS(resmgr_client_upload_file(f.c, NULL, NULL, 100, NULL, NULL),
                     RESMGR_ERR_NULL_ARG);

        /* Cancel */
        CHECK_STATUS(resmgr_client_cancel(f.c, 7, "up.bin"), RESMGR_ERR_INVALID_ARG);
        CHECK_ERROR_MESSAGE();
        CHECK_STATUS(resmgr_client_cancel(f.c, RESMGR_DIRECTION_NONE, "up.bin"),
                     RESMGR_ERR_INVALID_ARG);
        CHECK_STATUS(resmgr_client_cancel(NULL, RESMGR_DIRECTION_UPLOAD, "up.bin"),
                     RESMGR_ERR_NULL_ARG);
        CHECK_STATUS(resmgr_client_cancel(f.c, RESMGR_DIRECTION_UPLOAD, NULL),
                     RESMGR_ERR_NULL_ARG);
        CHECK_STATUS(resmgr_client_cancel(f.c, RESMGR_DIRECTION_UPLOAD, "nope"),
                     RESMGR_ERR_NO_TASK);
        CHECK_STATUS(resmgr_client_cancel(f.c, RESMGR_DIRECTION_DOWNLOAD, "up.bin"),
                     RESMGR_ERR_NO_TASK);

        /* None of that published, touched the directory or the store. */
        CHECK_EQ_INT(f.r->n_pubs, pubs);
        CHECK_EQ_INT(count_entries(f.dir), 1);
        CHECK_EQ_INT(srv_count(&f.srv), 0);
        /* The tasks are still there. */
        CHECK_STATUS(resmgr_client_track_upload_progress(f.c, "up.bin", 0, NULL), RESMGR_OK);
        CHECK_STATUS(resmgr_client_track_download_progress(f.c, "dl.bin", 0, NULL), RESMGR_OK);
    }
    ul_teardown(&f);
    free(s.buf);
}

static void upload_without_url_is_no_url(void)
{
    ul_fix f;
    char path[512];
    if (ul_setup(&f, NULL, 100, 0, 5000) && write_in(f.dir, "nourl.bin", f.obj, f.size)) {
        join_path(path, sizeof path, f.dir, "nourl.bin");
        CHECK(CREATE_UPLOAD_OK(f.r, "nourl.bin", f.size, f.md5.hex));
        CHECK_STATUS(resmgr_client_run_upload(f.c, "nourl.bin", path, NULL, NULL, NULL, NULL),
                     RESMGR_ERR_NO_URL);
        CHECK_ERROR_MESSAGE();
        CHECK_EQ_INT(f.r->n_pubs, 1);
        /* The task waits for its URL. */
        CHECK_STATUS(resmgr_client_track_upload_progress(f.c, "nourl.bin", 0, NULL), RESMGR_OK);
        CHECK_EQ_INT(srv_count(&f.srv), 0);
    }
    ul_teardown(&f);
}

/* ------------------------------------------------------------------ */

int main(void)
{
    RUN_TEST(download_into_directory_writes_the_verified_file);
    RUN_TEST(download_of_an_empty_object);
    RUN_TEST(download_through_write_callback_gets_contiguous_offsets);
    RUN_TEST(write_callback_failure_fails_the_download_with_io);
    RUN_TEST(cut_download_resumes_with_a_range_request);
    RUN_TEST(cut_download_through_write_callback_resumes_contiguously);
    RUN_TEST(range_ignored_by_the_store_starts_over);
    RUN_TEST(wrong_content_range_is_never_appended);
    RUN_TEST(download_with_wrong_md5_leaves_nothing);
    RUN_TEST(download_longer_than_the_task_is_a_bad_response);
    RUN_TEST(download_404_is_not_found);
    RUN_TEST(download_500_twice_then_200_succeeds_after_retries);
    RUN_TEST(download_500_always_gives_up_after_max_retries);
    RUN_TEST(download_403_is_url_expired_and_not_reported);
    RUN_TEST(download_of_a_name_another_download_holds_is_in_use);
    RUN_TEST(unsafe_names_are_refused_in_a_directory);
    RUN_TEST(run_into_a_missing_directory_ends_the_task);
    RUN_TEST(run_upload_from_a_missing_file_ends_the_task);
    RUN_TEST(upload_from_file_sends_length_and_content_md5);
    RUN_TEST(upload_from_read_callback_sends_the_buffer);
    RUN_TEST(upload_of_an_empty_object);
    RUN_TEST(upload_of_changed_data_stops_before_the_last_byte);
    RUN_TEST(upload_of_a_file_changed_after_hashing_is_a_mismatch);
    RUN_TEST(upload_whose_data_ends_early_is_a_mismatch);
    RUN_TEST(upload_whose_data_is_longer_is_a_mismatch);
    RUN_TEST(upload_whose_read_callback_fails_is_io);
    RUN_TEST(upload_answered_200_before_its_body_is_not_done);
    RUN_TEST(upload_400_bad_digest_is_md5_mismatch);
    RUN_TEST(upload_400_invalid_digest_is_md5_mismatch);
    RUN_TEST(upload_403_is_sign_invalid);
    RUN_TEST(upload_404_is_not_found);
    RUN_TEST(upload_500_is_retried_from_offset_zero);
    RUN_TEST(download_cancelled_from_another_thread);
    RUN_TEST(download_replaced_by_the_platform_stops_without_a_report);
    RUN_TEST(upload_cancelled_from_another_thread);
    RUN_TEST(transfer_cancelled_before_it_starts_stops_at_once);
    RUN_TEST(download_stalled_after_headers_times_out);
    RUN_TEST(download_below_the_minimum_speed_times_out);
    RUN_TEST(download_without_an_answer_times_out);
    RUN_TEST(upload_never_answered_times_out);
    RUN_TEST(upload_file_gets_its_url_from_another_thread);
    RUN_TEST(upload_file_names_the_task_after_the_file);
    RUN_TEST(upload_file_refused_by_the_platform_is_no_task);
    RUN_TEST(upload_file_without_url_times_out);
    RUN_TEST(transfer_options_defaults_and_checks);
    RUN_TEST(transfer_arguments_are_checked);
    RUN_TEST(upload_without_url_is_no_url);
    return check_summary();
}

#else /* !RESMGR_HTTP */

int main(void)
{
    /* The library was built without the transfer engine: nothing to test. */
    printf("SKIPPED: the library was built without the \"http\" feature\n");
    return 77;
}

#endif /* RESMGR_HTTP */
