/*
 * test_transfer.c: the blocking transfer calls (resmgr_client_run_upload,
 * resmgr_client_run_download, resmgr_client_upload_file, resmgr_client_cancel)
 * and their read / write / progress callbacks, through the public header,
 * against a real HTTP/1.1 server on a loopback socket: what only C shows
 * (arguments, callbacks and their contract, the status each failure maps
 * to, threads). How the transfer engine behaves (resume, ranges, retries,
 * stalls, MD5, names) is specified once, in Rust: tests/transfer_*.rs,
 * tests/hostile_dir.rs.
 *
 * The server is the tree's one fault-injection server, the program
 * $RESMGR_FAULT_SERVER (CMake builds it and sets the variable), scripted
 * per test through its stdin (serve an object honouring `Range: bytes=N-`,
 * cut the body, answer an S3-style XML error, dribble, stall, take a PUT
 * and hash its body); it records every request so the tests can assert
 * what the library sent. Each test starts and stops one.
 *
 * When the library header does not declare the transfer API (built
 * without the "http" feature), or no server program is given (outside
 * CI: under CI=true that fails), the program says so and exits 77: ctest
 * reports it as skipped, not passed.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "support.h"

#ifdef RESMGR_HTTP

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
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
/* The fault-injection server                                           */
/* ------------------------------------------------------------------ */

/* Each test runs the tree's one fault-injection server, the program
 * $RESMGR_FAULT_SERVER (tests/support/fault_server.rs, the Rust tests'
 * FaultServer), as a child on two pipes: once listening on 127.0.0.1 it
 * prints {"port":N,...}; then it answers each JSON command line on its
 * stdin with one JSON line (routes: what to answer; requests: what it got).
 * EOF on its stdin stops it. */

#define SRV_MAX_REQS 32
#define SRV_MAX_STEPS 8

/* What the server does with one request. The i-th request after the
 * script was set follows step i; the last step repeats; no steps at all =
 * every request is answered normally. */
typedef struct srv_step {
    int status;          /* 0: success (GET 200, or 206 for a Range; PUT stored, 200) */
    const char *code;    /* <Code> of the XML error body of an error status */
    bool cut;            /* GET: close the connection after cut_after body bytes */
    size_t cut_after;
    unsigned dribble_ms; /* GET: one body byte every dribble_ms */
    bool stall;          /* GET: headers then nothing; PUT: take the body, never answer */
    bool ignore_range;   /* GET: answer 200 with the whole object whatever the Range */
    bool early;          /* PUT: answer 200 on the head, never read the body */
} srv_step;

/* A request as the server got it. */
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
    uint64_t body_len; /* body bytes received */
    bool body_complete;
    char body_md5[RESMGR_MD5_HEX_SIZE]; /* MD5 of the body received */
    int answered;                       /* the status it answered, 0 for none */
} srv_req;

typedef struct http_server {
    pthread_mutex_t mu; /* one command at a time */
    bool started;
    pid_t pid;
    FILE *to, *from; /* its stdin, its stdout */
    unsigned port;
    bool puts;         /* a normal answer takes a PUT (else it serves the object) */
    char files[256];   /* temporary directory of the objects served */
    char object[512];  /* the object served now */
    srv_step steps[SRV_MAX_STEPS];
    size_t n_steps;
    size_t n_reqs;     /* once stopped: the requests it got */
    srv_req reqs[SRV_MAX_REQS];
} http_server;

extern char **environ;

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

/* The value of the first `"key":` in JSON text `json`, into `out`: a
 * string unescaped, anything else as written. False when absent. */
static bool json_field(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    const char *p;
    size_t n = 0;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = json != NULL ? strstr(json, pat) : NULL;
    if (p == NULL) {
        return false;
    }
    p += strlen(pat);
    if (*p == '"') {
        for (p++; *p != '\0' && *p != '"'; p++) {
            char ch = *p;
            if (ch == '\\' && p[1] != '\0') {
                ch = *++p;
                ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == 'r' ? '\r' : ch;
            }
            if (n + 1 < cap) {
                out[n++] = ch;
            }
        }
    } else {
        for (; *p != '\0' && *p != ',' && *p != '}' && *p != ']'; p++) {
            if (n + 1 < cap) {
                out[n++] = *p;
            }
        }
    }
    out[n] = '\0';
    return true;
}

static uint64_t json_u64(const char *json, const char *key)
{
    char v[32];
    return json_field(json, key, v, sizeof v) ? (uint64_t)strtoull(v, NULL, 10) : 0;
}

/* Sends command line `cmd`; the answer line (malloc'd), or NULL after a
 * failed check. */
static char *srv_command(http_server *s, const char *cmd)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = -1;
    pthread_mutex_lock(&s->mu);
    if (s->to != NULL && fprintf(s->to, "%s\n", cmd) > 0 && fflush(s->to) == 0) {
        n = getline(&line, &cap, s->from);
    }
    pthread_mutex_unlock(&s->mu);
    if (n <= 0 || strncmp(line, "{\"error\"", 8) == 0) {
        check_fail_head_(__FILE__, __LINE__);
        printf("the fault server answered %s to %s\n", n > 0 ? line : "nothing", cmd);
        free(line);
        return NULL;
    }
    return line;
}

/* The answer to one step of the script, as a fault-server reply. */
static void srv_reply(const http_server *s, const srv_step *st, char *out, size_t cap)
{
    size_t n;
    if (st->early) {
        snprintf(out, cap, "{\"kind\":\"status\",\"status\":200,\"answer_after\":0}");
        return;
    }
    if (st->status != 0 && st->status != 200) {
        snprintf(out, cap,
                 "{\"kind\":\"status\",\"status\":%d,"
                 "\"headers\":[[\"Content-Type\",\"application/xml\"]],"
                 "\"body\":\"<Error><Code>%s</Code><Message>scripted</Message></Error>\"}",
                 st->status, st->code != NULL ? st->code : "InternalError");
        return;
    }
    if (s->puts) {
        snprintf(out, cap, "{\"kind\":\"%s\"}", st->stall ? "stall" : "accept_put");
        return;
    }
    n = (size_t)snprintf(out, cap, "{\"kind\":\"serve\",\"file\":\"%s\"", s->object);
    if (st->ignore_range && n < cap) {
        n += (size_t)snprintf(out + n, cap - n, ",\"ignore_range\":true");
    }
    if (st->cut && n < cap) {
        n += (size_t)snprintf(out + n, cap - n, ",\"cut_after\":%zu", st->cut_after);
    }
    if (st->dribble_ms > 0 && n < cap) {
        n += (size_t)snprintf(out + n, cap - n, ",\"slow\":[1,%u]", st->dribble_ms);
    }
    if (st->stall && n < cap) {
        n += (size_t)snprintf(out + n, cap - n, ",\"stall_after\":0");
    }
    if (n < cap) {
        snprintf(out + n, cap - n, "}");
    }
}

