/*
 * support.h: shared fixtures for the C tests (header-only).
 *
 * - a recorder: a publish callback that copies topic/payload/qos into a
 *   fixed array, and an event callback that deep-copies every resmgr_event
 *   (the library's strings live only during the callback);
 * - make_client(): a client for product "PROD1", device "dev1" wired to a
 *   recorder;
 * - feed(): hands a down message given as a C string to the client;
 * - CHECK_STATUS / CHECK_PUB / CHECK_EVENT and friends on top of check.h.
 *
 * Include it first: check.h selects POSIX.1-2008 for the -std=c99 builds.
 */
#ifndef RESMGR_TEST_SUPPORT_H
#define RESMGR_TEST_SUPPORT_H

#include "check.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#include "resmgr.h"

#define TEST_PRODUCT "PROD1"
#define TEST_DEVICE "dev1"
#define UP_TOPIC "$resource/up/service/PROD1/dev1"
#define DOWN_TOPIC "$resource/down/service/PROD1/dev1"

/* MD5 of "abc" and of "" in the forms the protocol uses. */
#define MD5_ABC "900150983cd24fb0d6963f7d28e17f72"
#define MD5_ABC_B64 "kAFQmDzST7DWlj99KOF/cg=="
#define MD5_EMPTY "d41d8cd98f00b204e9800998ecf8427e"
#define MD5_EMPTY_B64 "1B2M2Y8AsgTpgAmY7PhCfg=="
/* MD5 of "The quick brown fox jumps over the lazy dog". */
#define MD5_FOX "9e107d9d372bb6826bd81d3542a419d6"
#define MD5_FOX_B64 "nhB9nTcrtoJr2B01QqQZ1g=="

#define TEST_URL "https://iothub.cos.ap-guangzhou.myqcloud.com/100/PROD1/dev1/zxc?sign=q-sign-algorithm%3Dsha1"
#define TEST_URL2 "https://iothub.cos.ap-guangzhou.myqcloud.com/100/PROD1/dev1/zxc?sign=fresh"

#define REC_MAX_PUBS 256
#define REC_PAYLOAD_MAX 8192
#define REC_MAX_EVENTS 256

typedef struct rec_pub {
    char topic[256];
    char payload[REC_PAYLOAD_MAX + 1]; /* copy of the payload, NUL added */
    size_t len;                        /* the payload's real length */
    int qos;
    bool truncated;
} rec_pub;

typedef struct rec_event {
    resmgr_event_kind kind;
    resmgr_direction direction;
    char *name;
    uint64_t size;
    char *md5;
    char *content_md5;
    char *url;
    bool pushed;
    int32_t result_code;
    char *result_msg;
    resmgr_status status;
    char *message_type;
    char *detail;
    bool had_null_string; /* the library handed out a NULL string */
} rec_event;

typedef struct recorder recorder;

struct recorder {
    pthread_mutex_t mu;
    /* What the publish callback returns; 0 = success. */
    int publish_result;
    size_t n_pubs; /* total publish calls (may exceed REC_MAX_PUBS) */
    rec_pub pubs[REC_MAX_PUBS];
    size_t n_events; /* total events (may exceed REC_MAX_EVENTS) */
    rec_event events[REC_MAX_EVENTS];
    /* Optional hooks, called after recording, with no recorder lock held. */
    int (*publish_hook)(recorder *r, const char *topic, const uint8_t *payload, size_t len,
                        int qos);
    void (*event_hook)(recorder *r, const resmgr_event *ev);
    void *hook_data;
    resmgr_client *client; /* set by make_client, for the hooks */
};

/* malloc that aborts the test program when memory runs out. */
static inline void *xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL) {
        fputs("support.h: out of memory\n", stderr);
        abort();
    }
    return p;
}