/* Routes every path to the script (its count starts again). */
static bool srv_route(http_server *s)
{
    static const srv_step plain;
    char cmd[4096], reply[1024];
    size_t i, n = (size_t)snprintf(cmd, sizeof cmd, "{\"cmd\":\"route\",\"path\":\"*\",\"replies\":[");
    char *answer;
    for (i = 0; i < (s->n_steps > 0 ? s->n_steps : 1); i++) {
        srv_reply(s, s->n_steps > 0 ? &s->steps[i] : &plain, reply, sizeof reply);
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, "%s%s", i > 0 ? "," : "", reply);
    }
    snprintf(cmd + n, sizeof cmd - n, "]}");
    answer = srv_command(s, cmd);
    free(answer);
    return answer != NULL;
}

static void srv_script(http_server *s, const srv_step *steps, size_t n)
{
    s->n_steps = n < SRV_MAX_STEPS ? n : SRV_MAX_STEPS;
    if (s->n_steps > 0) {
        memcpy(s->steps, steps, s->n_steps * sizeof *steps);
    }
    srv_route(s);
}

/* Serves `obj` from the next route on (the server reads the file when it
 * takes a route, so rewriting it leaves the routes taken alone). */
static bool srv_set_object(http_server *s, const uint8_t *obj, size_t obj_len)
{
    join_path(s->object, sizeof s->object, s->files, "object");
    return write_in(s->files, "object", obj, obj_len);
}

/* Starts a server serving `obj` to GETs, or taking PUTs when `puts`. */
static bool srv_start(http_server *s, const uint8_t *obj, size_t obj_len, bool puts)
{
    const char *exe = getenv("RESMGR_FAULT_SERVER");
    int in[2], out[2], rc;
    posix_spawn_file_actions_t fa;
    char *argv[2], *line = NULL, port[16];
    size_t cap = 0;
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->puts = puts;
    if (exe == NULL || !make_dir(s->files, sizeof s->files)) {
        CHECK_FAIL("no $RESMGR_FAULT_SERVER or temporary directory");
        return false;
    }
    signal(SIGPIPE, SIG_IGN); /* a server gone is a failed check, not a dead test */
    if (pipe(in) != 0) {
        CHECK_FAIL("pipe failed");
        return false;
    }
    if (pipe(out) != 0) {
        CHECK_FAIL("pipe failed");
        close(in[0]);
        close(in[1]);
        return false;
    }
    fcntl(in[1], F_SETFD, FD_CLOEXEC);
    fcntl(out[0], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    argv[0] = (char *)exe;
    argv[1] = NULL;
    rc = posix_spawn(&s->pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (rc != 0) {
        CHECK_FAIL("cannot run $RESMGR_FAULT_SERVER");
        close(in[1]);
        close(out[0]);
        return false;
    }
    s->to = fdopen(in[1], "w");
    s->from = fdopen(out[0], "r");
    s->started = true;
    if (getline(&line, &cap, s->from) <= 0 || !json_field(line, "port", port, sizeof port) ||
        (s->port = (unsigned)strtoul(port, NULL, 10)) == 0) {
        CHECK_FAIL("the fault server did not say its port");
        free(line);
        return false;
    }
    free(line);
    return srv_set_object(s, obj, obj_len) && srv_route(s);
}

/* Parses one request record, `rec` being that record's text alone (its
 * "headers" object read for the header values). */
static void srv_parse_req(const char *rec, srv_req *q)
{
    char headers[4096], v[32];
    const char *h;
    memset(q, 0, sizeof *q);
    json_field(rec, "method", q->method, sizeof q->method);
    json_field(rec, "target", q->target, sizeof q->target);
    q->body_len = json_u64(rec, "body_len");
    q->body_complete = json_field(rec, "body_complete", v, sizeof v) && strcmp(v, "true") == 0;
    json_field(rec, "body_md5", q->body_md5, sizeof q->body_md5);
    q->answered = (int)json_u64(rec, "answered");
    /* The header values, from the "headers" object only. */
    h = strstr(rec, "\"headers\":{");
    copy_str(headers, sizeof headers, h != NULL ? h + 10 : "{}");
    if (strchr(headers, '}') != NULL) {
        *strchr(headers, '}') = '\0';
    }
    q->has_range = json_field(headers, "range", q->range, sizeof q->range);
    q->has_content_length = json_field(headers, "content-length", v, sizeof v);
    q->content_length = (uint64_t)strtoull(v, NULL, 10);
    q->has_content_md5 = json_field(headers, "content-md5", q->content_md5, sizeof q->content_md5);
    q->has_transfer_encoding = json_field(headers, "transfer-encoding", v, sizeof v);
}

/* Just past the '}' closing the JSON object that starts at `p` (a '{'),
 * strings skipped; NULL when it does not close. */
static char *json_object_end(char *p)
{
    size_t depth = 0;
    bool in_str = false;
    for (; *p != '\0'; p++) {
        if (in_str) {
            if (*p == '\\' && p[1] != '\0') {
                p++;
            } else if (*p == '"') {
                in_str = false;
            }
        } else if (*p == '"') {
            in_str = true;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}' && --depth == 0) {
            return p + 1;
        }
    }
    return NULL;
}

/* Reads every request the server got in one round trip ({"requests":[...]})
 * into s->reqs (the first SRV_MAX_REQS of them) and s->n_reqs. Each record
 * is cut out by its braces (its keys come in no set order) and parsed alone. */
static void srv_fetch_all(http_server *s)
{
    char *a = srv_command(s, "{\"cmd\":\"requests\"}");
    char *rec = a != NULL ? strstr(a, "\"requests\":[") : NULL;
    size_t n = 0;
    while (rec != NULL && (rec = strchr(rec, '{')) != NULL) {
        char *end = json_object_end(rec);
        char c;
        if (end == NULL) {
            CHECK_FAIL("a request record of the fault server does not close");
            break;
        }
        c = *end;
        *end = '\0';
        if (n < SRV_MAX_REQS) {
            srv_parse_req(rec, &s->reqs[n]);
        }
        n++;
        *end = c;
        rec = end;
    }
    s->n_reqs = n;
    free(a);
}

static size_t srv_count(http_server *s)
{
    char *a;
    size_t n;
    if (!s->started) {
        return s->n_reqs;
    }
    a = srv_command(s, "{\"cmd\":\"count\"}");
    n = (size_t)json_u64(a, "count");
    free(a);
    return n;
}

/* The record of request `i` once the server is stopped (zeroed when there
 * is none). */
static const srv_req *srv_req_at(const http_server *s, size_t i)
{
    static const srv_req none;
    return i < s->n_reqs && i < SRV_MAX_REQS ? &s->reqs[i] : &none;
}

/* Safety net for a run that never returns: the server quits, ending its
 * connections. */
static void srv_abort(http_server *s)
{
    free(srv_command(s, "{\"cmd\":\"quit\"}"));
}

/* Stops the server and waits for it; its requests stay readable. */
static void srv_stop(http_server *s)
{
    int status;
    if (!s->started) {
        remove_dir(s->files);
        return;
    }
    srv_fetch_all(s);
    s->started = false;
    fclose(s->to); /* EOF: it stops every connection and exits */
    s->to = NULL;
    fclose(s->from);
    s->from = NULL;
    if (waitpid(s->pid, &status, 0) != s->pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        CHECK_FAIL("the fault server did not exit with 0");
    }
    pthread_mutex_destroy(&s->mu);
    remove_dir(s->files);
}

/* http://127.0.0.1:PORT/bucket/KEY?sig=SIG */
static const char *srv_url(http_server *s, char *buf, size_t cap, const char *key,
                           const char *sig)
{
    snprintf(buf, cap, "http://127.0.0.1:%u/bucket/%s?sig=%s", s->port, key, sig);
    return buf;
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


/* The last publish is a `fail` report of `type` for `name` at QoS 1 with
 * result_code -1 and a non-empty result_msg (a failure without a standard
 * code: the protocol says "-1, say what happened"). */
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
        if (code == -1 && strncmp(end, ",\"result_msg\":\"", 15) == 0 && end[15] != '"' &&
            strcmp(p->payload + p->len - 2, "}}") == 0) {
            check_passed_++;
            return 1;
        }
    }
    check_fail_head_(file, line);
    printf("expected a fail report for \"%s\" with code -1 and a message, got ", name);
    if (p == NULL) {
        printf("no publish\n");
    } else {
        printf("qos %d ", p->qos);
        check_print_quoted_(p->payload, p->len, 600);
        fputc('\n', stdout);
    }
    return 0;
}

/* A `progress` of report_json, or ANY_FAIL: any fail report with code -1
 * and a message of its own. */
#define ANY_FAIL ""

/* The last publish is the report of `type` for `name` with `progress`
 * (ANY_FAIL: any fail report, as check_last_fail_any_ checks). */
static void check_last_report_(recorder *r, const char *type, const char *name,
                               const char *progress, const char *file, int line)
{
    char rj[1024];
    if (progress[0] == '\0') {
        check_last_fail_any_(r, type, name, file, line);
    } else {
        check_pub_(r, r->n_pubs == 0 ? 0 : r->n_pubs - 1,
                   report_json(rj, sizeof rj, type, name, progress), 1, file, line);
    }
}
#define CHECK_LAST_REPORT(r, type, name, progress) \
    check_last_report_((r), (type), (name), (progress), __FILE__, __LINE__)

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
enum {
    SRC_PLAIN,
    SRC_SHORT,   /* 1000 bytes at most per call, none from cut_at on */
    SRC_ERROR,   /* fails from cut_at on */
    SRC_CHANGED, /* byte len / 3 differs from the data */
    SRC_LONGER   /* the data, then 100 bytes more */
};

typedef struct mem_source {
    const uint8_t *data;
    size_t len;
    int mode;
    size_t cut_at;
    size_t calls;
    size_t zero_offset_calls;
    bool beyond; /* asked for an offset past the data (other than a probe) */
} mem_source;

static int64_t source_read(void *user, uint64_t offset, uint8_t *buf, size_t len)
{
    mem_source *s = (mem_source *)user;
    size_t end = s->len + (s->mode == SRC_LONGER ? 100u : 0u), n, i;
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
    n = end - (size_t)offset < len ? end - (size_t)offset : len;
    for (i = 0; i < n; i++) {
        size_t at = (size_t)offset + i;
        buf[i] = at < s->len ? s->data[at] : (uint8_t)'x';
        if (s->mode == SRC_CHANGED && at == s->len / 3) {
            buf[i] ^= 1;
        }
    }
    return (int64_t)n;
}

/* ------------------------------------------------------------------ */
/* One fixture for downloads and uploads                                */
/* ------------------------------------------------------------------ */

#define DOWN RESMGR_DIRECTION_DOWNLOAD
#define UP RESMGR_DIRECTION_UPLOAD

typedef struct fix {
    recorder *r;
    resmgr_client *c;
    http_server srv;
    char dir[256];
    uint8_t *obj;
    size_t size;
    resmgr_digest md5;
    char url[512];
} fix;

/* Task `name` of `direction` for the fixture's object with the server's
 * URL: a pushed download, or an upload task given its URL. */
static bool fix_task(fix *f, int32_t direction, const char *name)
{
    srv_url(&f->srv, f->url, sizeof f->url, "obj", "t");
    if (direction == DOWN) {
        return CHECK_STATUS(push_download(f->c, name, f->size, f->md5.hex, f->url), RESMGR_OK);
    }
    return CREATE_UPLOAD_OK(f->r, name, f->size, f->md5.hex) &&
           CHECK_STATUS(upload_url_rsp(f->c, name, f->size, f->md5.hex, f->url), RESMGR_OK);
}

/* A server serving a `size`-byte object, a client with the given retry
 * and idle settings, a temporary directory, and task `name` of
 * `direction` (none when name is NULL). */