static inline char *rec_strdup_(const char *s, bool *was_null)
{
    size_t n;
    char *p;
    if (s == NULL) {
        *was_null = true;
        s = "";
    }
    n = strlen(s);
    p = (char *)xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

static inline void rec_event_free_(rec_event *e)
{
    free(e->name);
    free(e->md5);
    free(e->content_md5);
    free(e->url);
    free(e->result_msg);
    free(e->message_type);
    free(e->detail);
    memset(e, 0, sizeof *e);
}

static inline recorder *rec_new(void)
{
    recorder *r = (recorder *)calloc(1, sizeof *r);
    if (r == NULL) {
        fputs("support.h: out of memory\n", stderr);
        abort();
    }
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

/* Forgets everything recorded so far (keeps hooks, client, publish_result). */
static inline void rec_clear(recorder *r)
{
    size_t i;
    pthread_mutex_lock(&r->mu);
    for (i = 0; i < r->n_events && i < REC_MAX_EVENTS; i++) {
        rec_event_free_(&r->events[i]);
    }
    r->n_events = 0;
    r->n_pubs = 0;
    pthread_mutex_unlock(&r->mu);
}

static inline void rec_free(recorder *r)
{
    if (r == NULL) {
        return;
    }
    rec_clear(r);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static inline int rec_publish_cb(void *user, const char *topic, const uint8_t *payload,
                                 size_t len, int qos)
{
    recorder *r = (recorder *)user;
    int result;
    pthread_mutex_lock(&r->mu);
    if (r->n_pubs < REC_MAX_PUBS) {
        rec_pub *p = &r->pubs[r->n_pubs];
        size_t n = len < REC_PAYLOAD_MAX ? len : REC_PAYLOAD_MAX;
        memset(p->topic, 0, sizeof p->topic);
        if (topic != NULL) {
            strncpy(p->topic, topic, sizeof p->topic - 1);
        } else {
            strcpy(p->topic, "(NULL)");
        }
        if (n > 0 && payload != NULL) {
            memcpy(p->payload, payload, n);
        }
        p->payload[n] = '\0';
        p->len = len;
        p->qos = qos;
        p->truncated = n != len;
    }
    r->n_pubs++;
    result = r->publish_result;
    pthread_mutex_unlock(&r->mu);
    if (r->publish_hook != NULL) {
        int hook = r->publish_hook(r, topic, payload, len, qos);
        if (hook != 0) {
            result = hook;
        }
    }
    return result;
}

static inline void rec_event_cb(void *user, const resmgr_event *ev)
{
    recorder *r = (recorder *)user;
    pthread_mutex_lock(&r->mu);
    if (r->n_events < REC_MAX_EVENTS) {
        rec_event *e = &r->events[r->n_events];
        bool was_null = false;
        e->kind = ev->kind;
        e->direction = ev->direction;
        e->size = ev->size;
        e->pushed = ev->pushed;
        e->result_code = ev->result_code;
        e->status = ev->status;
        /* The event's strings live only for the callback: copies. */
        e->name = rec_strdup_(ev->name, &was_null);
        e->md5 = rec_strdup_(ev->md5, &was_null);
        e->content_md5 = rec_strdup_(ev->content_md5, &was_null);
        e->url = rec_strdup_(ev->url, &was_null);
        e->result_msg = rec_strdup_(ev->result_msg, &was_null);
        e->message_type = rec_strdup_(ev->message_type, &was_null);
        e->detail = rec_strdup_(ev->detail, &was_null);
        e->had_null_string = was_null;
    }
    r->n_events++;
    pthread_mutex_unlock(&r->mu);
    if (r->event_hook != NULL) {
        r->event_hook(r, ev);
    }
}

/* The most recent publish / event, or NULL when there is none. */
static inline rec_pub *rec_last_pub(recorder *r)
{
    if (r->n_pubs == 0 || r->n_pubs > REC_MAX_PUBS) {
        return NULL;
    }
    return &r->pubs[r->n_pubs - 1];
}

static inline rec_event *rec_last_event(recorder *r)
{
    if (r->n_events == 0 || r->n_events > REC_MAX_EVENTS) {
        return NULL;
    }
    return &r->events[r->n_events - 1];
}

/* A client for PROD1/dev1 wired to `r` (events on unless `no_events`). */
static inline resmgr_client *make_client_ex(recorder *r, bool no_events)
{
    resmgr_client *c = NULL;
    resmgr_status s = resmgr_client_new(TEST_PRODUCT, TEST_DEVICE, rec_publish_cb,
                                        no_events ? NULL : rec_event_cb, r, &c);
    if (s != RESMGR_OK || c == NULL) {
        CHECK_FAIL("make_client: resmgr_client_new(\"PROD1\", \"dev1\") failed");
        return NULL;
    }
    r->client = c;
    return c;
}

static inline resmgr_client *make_client(recorder *r)
{
    return make_client_ex(r, false);
}

/* Feeds `len` bytes at `payload` on the device's down topic. */
static inline resmgr_status feed_len(const resmgr_client *c, const void *payload, size_t len)
{
    return resmgr_client_handle_down_message(c, DOWN_TOPIC, (const uint8_t *)payload, len);
}

/* Feeds a down message given as a C string (without its NUL). */
static inline resmgr_status feed(const resmgr_client *c, const char *json)
{
    return feed_len(c, json, strlen(json));
}

/* Writes a printable, escaped, possibly shortened copy of `len` bytes at
 * `p` into `out` (for failure messages). */
static inline const char *escape_excerpt(char *out, size_t cap, const void *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i, n = 0;
    if (cap == 0) {
        return out;
    }
    if (s == NULL) {
        snprintf(out, cap, "NULL");
        return out;
    }
    for (i = 0; i < len && n + 8 < cap; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
            out[n++] = (char)s[i];
        } else {
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", s[i]);
        }
    }
    if (i < len && n + 4 < cap) {
        n += (size_t)snprintf(out + n, cap - n, "...");
    }
    out[n < cap ? n : cap - 1] = '\0';
    return out;
}

/* This thread's last error, in a static buffer. */
static inline const char *last_error(void)
{
    static char buf[16384];
    buf[0] = '\0';
    resmgr_last_error(buf, sizeof buf);
    return buf;
}

static inline int check_status_(resmgr_status actual, resmgr_status expected, const char *file,
                                int line, const char *a, const char *e)
{
    if (actual == expected) {
        check_passed_++;
        return 1;
    }
    check_fail_head_(file, line);
    printf("CHECK_STATUS(%s, %s) failed: actual %d (%s), expected %d (%s); last error: ", a,
           e, (int)actual, resmgr_status_str(actual), (int)expected,
           resmgr_status_str(expected));
    check_print_quoted_(last_error(), SIZE_MAX, 300);
    fputc('\n', stdout);
    return 0;
}

#define CHECK_STATUS(actual, expected) \
    check_status_((actual), (expected), __FILE__, __LINE__, #actual, #expected)

/* The last error is non-empty (after a failed call). */
#define CHECK_ERROR_MESSAGE() \
    check_true_(resmgr_last_error(NULL, 0) > 0 && last_error()[0] != '\0', __FILE__, \
                __LINE__, "resmgr_last_error() is non-empty")

/* The last error is empty (after a successful call). */
#define CHECK_NO_ERROR_MESSAGE()                                                    \
    check_true_(resmgr_last_error(NULL, 0) == 0 && last_error()[0] == '\0', __FILE__, \
                __LINE__, "resmgr_last_error() is empty")

static inline int check_n_(size_t actual, size_t expected, const char *what, const char *file,
                           int line)
{
    if (actual == expected) {
        check_passed_++;
        return 1;
    }
    check_fail_head_(file, line);
    printf("%s: actual %zu, expected %zu\n", what, actual, expected);
    return 0;
}

/* Exactly `n` publishes / events were recorded. */
#define CHECK_N_PUBS(r, n) check_n_((r)->n_pubs, (n), "number of publishes", __FILE__, __LINE__)
#define CHECK_N_EVENTS(r, n) \
    check_n_((r)->n_events, (n), "number of events", __FILE__, __LINE__)

static inline int check_pub_(recorder *r, size_t idx, const char *json, int qos,
                             const char *file, int line)
{
    rec_pub *p;
    if (idx >= r->n_pubs || idx >= REC_MAX_PUBS) {
        check_fail_head_(file, line);
        printf("CHECK_PUB #%zu: only %zu publishes recorded; expected ", idx, r->n_pubs);
        check_print_quoted_(json, SIZE_MAX, 400);
        fputc('\n', stdout);
        return 0;
    }
    p = &r->pubs[idx];
    if (strcmp(p->topic, UP_TOPIC) == 0 && p->qos == qos && !p->truncated &&
        p->len == strlen(json) && memcmp(p->payload, json, p->len) == 0) {
        check_passed_++;
        return 1;
    }
    check_fail_head_(file, line);
    printf("CHECK_PUB #%zu failed: topic ", idx);
    check_print_quoted_(p->topic, SIZE_MAX, 200);
    printf(" qos %d payload ", p->qos);
    check_print_quoted_(p->payload, p->len < REC_PAYLOAD_MAX ? p->len : REC_PAYLOAD_MAX, 600);
    printf("; expected topic \"" UP_TOPIC "\" qos %d payload ", qos);
    check_print_quoted_(json, SIZE_MAX, 600);
    fputc('\n', stdout);
    return 0;
}

/* Publish number `idx` (0-based) went to the up topic with exactly this
 * payload and QoS. */
#define CHECK_PUB(r, idx, json, qos) check_pub_((r), (idx), (json), (qos), __FILE__, __LINE__)
/* The most recent publish went to the up topic with exactly this payload. */
#define CHECK_LAST_PUB(r, json, qos) \
    check_pub_((r), (r)->n_pubs == 0 ? 0 : (r)->n_pubs - 1, (json), (qos), __FILE__, __LINE__)

/*
 * What an event must look like, written as the event itself (so that the
 * two cannot drift apart). Every field not given must be 0 / "" /
 * false, as the header says ("the others are 0 or ""). `detail`: NULL
 * means it must be "", otherwise it must be non-empty and contain the given
 * text ("" = any non-empty text).
 */
typedef resmgr_event ev_spec;

static inline const char *ev_kind_name(int kind)
{
    switch (kind) {
    case RESMGR_EVENT_UPLOAD_URL: return "UPLOAD_URL";
    case RESMGR_EVENT_DOWNLOAD_TASK: return "DOWNLOAD_TASK";
    case RESMGR_EVENT_URL_REFRESHED: return "URL_REFRESHED";
    case RESMGR_EVENT_NO_DOWNLOAD_TASK: return "NO_DOWNLOAD_TASK";
    case RESMGR_EVENT_PROGRESS_ACK: return "PROGRESS_ACK";
    case RESMGR_EVENT_TASK_REJECTED: return "TASK_REJECTED";
    case RESMGR_EVENT_UPLOAD_RESULT: return "UPLOAD_RESULT";
    case RESMGR_EVENT_UNMATCHED_RESPONSE: return "UNMATCHED_RESPONSE";
    case RESMGR_EVENT_UNKNOWN_MESSAGE: return "UNKNOWN_MESSAGE";
    case RESMGR_EVENT_MESSAGE_REJECTED: return "MESSAGE_REJECTED";
    case RESMGR_EVENT_CONNECTED: return "CONNECTED";
    case RESMGR_EVENT_DISCONNECTED: return "DISCONNECTED";
    case RESMGR_EVENT_TASK_DROPPED: return "TASK_DROPPED";
    default: return "(invalid kind)";
    }
}

static inline void ev_mismatch_str_(int *n, const char *field, const char *actual,
                                    const char *expected)
{
    printf("%s%s ", (*n)++ ? "; " : "", field);
    check_print_quoted_(actual, SIZE_MAX, 300);
    fputs(" != expected ", stdout);
    check_print_quoted_(expected, SIZE_MAX, 300);
}

static inline int check_event_(recorder *r, size_t idx, ev_spec x, const char *file, int line)
{
    rec_event *e;
    int n = 0;
    bool ok;
#define EV_STR_OK_(f) (strcmp(e->f, x.f != NULL ? x.f : "") == 0)
    if (idx >= r->n_events || idx >= REC_MAX_EVENTS) {
        check_fail_head_(file, line);
        printf("CHECK_EVENT #%zu: only %zu events recorded; expected a %s event\n", idx,
               r->n_events, ev_kind_name(x.kind));
        return 0;
    }
    e = &r->events[idx];
    ok = e->kind == x.kind && e->direction == x.direction && EV_STR_OK_(name) &&
         e->size == x.size && EV_STR_OK_(md5) && EV_STR_OK_(content_md5) && EV_STR_OK_(url) &&
         e->pushed == x.pushed && e->result_code == x.result_code && EV_STR_OK_(result_msg) &&
         e->status == x.status && EV_STR_OK_(message_type) && !e->had_null_string &&
         (x.detail == NULL ? e->detail[0] == '\0'
                           : (e->detail[0] != '\0' && strstr(e->detail, x.detail) != NULL));
    if (ok) {
        check_passed_++;
        return 1;
    }
    check_fail_head_(file, line);
    printf("CHECK_EVENT #%zu (expected %s) failed: ", idx, ev_kind_name(x.kind));
    if (e->kind != x.kind) {
        printf("%skind %s != expected %s", n++ ? "; " : "", ev_kind_name(e->kind),
               ev_kind_name(x.kind));
    }
    if (e->direction != x.direction) {
        printf("%sdirection %d != expected %d", n++ ? "; " : "", (int)e->direction,
               (int)x.direction);
    }
    if (!EV_STR_OK_(name)) ev_mismatch_str_(&n, "name", e->name, x.name ? x.name : "");
    if (e->size != x.size) {
        printf("%ssize %" PRIu64 " != expected %" PRIu64, n++ ? "; " : "", e->size, x.size);
    }
    if (!EV_STR_OK_(md5)) ev_mismatch_str_(&n, "md5", e->md5, x.md5 ? x.md5 : "");
    if (!EV_STR_OK_(content_md5)) {
        ev_mismatch_str_(&n, "content_md5", e->content_md5, x.content_md5 ? x.content_md5 : "");
    }
    if (!EV_STR_OK_(url)) ev_mismatch_str_(&n, "url", e->url, x.url ? x.url : "");
    if (e->pushed != x.pushed) {
        printf("%spushed %d != expected %d", n++ ? "; " : "", (int)e->pushed, (int)x.pushed);
    }
    if (e->result_code != x.result_code) {
        printf("%sresult_code %d != expected %d", n++ ? "; " : "", (int)e->result_code,
               (int)x.result_code);
    }
    if (!EV_STR_OK_(result_msg)) {
        ev_mismatch_str_(&n, "result_msg", e->result_msg, x.result_msg ? x.result_msg : "");
    }
    if (e->status != x.status) {
        printf("%sstatus %d != expected %d", n++ ? "; " : "", (int)e->status, (int)x.status);
    }
    if (!EV_STR_OK_(message_type)) {
        ev_mismatch_str_(&n, "message_type", e->message_type,
                         x.message_type ? x.message_type : "");
    }
    if (x.detail == NULL && e->detail[0] != '\0') {
        ev_mismatch_str_(&n, "detail", e->detail, "");
    } else if (x.detail != NULL &&
               (e->detail[0] == '\0' || strstr(e->detail, x.detail) == NULL)) {
        printf("%sdetail ", n++ ? "; " : "");
        check_print_quoted_(e->detail, SIZE_MAX, 300);
        fputs(" is empty or lacks ", stdout);
        check_print_quoted_(x.detail, SIZE_MAX, 300);
    }
    if (e->had_null_string) {
        printf("%sa string field was NULL (must be \"\")", n++ ? "; " : "");
    }
    fputc('\n', stdout);
    return 0;
#undef EV_STR_OK_
}

/* Event number `idx` (0-based) is exactly the given one, e.g.
 *   CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_PROGRESS_ACK,
 *               .direction = RESMGR_DIRECTION_UPLOAD, .name = "zxc");   */
#define CHECK_EVENT(r, idx, ...) check_event_((r), (idx), (ev_spec){__VA_ARGS__}, __FILE__, __LINE__)
/* The most recent event is exactly the given one. */
#define CHECK_LAST_EVENT(r, ...)                                                            \
    check_event_((r), (r)->n_events == 0 ? 0 : (r)->n_events - 1, (ev_spec){__VA_ARGS__}, \
                 __FILE__, __LINE__)

/* Creates upload task `name` (size, md5) and checks it published exactly
 * the create_upload_task message. */
static inline int create_upload_ok_(recorder *r, const char *name, uint64_t size,
                                    const char *md5, const char *file, int line)
{
    size_t before = r->n_pubs;
    char expected[1024];
    resmgr_status s = resmgr_client_create_upload_task(r->client, name, size, md5);
    int ok = check_status_(s, RESMGR_OK, file, line, "resmgr_client_create_upload_task",
                           "RESMGR_OK");
    snprintf(expected, sizeof expected,
             "{\"type\":\"create_upload_task\",\"size\":%" PRIu64
             ",\"name\":\"%s\",\"md5sum\":\"%s\"}",
             size, name, md5);
    if (ok) {
        ok = check_n_(r->n_pubs, before + 1, "publishes after create_upload_task", file, line);
    }
    if (ok) {
        ok = check_pub_(r, before, expected, 1, file, line);
    }
    return ok;
}

/* Creates upload task `name` (plain ASCII name, lowercase md5). */
#define CREATE_UPLOAD_OK(r, name, size, md5) \
    create_upload_ok_((r), (name), (size), (md5), __FILE__, __LINE__)

/* Writes a down message into `buf` from a printf format. */
static inline const char *fmt_msg(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        fputs("support.h: fmt_msg buffer too small\n", stderr);
        abort();
    }
    return buf;
}

/* A down message of `type` carrying a whole task. */
static inline resmgr_status feed_task(const resmgr_client *c, const char *type, const char *name,
                                      uint64_t size, const char *md5, const char *url)
{
    char buf[8192];
    return feed(c, fmt_msg(buf, sizeof buf,
                           "{\"type\":\"%s\",\"size\":%" PRIu64
                           ",\"name\":\"%s\",\"md5sum\":\"%s\",\"url\":\"%s\"}",
                           type, size, name, md5, url));
}

/* A download task pushed by the platform (`download`). */
static inline resmgr_status push_download(const resmgr_client *c, const char *name,
                                          uint64_t size, const char *md5, const char *url)
{
    return feed_task(c, "download", name, size, md5, url);
}

/* The platform's answer to create_upload_task carrying a URL. */
static inline resmgr_status upload_url_rsp(const resmgr_client *c, const char *name,
                                           uint64_t size, const char *md5, const char *url)
{
    return feed_task(c, "create_upload_task_rsp", name, size, md5, url);
}

/* A string of `n` copies of `c` (malloc'd; free it). */
static inline char *repeat_char(char c, size_t n)
{
    char *s = (char *)xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

#endif /* RESMGR_TEST_SUPPORT_H */