static bool fix_setup(fix *f, int32_t direction, const char *name, size_t size,
                      uint32_t retries, uint32_t idle_ms)
{
    memset(f, 0, sizeof *f);
    f->r = rec_new();
    f->c = xfer_client(f->r, retries, idle_ms);
    f->size = size;
    f->obj = make_object(size, (uint32_t)size);
    md5_of(f->obj, size, &f->md5);
    if (!srv_start(&f->srv, f->obj, size, direction == UP) || f->c == NULL || !make_dir(f->dir, sizeof f->dir)) {
        return false;
    }
    return name == NULL || fix_task(f, direction, name);
}

static void fix_teardown(fix *f)
{
    srv_stop(&f->srv);
    resmgr_client_free(f->c);
    rec_free(f->r);
    remove_dir(f->dir);
    free(f->obj);
}

#define SRV_TARGET "/bucket/obj?sig=t"

/* Request `i` is a PUT of the whole object with the protocol's headers. */
static void check_put_(fix *f, size_t i, const char *file, int line)
{
    const srv_req *q = srv_req_at(&f->srv, i);
    check_str_(q->method, "PUT", file, line, "method", "\"PUT\"");
    check_str_(q->target, SRV_TARGET, file, line, "request target", "the URL's path and query");
    check_true_(q->has_content_length, file, line, "the PUT has a Content-Length");
    check_eq_u64_(q->content_length, f->size, file, line, "Content-Length", "size");
    check_true_(!q->has_transfer_encoding, file, line, "the PUT has no Transfer-Encoding");
    check_true_(q->has_content_md5, file, line, "the PUT has a Content-MD5");
    check_str_(q->content_md5, f->md5.base64, file, line, "Content-MD5", "base64 MD5");
    check_true_(q->body_complete, file, line, "the whole body arrived");
    check_eq_u64_(q->body_len, f->size, file, line, "body bytes received", "size");
    check_str_(q->body_md5, f->md5.hex, file, line, "MD5 of the body received", "hex MD5");
}
#define CHECK_PUT(f, i) check_put_((f), (i), __FILE__, __LINE__)

/* The store never received a complete body. */
static void check_no_complete_body_(fix *f, const char *file, int line)
{
    size_t i;
    bool ok = true;
    for (i = 0; i < srv_count(&f->srv); i++) {
        const srv_req *q = srv_req_at(&f->srv, i);
        if (q->body_complete || q->body_len >= f->size) {
            ok = false;
        }
    }
    check_true_(ok, file, line, "no request carried the complete body");
}
#define CHECK_NO_COMPLETE_BODY(f) check_no_complete_body_((f), __FILE__, __LINE__)

/* ------------------------------------------------------------------ */
/* 1. The plain runs: a download into a directory, an upload of a file  */
/* ------------------------------------------------------------------ */

/* The call returns OK without an error message, the progress callback
 * keeps its contract, the platform gets QoS 0 progress reports then one
 * done, and the task is over. */
static void plain_runs_call_back_and_report_done(void)
{
    int32_t direction;
    for (direction = DOWN; direction >= UP; direction--) {
        const char *name = direction == DOWN ? "fw.bin" : "log.bin";
        fix f;
        progress_log pl;
        char path[512];
        plog_init(&pl, name);
        if (fix_setup(&f, direction, name, 150000, 0, 5000)) {
            size_t before = f.r->n_pubs;
            if (direction == DOWN) {
                CHECK_STATUS(resmgr_client_run_download(f.c, name, f.dir, NULL, NULL,
                                                        progress_cb, &pl),
                             RESMGR_OK);
            } else {
                write_in(f.dir, name, f.obj, f.size);
                join_path(path, sizeof path, f.dir, name);
                CHECK_STATUS(
                    resmgr_client_run_upload(f.c, name, path, NULL, NULL, progress_cb, &pl),
                    RESMGR_OK);
            }
            CHECK_NO_ERROR_MESSAGE();
            srv_stop(&f.srv);
            CHECK_EQ_INT(srv_count(&f.srv), 1);
            if (direction == DOWN) {
                /* One plain GET of the presigned URL, path and query as given. */
                CHECK_STR(srv_req_at(&f.srv, 0)->method, "GET");
                CHECK_STR(srv_req_at(&f.srv, 0)->target, SRV_TARGET);
                CHECK(!srv_req_at(&f.srv, 0)->has_range);
            } else {
                CHECK_PUT(&f, 0);
            }
            CHECK_FILE_IN(f.dir, name, f.obj, f.size);
            CHECK_EQ_INT(count_entries(f.dir), 1);
            CHECK_PROGRESS_LOG(&pl, f.size);
            CHECK_PROGRESS_REPORTS(f.r, before, direction == DOWN ? DL : UL, name,
                                   direction == DOWN ? "downloading" : "uploading");
            CHECK_LAST_REPORT(f.r, direction == DOWN ? DL : UL, name, DONE_JSON);
            CHECK_EQ_INT(final_reports(f.r), 1);
            CHECK_STATUS(direction == DOWN
                             ? resmgr_client_track_download_progress(f.c, name, 0, NULL)
                             : resmgr_client_track_upload_progress(f.c, name, 0, NULL),
                         RESMGR_ERR_NO_TASK);
        }
        fix_teardown(&f);
        plog_free(&pl);
    }
}

/* ------------------------------------------------------------------ */
/* 2. The write callback                                                */
/* ------------------------------------------------------------------ */

/* A connection cut at 50000: the resumed writes go on at 50000 (no gap,
 * no restart); when the store ignores the Range, they start again at 0,
 * once. Nothing is written to disk, and a name that is no file name
 * ("a/b") is fine for a callback. */
static void write_callback_gets_every_byte_at_its_offset(void)
{
    static const struct {
        bool ignore_range;
        size_t restarts;
    } runs[] = {{false, 0}, {true, 1}};
    size_t i;
    for (i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        fix f;
        mem_sink s;
        progress_log pl;
        srv_step steps[2];
        memset(steps, 0, sizeof steps);
        steps[0].cut = true;
        steps[0].cut_after = 50000;
        steps[1].ignore_range = runs[i].ignore_range;
        plog_init(&pl, "a/b");
        sink_init(&s, 150000);
        if (fix_setup(&f, DOWN, "a/b", 150000, 2, 5000)) {
            srv_script(&f.srv, steps, 2);
            CHECK_STATUS(resmgr_client_run_download(f.c, "a/b", NULL, sink_write, &s,
                                                    progress_cb, &pl),
                         RESMGR_OK);
            srv_stop(&f.srv);
            CHECK_EQ_INT(srv_count(&f.srv), 2);
            CHECK_STR(srv_req_at(&f.srv, 1)->range, "bytes=50000-");
            CHECK(!s.gap);
            CHECK(!s.overflow);
            CHECK_EQ_INT(s.restarts, runs[i].restarts);
            CHECK_EQ_U64(s.received, f.size);
            CHECK_MEM(s.buf, (size_t)s.received, f.obj, f.size);
            if (!runs[i].ignore_range) {
                CHECK_PROGRESS_LOG(&pl, f.size);
            }
            CHECK_EQ_INT(count_entries(f.dir), 0);
            CHECK_LAST_REPORT(f.r, DL, "a/b", DONE_JSON);
        }
        fix_teardown(&f);
        free(s.buf);
        plog_free(&pl);
    }
}

/* A non-zero return fails the download at once with RESMGR_ERR_IO: no
 * more calls, no retry (a local failure), a fail report. */
static void write_callback_failure_fails_the_download_with_io(void)
{
    fix f;
    mem_sink s;
    sink_init(&s, 200000);
    s.fail_from = 100000; /* the write reaching past half the object fails */
    if (fix_setup(&f, DOWN, "blob", 200000, 3, 5000)) {
        CHECK_STATUS(resmgr_client_run_download(f.c, "blob", NULL, sink_write, &s, NULL, NULL),
                     RESMGR_ERR_IO);
        CHECK_ERROR_MESSAGE();
        CHECK(s.failed);
        CHECK_EQ_INT(s.calls_after_fail, 0);
        srv_stop(&f.srv);
        CHECK_EQ_INT(srv_count(&f.srv), 1);
        CHECK_LAST_REPORT(f.r, DL, "blob", ANY_FAIL);
        CHECK_EQ_INT(final_reports(f.r), 1);
        CHECK_STATUS(resmgr_client_track_download_progress(f.c, "blob", 0, NULL),
                     RESMGR_ERR_NO_TASK);
    }
    fix_teardown(&f);
    free(s.buf);
}

/* ------------------------------------------------------------------ */
/* 3. The read callback                                                 */
/* ------------------------------------------------------------------ */

/* Large enough that the HTTP client has sent part of the body (it
 * buffers up to 128 KiB) when the data turns out wrong. */
#define BIG_UPLOAD 600000

/* What the read callback serves and what the run returns: exactly the
 * announced bytes (also after a 500: the offsets restart at 0), or data
 * that is not what was announced (a changed byte, reads that return less
 * than asked and end early, more bytes) -- stopped before the store has
 * it all -- or a failing read (RESMGR_ERR_IO). */
static void read_callback_serves_the_body_and_its_faults_end_the_upload(void)
{
    static const struct {
        const char *what;
        int mode;
        size_t cut_at;
        bool fail_first;
        resmgr_status expected;
        const char *report;
    } cases[] = {
        {"the announced bytes", SRC_PLAIN, 0, false, RESMGR_OK, DONE_JSON},
        {"a 500, then the announced bytes again", SRC_PLAIN, 0, true, RESMGR_OK, DONE_JSON},
        {"a changed byte", SRC_CHANGED, 0, false, RESMGR_ERR_MD5_MISMATCH,
         FAIL_JSON(-4, "md5sum not matched")},
        {"short reads ending early", SRC_SHORT, 500000, false, RESMGR_ERR_MD5_MISMATCH,
         FAIL_JSON(-4, "md5sum not matched")},
        {"100 bytes more", SRC_LONGER, 0, false, RESMGR_ERR_MD5_MISMATCH,
         FAIL_JSON(-4, "md5sum not matched")},
        {"a failing read", SRC_ERROR, 400000, false, RESMGR_ERR_IO, ANY_FAIL},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fix f;
        mem_source src;
        progress_log pl;
        srv_step steps[2];
        check_test_ = cases[i].what;
        memset(steps, 0, sizeof steps);
        steps[0].status = cases[i].fail_first ? 500 : 0;
        steps[0].code = "InternalError";
        plog_init(&pl, "up.bin");
        if (fix_setup(&f, UP, "up.bin", BIG_UPLOAD, 2, 5000)) {
            srv_script(&f.srv, steps, 2);
            memset(&src, 0, sizeof src);
            src.data = f.obj;
            src.len = f.size;
            src.mode = cases[i].mode;
            src.cut_at = cases[i].cut_at;
            CHECK_STATUS(resmgr_client_run_upload(f.c, "up.bin", NULL, source_read, &src,
                                                  progress_cb, &pl),
                         cases[i].expected);
            srv_stop(&f.srv);
            if (cases[i].expected == RESMGR_OK) {
                CHECK_EQ_INT(srv_count(&f.srv), cases[i].fail_first ? 2 : 1);
                CHECK_PUT(&f, 0);
                CHECK_PUT(&f, srv_count(&f.srv) - 1);
                CHECK(src.zero_offset_calls >= srv_count(&f.srv));
                if (!cases[i].fail_first) {
                    CHECK_PROGRESS_LOG(&pl, f.size);
                }
            } else {
                CHECK_ERROR_MESSAGE();
                CHECK_NO_COMPLETE_BODY(&f);
            }
            CHECK_LAST_REPORT(f.r, UL, "up.bin", cases[i].report);
            CHECK_EQ_INT(final_reports(f.r), 1);
        }
        fix_teardown(&f);
        plog_free(&pl);
    }
}

/* ------------------------------------------------------------------ */
/* 4. Statuses: what each run returns, reports and leaves of the task   */
/* ------------------------------------------------------------------ */

/* What is wrong besides the store's answer. */
enum {
    BAD_NONE,
    BAD_OTHER_BYTES, /* the store holds other bytes of the same length */
    BAD_OTHER_BYTES_TO_SINK,
    BAD_LONGER,      /* the store holds 10000 bytes more */
    BAD_LOCKED,      /* another download holds the lock */
    BAD_NAME,        /* the task's name is no file name */
    BAD_NO_DIR,      /* the directory does not exist */
    BAD_CANCELLED,   /* cancelled before the run */
    BAD_SLOW,        /* a minimum speed the store does not reach */
    BAD_STALL,       /* the store sends the headers, then nothing */
    BAD_EARLY,       /* the store answers 200 before the upload's body */
    BAD_NO_SERVER,   /* nothing listens at the URL */
    BAD_NO_URL,      /* the upload task has no URL yet */
    BAD_NO_FILE      /* the upload's file does not exist */
};

typedef struct status_case {
    int32_t direction;
    int bad;
    int status; /* the store's answer to every request: 0 = normal */
    const char *code;
    resmgr_status expected;
    const char *report; /* the final report; ANY_FAIL; NULL: none, the task stays */
    size_t requests;
} status_case;

static const status_case status_cases[] = {
    {DOWN, BAD_NONE, 404, "NoSuchKey", RESMGR_ERR_NOT_FOUND, FAIL_JSON(-2, "file_not_exist"), 1},
    {DOWN, BAD_OTHER_BYTES, 0, NULL, RESMGR_ERR_MD5_MISMATCH,
     FAIL_JSON(-4, "md5sum not matched"), 1},
    {DOWN, BAD_OTHER_BYTES_TO_SINK, 0, NULL, RESMGR_ERR_MD5_MISMATCH,
     FAIL_JSON(-4, "md5sum not matched"), 1},
    {DOWN, BAD_LONGER, 0, NULL, RESMGR_ERR_BAD_RESPONSE, ANY_FAIL, 1},
    {DOWN, BAD_NONE, 500, "InternalError", RESMGR_ERR_HTTP, ANY_FAIL, 1},
    {DOWN, BAD_NONE, 403, "AccessDenied", RESMGR_ERR_URL_EXPIRED, NULL, 1},
    {DOWN, BAD_LOCKED, 0, NULL, RESMGR_ERR_IN_USE, NULL, 0},
    {DOWN, BAD_NAME, 0, NULL, RESMGR_ERR_UNSAFE_NAME, ANY_FAIL, 0},
    {DOWN, BAD_NO_DIR, 0, NULL, RESMGR_ERR_IO, ANY_FAIL, 0},
    {DOWN, BAD_CANCELLED, 0, NULL, RESMGR_ERR_CANCELLED, ANY_FAIL, 0},
    {DOWN, BAD_SLOW, 0, NULL, RESMGR_ERR_TIMEOUT, FAIL_JSON(-1, "time_out"), 1},
    {DOWN, BAD_STALL, 0, NULL, RESMGR_ERR_TIMEOUT, FAIL_JSON(-1, "time_out"), 1},
    {DOWN, BAD_NO_SERVER, 0, NULL, RESMGR_ERR_NETWORK, ANY_FAIL, 0},
    {UP, BAD_NONE, 403, "SignatureDoesNotMatch", RESMGR_ERR_SIGN_INVALID,
     FAIL_JSON(-3, "sign invalid"), 1},
    {UP, BAD_NONE, 400, "BadDigest", RESMGR_ERR_MD5_MISMATCH, FAIL_JSON(-4, "md5sum not matched"),
     1},
    {UP, BAD_NONE, 400, "InvalidDigest", RESMGR_ERR_MD5_MISMATCH,
     FAIL_JSON(-4, "md5sum not matched"), 1},
    {UP, BAD_NONE, 404, "NoSuchBucket", RESMGR_ERR_NOT_FOUND, FAIL_JSON(-2, "file_not_exist"), 1},
    {UP, BAD_NO_URL, 0, NULL, RESMGR_ERR_NO_URL, NULL, 0},
    {UP, BAD_NO_FILE, 0, NULL, RESMGR_ERR_IO, ANY_FAIL, 0},
    {UP, BAD_EARLY, 0, NULL, RESMGR_ERR_BAD_RESPONSE, ANY_FAIL, 1},
};

/* No retries, this idle timeout, and this minimum-speed window (0: the
 * default). */
static void set_limits(resmgr_client *c, uint32_t idle_ms, uint32_t min_speed_window_ms)
{
    resmgr_transfer_options o;
    CHECK_STATUS(resmgr_transfer_options_init(&o), RESMGR_OK);
    o.idle_timeout_ms = idle_ms;
    o.max_retries = 0;
    if (min_speed_window_ms > 0) {
        o.min_speed_window_ms = min_speed_window_ms;
    }
    CHECK_STATUS(resmgr_client_set_transfer_options(c, &o), RESMGR_OK);
}

static void run_status_case(const status_case *k)
{
    const char *name = k->bad == BAD_NAME ? "../x" : k->direction == DOWN ? "fw.bin" : "up.bin";
    const char *type = k->direction == DOWN ? DL : UL;
    fix f;
    mem_sink s;
    mem_source src;
    srv_step st;
    uint8_t *other = NULL;
    char path[512];
    int lock = -1;
    resmgr_status rc;
    resmgr_task_state state = RESMGR_TASK_NONE;
    sink_init(&s, 20000);
    memset(&st, 0, sizeof st);
    st.status = k->status;
    st.code = k->code;
    if (!fix_setup(&f, k->direction, k->bad == BAD_NO_URL ? NULL : name, 20000, 0, 5000)) {
        fix_teardown(&f);
        free(s.buf);
        return;
    }
    join_path(path, sizeof path, f.dir, k->direction == DOWN ? "no-such-dir" : "no-such-file");
    switch (k->bad) {
    case BAD_OTHER_BYTES:
    case BAD_OTHER_BYTES_TO_SINK:
        other = make_object(f.size, 1);
        srv_set_object(&f.srv, other, f.size);
        break;
    case BAD_LONGER:
        other = make_object(f.size + 10000, (uint32_t)f.size); /* the same bytes first */
        srv_set_object(&f.srv, other, f.size + 10000);
        break;
    case BAD_LOCKED:
        /* Another download's lock (flock(2) on the documented path). */
        join_path(path, sizeof path, f.dir, ".fw.bin.resmgr-lock");
        lock = open(path, O_RDWR | O_CREAT, 0600);
        CHECK(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0);
        break;
    case BAD_CANCELLED:
        CHECK_STATUS(resmgr_client_cancel(f.c, k->direction, name), RESMGR_OK);
        break;
    case BAD_SLOW:
        /* One byte per 100 ms: under 1024 bytes/s over a 1 s window, though
         * no read waits as long as the idle timeout. */
        set_limits(f.c, 1000, 1000);
        st.dribble_ms = 100;
        break;
    case BAD_STALL:
        set_limits(f.c, 300, 0);
        st.stall = true;
        break;
    case BAD_EARLY:
        st.early = true;
        break;
    case BAD_NO_SERVER:
        CHECK_STATUS(push_download(f.c, name, f.size, f.md5.hex, "http://127.0.0.1:1/obj"),
                     RESMGR_OK);
        break;
    case BAD_NO_URL:
        CHECK(CREATE_UPLOAD_OK(f.r, name, f.size, f.md5.hex));
        break;
    default:
        break;
    }
    /* One route, after any object swap: the object to serve with the step. */
    srv_script(&f.srv, &st, 1);
    memset(&src, 0, sizeof src);
    src.data = f.obj;
    src.len = f.size;
    if (k->direction == DOWN) {
        bool to_sink = k->bad == BAD_OTHER_BYTES_TO_SINK;
        rc = resmgr_client_run_download(f.c, name,
                                        to_sink ? NULL : k->bad == BAD_NO_DIR ? path : f.dir,
                                        to_sink ? sink_write : NULL, &s, NULL, NULL);
    } else if (k->bad == BAD_NO_FILE || k->bad == BAD_NO_URL) {
        rc = resmgr_client_run_upload(f.c, name, path, NULL, NULL, NULL, NULL);
    } else {
        rc = resmgr_client_run_upload(f.c, name, NULL, source_read, &src, NULL, NULL);
    }
    CHECK_STATUS(rc, k->expected);
    CHECK_ERROR_MESSAGE();
    if (k->bad == BAD_SLOW) {
        CHECK_CONTAINS(last_error(), "minimum speed");
        CHECK(exists_in(f.dir, ".fw.bin.resmgr-state")); /* kept for a resume */
    }
    if (k->bad == BAD_LOCKED) {
        CHECK_CONTAINS(resmgr_status_str(rc), "another download");
        CHECK(!exists_in(f.dir, ".fw.bin.resmgr-part"));
    }
    srv_stop(&f.srv);
    CHECK_EQ_INT(srv_count(&f.srv), k->requests);
    if (k->status != 0 && k->requests > 0) {
        CHECK_EQ_INT(srv_req_at(&f.srv, 0)->answered, k->status);
    }
    if (k->bad == BAD_EARLY) {
        CHECK_EQ_INT(srv_req_at(&f.srv, 0)->answered, 200);
        CHECK(!srv_req_at(&f.srv, 0)->body_complete);
        CHECK_EQ_INT(count_pubs_with(f.r, "\"state\":\"done\""), 0);
        CHECK_EQ_INT(count_pubs_with(f.r, "not counted as done"), 1);
    } else if (k->direction == UP && k->requests > 0) {
        CHECK_PUT(&f, 0);
    }
    if (k->direction == DOWN && k->bad != BAD_NAME) {
        CHECK(!exists_in(f.dir, name));
    }
    if (k->bad == BAD_OTHER_BYTES) {
        CHECK_EQ_INT(count_entries(f.dir), 0); /* no partial file nor state */
    }
    CHECK_STATUS(resmgr_client_task_state(f.c, k->direction, name, &state), RESMGR_OK);
    if (k->report == NULL) {
        CHECK_EQ_INT(final_reports(f.r), 0);
        CHECK(state != RESMGR_TASK_NONE);
        if (k->bad == BAD_NO_URL) {
            CHECK_EQ_INT(f.r->n_pubs, 1); /* the create_upload_task */
        } else {
            CHECK_EQ_INT(count_pubs_with(f.r, "\"result_code\":-"), 0);
        }
    } else {
        CHECK_LAST_REPORT(f.r, type, name, k->report);
        CHECK_EQ_INT(final_reports(f.r), 1);
        CHECK_EQ_INT(state, RESMGR_TASK_NONE);
    }
    if (lock >= 0) {
        close(lock);
    }
    fix_teardown(&f);
    free(other);
    free(s.buf);
}

static void each_status_of_the_run_calls_reports_and_ends_the_task_as_documented(void)
{
    size_t i;
    char what[128];
    for (i = 0; i < sizeof status_cases / sizeof status_cases[0]; i++) {
        snprintf(what, sizeof what, "status case %zu: %s, status %d", i,
                 status_cases[i].direction == DOWN ? "download" : "upload",
                 (int)status_cases[i].expected);
        check_test_ = what;
        run_status_case(&status_cases[i]);
    }
}

/* ------------------------------------------------------------------ */
/* 5. Cancel from another thread                                        */
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
    k->cancel_status = resmgr_client_cancel(k->c, k->direction, k->name);
    deadline = now_ms() + WAIT_LIMIT_MS;
    while (!canceller_returned(k) && now_ms() < deadline) {
        sleep_ms(10);
    }
    if (!canceller_returned(k)) {
        srv_abort(k->srv);
    }
    return NULL;
}

/* A download whose body dribbles (one byte per 50 ms: minutes for the
 * whole object), an upload the store takes but never answers: cancelled
 * from another thread once bytes moved, each returns
 * RESMGR_ERR_CANCELLED with a fail report; the download keeps its partial
 * file (its resume: transfer_faults.rs
 * a_cancelled_download_keeps_its_partial_and_the_next_run_resumes_it). */
static void transfers_cancelled_from_another_thread_stop(void)
{
    static const struct {
        int32_t direction;
        const char *name;
        size_t size;
    } runs[] = {{DOWN, "slow.bin", 4096}, {UP, "up.bin", 20000}};
    size_t i;
    for (i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        int32_t direction = runs[i].direction;
        const char *name = runs[i].name;
        fix f;
        progress_log pl;
        canceller k;
        pthread_t t;
        srv_step st;
        mem_source src;
        resmgr_status rc = RESMGR_OK;
        long part;
        memset(&st, 0, sizeof st);
        st.dribble_ms = direction == DOWN ? 50 : 0;
        st.stall = direction == UP; /* takes the body, never answers */
        plog_init(&pl, name);
        memset(&k, 0, sizeof k);
        pthread_mutex_init(&k.mu, NULL);
        if (fix_setup(&f, direction, name, runs[i].size, 0, 10000)) {
            srv_script(&f.srv, &st, 1);
            memset(&src, 0, sizeof src);
            src.data = f.obj;
            src.len = f.size;
            k.c = f.c;
            k.direction = direction;
            k.name = name;
            k.pl = &pl;
            k.srv = &f.srv;
            if (pthread_create(&t, NULL, canceller_main, &k) != 0) {
                CHECK_FAIL("pthread_create (canceller) failed");
            } else {
                rc = direction == DOWN
                         ? resmgr_client_run_download(f.c, name, f.dir, NULL, NULL,
                                                      progress_cb, &pl)
                         : resmgr_client_run_upload(f.c, name, NULL, source_read, &src,
                                                    progress_cb, &pl);
                pthread_mutex_lock(&k.mu);
                k.run_returned = true;
                pthread_mutex_unlock(&k.mu);
                pthread_join(t, NULL);
                CHECK(k.saw_bytes);
                CHECK_STATUS(k.cancel_status, RESMGR_OK);
                CHECK_STATUS(rc, RESMGR_ERR_CANCELLED);
                CHECK_LAST_REPORT(f.r, direction == DOWN ? DL : UL, name, ANY_FAIL);
                CHECK_EQ_INT(final_reports(f.r), 1);
                CHECK_EQ_INT(srv_count(&f.srv), 1);
                if (direction == DOWN) {
                    CHECK(!exists_in(f.dir, name));
                    part = file_size_in(f.dir, ".slow.bin.resmgr-part");
                    CHECK(part > 0 && (size_t)part < f.size);
                }
            }
        }
        fix_teardown(&f);
        pthread_mutex_destroy(&k.mu);
        plog_free(&pl);
    }
}

/* ------------------------------------------------------------------ */
/* 6. resmgr_client_upload_file                                         */
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

/* The call hashes the file, creates the task (named as given, or after
 * the file), waits for the URL another thread feeds, then uploads; a task
 * the platform refuses is RESMGR_ERR_NO_TASK with nothing sent. */
static void upload_file_gets_its_url_from_another_thread(void)
{
    static const struct {
        const char *name_arg, *task_name;
        bool reject;
    } cases[] = {
        {"daily-report", "daily-report", false},
        {NULL, "report.csv", false},
        {NULL, "report.csv", true},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fix f;
        platform p;
        pthread_t t;
        progress_log pl;
        char path[512], expect[512];
        resmgr_status rc;
        plog_init(&pl, cases[i].task_name);
        if (fix_setup(&f, UP, NULL, 120000, 0, 5000) &&
            write_in(f.dir, "report.csv", f.obj, f.size)) {
            join_path(path, sizeof path, f.dir, "report.csv");
            memset(&p, 0, sizeof p);
            p.r = f.r;
            p.c = f.c;
            p.name = cases[i].task_name;
            p.size = f.size;
            p.reject = cases[i].reject;
            copy_str(p.md5, sizeof p.md5, f.md5.hex);
            srv_url(&f.srv, p.url, sizeof p.url, "obj", "t");
            if (pthread_create(&t, NULL, platform_main, &p) != 0) {
                CHECK_FAIL("pthread_create (platform) failed");
            } else {
                rc = resmgr_client_upload_file(f.c, path, cases[i].name_arg, 20000, progress_cb,
                                               &pl);
                pthread_join(t, NULL);
                CHECK(p.saw_create);
                CHECK_STATUS(p.fed, RESMGR_OK);
                snprintf(expect, sizeof expect,
                         "{\"type\":\"create_upload_task\",\"size\":%zu,\"name\":\"%s\","
                         "\"md5sum\":\"%s\"}",
                         f.size, cases[i].task_name, f.md5.hex);
                CHECK_PUB(f.r, 0, expect, 1);
                srv_stop(&f.srv);
                if (cases[i].reject) {
                    CHECK_STATUS(rc, RESMGR_ERR_NO_TASK);
                    CHECK_EQ_INT(srv_count(&f.srv), 0);
                } else {
                    CHECK_STATUS(rc, RESMGR_OK);
                    CHECK_EQ_INT(srv_count(&f.srv), 1);
                    CHECK_PUT(&f, 0);
                    CHECK_PROGRESS_LOG(&pl, f.size);
                    CHECK_LAST_REPORT(f.r, UL, cases[i].task_name, DONE_JSON);
                    CHECK_EQ_INT(final_reports(f.r), 1);
                }
            }
        }
        fix_teardown(&f);
        plog_free(&pl);
    }
}

static void upload_file_without_url_times_out(void)
{
    fix f;
    char path[512];
    if (fix_setup(&f, UP, NULL, 1000, 0, 5000) && write_in(f.dir, "late.bin", f.obj, f.size)) {
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
        CHECK_EQ_INT(srv_count(&f.srv), 0);
        /* A missing file: nothing is published. */
        join_path(path, sizeof path, f.dir, "missing.bin");
        CHECK_STATUS(resmgr_client_upload_file(f.c, path, NULL, 200, NULL, NULL), RESMGR_ERR_IO);
        CHECK_EQ_INT(f.r->n_pubs, 2);
    }
    fix_teardown(&f);
}

/* ------------------------------------------------------------------ */
/* 7. Options and argument checks                                       */
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
    fix f;
    mem_sink s;
    char path[512];
    sink_init(&s, 100);
    if (fix_setup(&f, UP, "up.bin", 100, 0, 5000) && write_in(f.dir, "up.bin", f.obj, f.size)) {
        size_t pubs;
        join_path(path, sizeof path, f.dir, "up.bin");
        CHECK(fix_task(&f, DOWN, "dl.bin"));
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
    fix_teardown(&f);
    free(s.buf);
}

/* ------------------------------------------------------------------ */

int main(void)
{
    const char *server = getenv("RESMGR_FAULT_SERVER");
    const char *ci = getenv("CI");
    if (server == NULL || server[0] == '\0') {
        if (ci != NULL && strcmp(ci, "true") == 0) {
            printf("FAILED: RESMGR_FAULT_SERVER (the fault-server program) is not set and "
                   "CI=true: failing instead of skipping\n");
            return 1;
        }
        printf("SKIPPED: RESMGR_FAULT_SERVER (the fault-server program) is not set\n");
        return 77;
    }
    RUN_TEST(plain_runs_call_back_and_report_done);
    RUN_TEST(write_callback_gets_every_byte_at_its_offset);
    RUN_TEST(write_callback_failure_fails_the_download_with_io);
    RUN_TEST(read_callback_serves_the_body_and_its_faults_end_the_upload);
    RUN_TEST(each_status_of_the_run_calls_reports_and_ends_the_task_as_documented);
    RUN_TEST(transfers_cancelled_from_another_thread_stop);
    RUN_TEST(upload_file_gets_its_url_from_another_thread);
    RUN_TEST(upload_file_without_url_times_out);
    RUN_TEST(transfer_options_defaults_and_checks);
    RUN_TEST(transfer_arguments_are_checked);
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
