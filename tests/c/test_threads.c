/*
 * test_threads.c: one client shared by four threads.
 *
 * A feeder thread hands down messages to the client (valid pushes,
 * responses, acks, and garbage) while three application threads create
 * upload tasks, report progress and ask for downloads. The callbacks count
 * under a mutex. At the end the counts must agree: every publish the
 * threads were told about reached the publish callback, every message fed
 * caused exactly one event, every published payload is well-formed JSON of
 * a known type at the right QoS, every status was one of those expected,
 * callbacks ran on the thread that made the call, and each thread's last
 * error matched its own last status.
 *
 * RESMGR_TEST_SLOW=1 (set for valgrind runs) lowers the iteration count.
 */
#include "support.h"

#include <ctype.h>

enum { N_WORKERS = 3 };

/* ------------------------------------------------------------------ */
/* A small strict JSON validator (RFC 8259 syntax)                      */
/* ------------------------------------------------------------------ */

typedef struct json_cursor {
    const char *p;
    const char *end;
    int depth;
} json_cursor;

static int json_value(json_cursor *c);

static void json_ws(json_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static int json_lit(json_cursor *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) {
        return 0;
    }
    c->p += n;
    return 1;
}

static int json_string(json_cursor *c)
{
    if (c->p >= c->end || *c->p != '"') {
        return 0;
    }
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"') {
            return 1;
        }
        if (ch < 0x20) {
            return 0;
        }
        if (ch == '\\') {
            if (c->p >= c->end) {
                return 0;
            }
            ch = (unsigned char)*c->p++;
            if (ch == 'u') {
                int i;
                for (i = 0; i < 4; i++) {
                    if (c->p >= c->end || !isxdigit((unsigned char)*c->p)) {
                        return 0;
                    }
                    c->p++;
                }
            } else if (strchr("\"\\/bfnrt", ch) == NULL || ch == '\0') {
                return 0;
            }
        }
    }
    return 0;
}

static int json_digits(json_cursor *c)
{
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        c->p++;
    }
    return c->p > start;
}

static int json_number(json_cursor *c)
{
    if (c->p < c->end && *c->p == '-') {
        c->p++;
    }
    if (c->p < c->end && *c->p == '0') {
        c->p++;
    } else if (!json_digits(c)) {
        return 0;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!json_digits(c)) {
            return 0;
        }
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }
        if (!json_digits(c)) {
            return 0;
        }
    }
    return 1;
}

static int json_container(json_cursor *c, char open, char close)
{
    int first = 1;
    if (++c->depth > 64) {
        return 0;
    }
    c->p++; /* open */
    (void)open;
    json_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        c->depth--;
        return 1;
    }
    for (;;) {
        if (!first) {
            json_ws(c);
            if (c->p < c->end && *c->p == close) {
                c->p++;
                c->depth--;
                return 1;
            }
            if (c->p >= c->end || *c->p != ',') {
                return 0;
            }
            c->p++;
        }
        first = 0;
        json_ws(c);
        if (close == '}') {
            if (!json_string(c)) {
                return 0;
            }
            json_ws(c);
            if (c->p >= c->end || *c->p != ':') {
                return 0;
            }
            c->p++;
            json_ws(c);
        }
        if (!json_value(c)) {
            return 0;
        }
    }
}

static int json_value(json_cursor *c)
{
    if (c->p >= c->end) {
        return 0;
    }
    switch (*c->p) {
    case '{': return json_container(c, '{', '}');
    case '[': return json_container(c, '[', ']');
    case '"': return json_string(c);
    case 't': return json_lit(c, "true");
    case 'f': return json_lit(c, "false");
    case 'n': return json_lit(c, "null");
    default: return json_number(c);
    }
}

/* 1 when `len` bytes at `p` are exactly one JSON object. */
static int json_is_object(const char *p, size_t len)
{
    json_cursor c;
    c.p = p;
    c.end = p + len;
    c.depth = 0;
    json_ws(&c);
    if (c.p >= c.end || *c.p != '{' || !json_value(&c)) {
        return 0;
    }
    json_ws(&c);
    return c.p == c.end;
}

/* ------------------------------------------------------------------ */
/* Shared state and callbacks                                           */
/* ------------------------------------------------------------------ */

enum role { ROLE_NONE = 0, ROLE_FEEDER = 1, ROLE_WORKER = 2 };

static pthread_key_t role_key;
static int role_values[3] = {ROLE_NONE, ROLE_FEEDER, ROLE_WORKER};

static int current_role(void)
{
    const int *r = (const int *)pthread_getspecific(role_key);
    return r == NULL ? ROLE_NONE : *r;
}

typedef struct shared {
    pthread_mutex_t mu;
    /* publish callback */
    unsigned long pubs;
    unsigned long pubs_by_type[4]; /* create, get, report up, report down */
    unsigned long bad_payloads;
    unsigned long bad_qos;
    unsigned long bad_topic;
    unsigned long pubs_on_wrong_thread;
    char first_bad_payload[512];
    /* event callback */
    unsigned long events;
    unsigned long events_by_kind[16];
    unsigned long bad_events;
    unsigned long events_on_wrong_thread;
    int last_kind;
    resmgr_status last_status;
} shared;

static shared S;

static const char *const up_types[4] = {
    "{\"type\":\"create_upload_task\",",
    "{\"type\":\"get_download_task\"}",
    "{\"type\":\"report_upload_progress\",",
    "{\"type\":\"report_download_progress\",",
};

static int thread_publish_cb(void *user, const char *topic, const uint8_t *payload, size_t len,
                             int qos)
{
    const char *p = (const char *)payload;
    int type = -1, i, want_qos;
    (void)user;
    for (i = 0; i < 4; i++) {
        size_t n = strlen(up_types[i]);
        if (len >= n && memcmp(p, up_types[i], n) == 0) {
            type = i;
            break;
        }
    }
    want_qos = 1;
    if (type >= 2) {
        /* in-progress reports at QoS 0, final ones at 1 */
        const char *needle = type == 2 ? "\"state\":\"uploading\"" : "\"state\":\"downloading\"";
        size_t n = strlen(needle), k;
        for (k = 0; k + n <= len; k++) {
            if (memcmp(p + k, needle, n) == 0) {
                want_qos = 0;
                break;
            }
        }
    }
    pthread_mutex_lock(&S.mu);
    S.pubs++;
    if (current_role() != ROLE_WORKER) {
        S.pubs_on_wrong_thread++;
    }
    if (topic == NULL || strcmp(topic, UP_TOPIC) != 0) {
        S.bad_topic++;
    }
    if (type < 0 || !json_is_object(p, len)) {
        if (S.bad_payloads++ == 0) {
            escape_excerpt(S.first_bad_payload, sizeof S.first_bad_payload, p, len);
        }
    } else {
        S.pubs_by_type[type]++;
        if (qos != want_qos) {
            S.bad_qos++;
        }
    }
    pthread_mutex_unlock(&S.mu);
    return 0;
}

static int event_strings_ok(const resmgr_event *ev)
{
    return ev->name != NULL && ev->md5 != NULL && ev->content_md5 != NULL && ev->url != NULL &&
           ev->result_msg != NULL && ev->message_type != NULL && ev->detail != NULL;
}

static void thread_event_cb(void *user, const resmgr_event *ev)
{
    int ok = event_strings_ok(ev);
    (void)user;
    if (ok) {
        switch (ev->kind) {
        case RESMGR_EVENT_UPLOAD_URL:
        case RESMGR_EVENT_DOWNLOAD_TASK:
        case RESMGR_EVENT_URL_REFRESHED:
            ok = ev->name[0] != '\0' && strlen(ev->md5) == 32 && strlen(ev->content_md5) == 24 &&
                 strncmp(ev->url, "https://", 8) == 0;
            break;
        case RESMGR_EVENT_MESSAGE_REJECTED:
        case RESMGR_EVENT_UNKNOWN_MESSAGE:
            ok = ev->status < 0 && ev->detail[0] != '\0';
            break;
        case RESMGR_EVENT_UNMATCHED_RESPONSE:
            ok = ev->message_type[0] != '\0' && ev->detail[0] != '\0';
            break;
        case RESMGR_EVENT_TASK_DROPPED:
            /* A push at a full table: the oldest unstarted task gave way. */
            ok = ev->direction == RESMGR_DIRECTION_DOWNLOAD && ev->name[0] != '\0' &&
                 ev->detail[0] != '\0';
            break;
        default:
            ok = ev->kind >= RESMGR_EVENT_UPLOAD_URL && ev->kind <= RESMGR_EVENT_MESSAGE_REJECTED;
        }
    }
    pthread_mutex_lock(&S.mu);
    S.events++;
    if (ev->kind >= 0 && ev->kind < 16) {
        S.events_by_kind[ev->kind]++;
    }
    if (!ok) {
        S.bad_events++;
    }
    if (current_role() != ROLE_FEEDER) {
        S.events_on_wrong_thread++;
    }
    S.last_kind = ev->kind;
    S.last_status = ev->status;
    pthread_mutex_unlock(&S.mu);
}

/* ------------------------------------------------------------------ */
/* Threads                                                              */
/* ------------------------------------------------------------------ */

typedef struct tally {
    unsigned long calls;
    unsigned long unexpected_status;   /* a status outside the expected set */
    unsigned long last_error_mismatch; /* (status == OK) != (last error empty) */
    unsigned long publishes_reported;  /* calls that said they published */
    unsigned long errors;              /* calls that returned an error */
    unsigned long wrong_event_count;   /* feeder: a feed made != 1 event */
    unsigned long wrong_event_kind;    /* feeder: event kind/status does not fit */
    int first_unexpected;
    char first_detail[200];
} tally;

/* A start gate, so that the four threads really run at the same time. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;

static void wait_at_gate(void)
{
    pthread_mutex_lock(&gate_mu);
    while (!gate_open) {
        pthread_cond_wait(&gate_cv, &gate_mu);
    }
    pthread_mutex_unlock(&gate_mu);
}

static void open_gate(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

typedef struct worker {
    pthread_t thread;
    int id;
    int iterations;
    resmgr_client *client;
    tally t;
} worker;

/* Records one call's outcome; `allowed` is a 0-terminated list of error
 * statuses allowed besides RESMGR_OK. */
static void account(tally *t, resmgr_status s, const resmgr_status *allowed, const char *what)
{
    int ok = s == RESMGR_OK;
    size_t err_len = resmgr_last_error(NULL, 0);
    t->calls++;
    if (s != RESMGR_OK) {
        t->errors++;
        for (; *allowed != 0; allowed++) {
            if (*allowed == s) {
                ok = 1;
                break;
            }
        }
    }
    if (!ok && t->unexpected_status++ == 0) {
        t->first_unexpected = s;
        snprintf(t->first_detail, sizeof t->first_detail, "%s", what);
    }
    if ((s == RESMGR_OK) != (err_len == 0)) {
        t->last_error_mismatch++;
    }
}

/* As account(), for a call that publishes when it succeeds: counts the
 * publish too, if `published` (NULL: always) says one went out. It is read
 * here, after the call (an argument) has written it. */
static void account_publish(tally *t, resmgr_status s, const bool *published,
                            const resmgr_status *allowed, const char *what)
{
    account(t, s, allowed, what);
    if (s == RESMGR_OK && (published == NULL || *published)) {
        t->publishes_reported++;
    }
}

static const resmgr_status none_allowed[] = {0};
static const resmgr_status no_task_allowed[] = {RESMGR_ERR_NO_TASK, 0};

/* What every thread of the test does first: takes its role (ROLE_WORKER
 * or ROLE_FEEDER), then waits at the gate. */
static worker *start_worker(void *arg, enum role role)
{
    pthread_setspecific(role_key, &role_values[role]);
    wait_at_gate();
    return (worker *)arg;
}

static void *upload_worker(void *arg)
{
    worker *w = start_worker(arg, ROLE_WORKER);
    static const resmgr_status create_allowed[] = {RESMGR_ERR_TOO_MANY_TASKS, 0};
    char name[64];
    int i;
    for (i = 0; i < w->iterations; i++) {
        bool pub = false;
        snprintf(name, sizeof name, "up-%d-%d", w->id, i % 80);
        account_publish(&w->t, resmgr_client_create_upload_task(w->client, name, 1000, MD5_ABC),
                        NULL, create_allowed, "create_upload_task");
        account_publish(&w->t,
                        resmgr_client_track_upload_progress(w->client, name,
                                                            (uint64_t)(i % 11) * 100, &pub),
                        &pub, no_task_allowed, "upload_progress");
        if (i % 3 == 0) {
            account_publish(&w->t,
                            resmgr_client_report_upload_progress(
                                w->client, name, i % 2 ? RESMGR_STATE_DONE : RESMGR_STATE_FAIL,
                                0, i % 2 ? 0 : -1 - i % 4, NULL),
                            NULL, none_allowed, "report_upload_progress");
        }
    }
    return NULL;
}

static void *download_worker(void *arg)
{
    worker *w = start_worker(arg, ROLE_WORKER);
    char name[64];
    int i;
    for (i = 0; i < w->iterations; i++) {
        bool pub = false;
        snprintf(name, sizeof name, "push-%d", i % 100);
        if (i % 4 == 0) {
            account_publish(&w->t, resmgr_client_get_download_task(w->client), NULL, none_allowed,
                            "get_download_task");
        }
        account_publish(&w->t,
                        resmgr_client_track_download_progress(w->client, name,
                                                              (uint64_t)(i % 21) * 100, &pub),
                        &pub, no_task_allowed, "download_progress");
        if (i % 5 == 0) {
            account_publish(&w->t,
                            resmgr_client_report_download_progress(w->client, name,
                                                                   RESMGR_STATE_DONE, 0, 0, NULL),
                            NULL, none_allowed, "report_download_progress");
        }
    }
    return NULL;
}

/* Raw reports, bad arguments, throttle changes. */
static void *mixed_worker(void *arg)
{
    worker *w = start_worker(arg, ROLE_WORKER);
    static const resmgr_status bad_name[] = {RESMGR_ERR_INVALID_NAME, 0};
    static const resmgr_status bad_arg[] = {RESMGR_ERR_INVALID_ARG, 0};
    static const resmgr_status over_size[] = {RESMGR_ERR_INVALID_ARG, RESMGR_ERR_NO_TASK, 0};
    static const resmgr_status create_allowed[] = {RESMGR_ERR_TOO_MANY_TASKS, 0};
    char name[64];
    int i;
    for (i = 0; i < w->iterations; i++) {
        resmgr_status s;
        snprintf(name, sizeof name, "up-1-%d", i % 80); /* the upload worker's names */
        switch (i % 6) {
        case 0:
            s = resmgr_client_report_upload_progress(w->client, name, RESMGR_STATE_IN_PROGRESS,
                                                     i % 101, 0, NULL);
            account_publish(&w->t, s, NULL, none_allowed, "report_upload_progress in progress");
            break;
        case 1:
            s = resmgr_client_create_upload_task(w->client, "", 1, MD5_ABC);
            account(&w->t, s, bad_name, "create_upload_task with an empty name");
            break;
        case 2:
            s = resmgr_client_report_download_progress(w->client, "x", RESMGR_STATE_DONE, 0, -1,
                                                       NULL);
            account(&w->t, s, bad_arg, "contradictory report");
            break;
        case 3:
            s = resmgr_client_track_upload_progress(w->client, name, 1001, NULL);
            account(&w->t, s, over_size, "upload_progress beyond the size");
            break;
        case 4:
            s = resmgr_client_set_progress_throttle(w->client, (uint32_t)(i % 3),
                                                    (uint32_t)(1 + i % 5));
            account(&w->t, s, none_allowed, "set_progress_throttle");
            break;
        default:
            snprintf(name, sizeof name, "up-3-%d", i % 7);
            s = resmgr_client_create_upload_task(w->client, name, 3, MD5_ABC);
            account_publish(&w->t, s, NULL, create_allowed, "create_upload_task");
            break;
        }
    }
    return NULL;
}

/* The feed formats go through snprintf: no '%' in this URL. */
#define FEED_URL "https://bucket.cos.example.com/PROD1/dev1/object?sign=abc"

/* What a fed message may lead to. */
typedef struct feed_case {
    const char *topic; /* NULL = the down topic */
    const char *fmt;   /* payload; %d is replaced with the iteration's index */
    resmgr_status error; /* the only error status allowed (0 = none) */
    int kinds[4];        /* event kinds allowed on success (0-terminated) */
} feed_case;

static const feed_case feed_cases[] = {
    {NULL,
     "{\"type\":\"download\",\"size\":2000,\"name\":\"push-%d\",\"md5sum\":\"" MD5_ABC
     "\",\"url\":\"" FEED_URL "\"}",
     RESMGR_ERR_TOO_MANY_TASKS,
     {RESMGR_EVENT_DOWNLOAD_TASK, RESMGR_EVENT_URL_REFRESHED, 0}},
    {NULL,
     "{\"type\":\"create_upload_task_rsp\",\"size\":1000,\"name\":\"up-1-%d\",\"md5sum\":\"" MD5_ABC
     "\",\"url\":\"" FEED_URL "\"}",
     0,
     {RESMGR_EVENT_UPLOAD_URL, RESMGR_EVENT_URL_REFRESHED, RESMGR_EVENT_UNMATCHED_RESPONSE, 0}},
    {NULL, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0,\"n\":%d}", 0,
     {RESMGR_EVENT_PROGRESS_ACK, RESMGR_EVENT_UNMATCHED_RESPONSE, 0}},
    {NULL, "{\"type\":\"report_download_progress_rsp\",\"result_code\":0,\"n\":%d}", 0,
     {RESMGR_EVENT_PROGRESS_ACK, RESMGR_EVENT_UNMATCHED_RESPONSE, 0}},
    {NULL,
     "{\"type\":\"get_download_task_rsp\",\"size\":2000,\"name\":\"push-%d\",\"md5sum\":\"" MD5_ABC
     "\",\"url\":\"" FEED_URL "\"}",
     RESMGR_ERR_TOO_MANY_TASKS,
     {RESMGR_EVENT_DOWNLOAD_TASK, RESMGR_EVENT_URL_REFRESHED, RESMGR_EVENT_UNMATCHED_RESPONSE, 0}},
    {NULL, "{\"type\":\"get_download_task_rsp\",\"result_code\":1,\"n\":%d}", 0,
     {RESMGR_EVENT_NO_DOWNLOAD_TASK, RESMGR_EVENT_UNMATCHED_RESPONSE, 0}},
    {NULL, "hello %d", RESMGR_ERR_JSON, {0}},
    {NULL,
     "{\"type\":\"create_upload_task_rsp\",\"name\":\"up-1-%d\",\"result_code\":-5,"
     "\"result_msg\":\"quota\"}",
     0,
     {RESMGR_EVENT_TASK_REJECTED, RESMGR_EVENT_UNMATCHED_RESPONSE, 0}},
    {NULL, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":-%d}", 0,
     {RESMGR_EVENT_TASK_REJECTED, RESMGR_EVENT_PROGRESS_ACK, RESMGR_EVENT_UNMATCHED_RESPONSE,
      0}},
    {NULL, "{\"type\":\"firmware_%d\"}", RESMGR_ERR_UNKNOWN_MESSAGE, {0}},
    {"$resource/down/service/PROD1/dev2", "{\"type\":\"download\",\"n\":%d}",
     RESMGR_ERR_WRONG_TOPIC, {0}},
    {NULL,
     "{\"type\":\"download\",\"size\":-%d,\"name\":\"x\",\"md5sum\":\"" MD5_ABC
     "\",\"url\":\"" FEED_URL "\"}",
     RESMGR_ERR_INVALID_SIZE, {0}},
    {NULL,
     "{\"type\":\"upload_result\",\"report\":{\"name\":\"up-1-%d\",\"progress\":{"
     "\"result_code\":0,\"result_msg\":\"success\"}}}",
     0,
     {RESMGR_EVENT_UPLOAD_RESULT, 0}},
    {NULL, "{\"type\":\"report_download_progress_rsp\",\"result_code\":%d}", 0,
     {RESMGR_EVENT_TASK_REJECTED, RESMGR_EVENT_PROGRESS_ACK, RESMGR_EVENT_UNMATCHED_RESPONSE,
      0}},
    {NULL, "\xff{\"type\":\"download\",\"n\":%d}", RESMGR_ERR_UTF8, {0}},
};

static void *feeder(void *arg)
{
    worker *w = start_worker(arg, ROLE_FEEDER);
    size_t n_cases = sizeof feed_cases / sizeof feed_cases[0];
    char payload[1024];
    int i;
    for (i = 0; i < w->iterations; i++) {
        const feed_case *fc = &feed_cases[(size_t)i % n_cases];
        resmgr_status s, allowed[2];
        unsigned long before, after, drops_before, drops_after;
        int kind, k, kind_ok = 0;
        resmgr_status ev_status;
        snprintf(payload, sizeof payload, fc->fmt, (i / (int)n_cases) % 100);
        pthread_mutex_lock(&S.mu);
        before = S.events;
        drops_before = S.events_by_kind[RESMGR_EVENT_TASK_DROPPED];
        pthread_mutex_unlock(&S.mu);
        s = resmgr_client_handle_down_message(w->client, fc->topic ? fc->topic : DOWN_TOPIC,
                                              (const uint8_t *)payload, strlen(payload));
        allowed[0] = fc->error;
        allowed[1] = 0;
        account(&w->t, s, allowed, fc->fmt);
        pthread_mutex_lock(&S.mu);
        after = S.events;
        drops_after = S.events_by_kind[RESMGR_EVENT_TASK_DROPPED];
        kind = S.last_kind;
        ev_status = S.last_status;
        pthread_mutex_unlock(&S.mu);
        /* One event per message, plus at most one TASK_DROPPED before a
         * DOWNLOAD_TASK that took the dropped task's place. */
        if (after - before - (drops_after - drops_before) != 1 || drops_after - drops_before > 1) {
            w->t.wrong_event_count++;
        }
        if (s == RESMGR_OK) {
            for (k = 0; fc->kinds[k] != 0; k++) {
                if (fc->kinds[k] == kind) {
                    kind_ok = 1;
                }
            }
        } else {
            kind_ok = ev_status == s && (s == RESMGR_ERR_UNKNOWN_MESSAGE
                                             ? kind == RESMGR_EVENT_UNKNOWN_MESSAGE
                                             : kind == RESMGR_EVENT_MESSAGE_REJECTED);
        }
        if (!kind_ok) {
            w->t.wrong_event_kind++;
        }
    }
    return NULL;
}

static int iterations(void)
{
    const char *slow = getenv("RESMGR_TEST_SLOW");
    return slow != NULL && strcmp(slow, "1") == 0 ? 1000 : 5000;
}

static void report_tally(const char *who, const tally *t)
{
    if (t->unexpected_status > 0) {
        printf("    %s: first unexpected status %d (%s) from %s\n", who, t->first_unexpected,
               resmgr_status_str(t->first_unexpected), t->first_detail);
    }
}

static void four_threads_share_one_client(void)
{
    worker ws[N_WORKERS + 1];
    void *(*fns[N_WORKERS + 1])(void *) = {feeder, upload_worker, download_worker, mixed_worker};
    const char *names[N_WORKERS + 1] = {"feeder", "upload worker", "download worker",
                                        "mixed worker"};
    resmgr_client *c = NULL;
    unsigned long reported = 0, feeds;
    int n = iterations(), i;

    memset(&S, 0, sizeof S);
    pthread_mutex_init(&S.mu, NULL);
    CHECK_STATUS(resmgr_client_new(TEST_PRODUCT, TEST_DEVICE, thread_publish_cb, thread_event_cb,
                                   NULL, &c),
                 RESMGR_OK);
    if (c == NULL) {
        return;
    }
    memset(ws, 0, sizeof ws);
    for (i = 0; i <= N_WORKERS; i++) {
        ws[i].id = i;
        ws[i].iterations = n;
        ws[i].client = c;
        if (pthread_create(&ws[i].thread, NULL, fns[i], &ws[i]) != 0) {
            CHECK_FAIL("pthread_create failed");
            ws[i].iterations = -1;
        }
    }
    open_gate();
    for (i = 0; i <= N_WORKERS; i++) {
        if (ws[i].iterations >= 0) {
            pthread_join(ws[i].thread, NULL);
        }
    }
    if (getenv("RESMGR_TEST_VERBOSE") != NULL) {
        int k;
        printf("    %d iterations; %lu publishes (create %lu, get %lu, up report %lu, down "
               "report %lu); %lu events:",
               n, S.pubs, S.pubs_by_type[0], S.pubs_by_type[1], S.pubs_by_type[2],
               S.pubs_by_type[3], S.events);
        for (k = 1; k <= RESMGR_EVENT_MESSAGE_REJECTED; k++) {
            printf(" %s %lu", ev_kind_name(k), S.events_by_kind[k]);
        }
        printf("\n");
    }

    for (i = 0; i <= N_WORKERS; i++) {
        CHECK(ws[i].t.calls > 0);
        CHECK_EQ_INT(ws[i].t.unexpected_status, 0);
        report_tally(names[i], &ws[i].t);
        CHECK_EQ_INT(ws[i].t.last_error_mismatch, 0);
        reported += ws[i].t.publishes_reported;
    }
    feeds = ws[0].t.calls;
    CHECK_EQ_INT(feeds, (unsigned long)n);

    /* Every publish a call reported reached the callback, and no other. */
    CHECK_EQ_INT(S.pubs, reported);
    CHECK_EQ_INT(S.bad_payloads, 0);
    if (S.bad_payloads > 0) {
        printf("    first malformed payload: %s\n", S.first_bad_payload);
    }
    CHECK_EQ_INT(S.bad_qos, 0);
    CHECK_EQ_INT(S.bad_topic, 0);
    CHECK_EQ_INT(S.pubs_on_wrong_thread, 0);
    CHECK_EQ_INT(S.pubs_by_type[0] + S.pubs_by_type[1] + S.pubs_by_type[2] + S.pubs_by_type[3],
                 S.pubs);
    /* All four kinds of up message were exercised. */
    CHECK(S.pubs_by_type[0] > 0 && S.pubs_by_type[1] > 0 && S.pubs_by_type[2] > 0 &&
          S.pubs_by_type[3] > 0);

    /* One event per message fed (and one per task dropped for a new one),
     * on the feeding thread, of a fitting kind. */
    CHECK_EQ_INT(S.events, feeds + S.events_by_kind[RESMGR_EVENT_TASK_DROPPED]);
    CHECK_EQ_INT(ws[0].t.wrong_event_count, 0);
    CHECK_EQ_INT(ws[0].t.wrong_event_kind, 0);
    CHECK_EQ_INT(S.events_on_wrong_thread, 0);
    CHECK_EQ_INT(S.bad_events, 0);
    CHECK(S.events_by_kind[RESMGR_EVENT_MESSAGE_REJECTED] > 0);
    CHECK(S.events_by_kind[RESMGR_EVENT_UNKNOWN_MESSAGE] > 0);
    CHECK(S.events_by_kind[RESMGR_EVENT_DOWNLOAD_TASK] > 0);
    CHECK(S.events_by_kind[RESMGR_EVENT_UPLOAD_RESULT] > 0);
    /* Rejections are exactly the failed feeds. */
    CHECK_EQ_INT(S.events_by_kind[RESMGR_EVENT_MESSAGE_REJECTED] +
                     S.events_by_kind[RESMGR_EVENT_UNKNOWN_MESSAGE],
                 ws[0].t.errors);

    resmgr_client_free(c);
    pthread_mutex_destroy(&S.mu);
}

/* ------------------------------------------------------------------ */
/* The last error is per thread                                         */
/* ------------------------------------------------------------------ */

typedef struct last_error_probe {
    resmgr_client *client;
    size_t len_at_start;
    resmgr_status status;
    char message[256];
} last_error_probe;

/* Runs fn(arg) on a thread of its own and waits for it to end; 0 (and a
 * failed check) when no thread could be started. */
static int run_on_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) {
        CHECK_FAIL("pthread_create failed");
        return 0;
    }
    pthread_join(t, NULL);
    return 1;
}

static void *probe_last_error(void *arg)
{
    last_error_probe *p = (last_error_probe *)arg;
    p->len_at_start = resmgr_last_error(NULL, 0);
    p->status = resmgr_client_track_upload_progress(p->client, "nothing", 0, NULL);
    resmgr_last_error(p->message, sizeof p->message);
    return NULL;
}

static void last_error_is_per_thread(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    last_error_probe p;
    char mine[256], again[256];
    memset(&p, 0, sizeof p);
    p.client = c;
    CHECK_STATUS(resmgr_client_create_upload_task(c, "", 1, MD5_ABC), RESMGR_ERR_INVALID_NAME);
    resmgr_last_error(mine, sizeof mine);
    CHECK(mine[0] != '\0');
    if (run_on_thread(probe_last_error, &p)) {
        CHECK_EQ_INT(p.len_at_start, 0);
        CHECK_STATUS(p.status, RESMGR_ERR_NO_TASK);
        CHECK(p.message[0] != '\0');
        CHECK(strcmp(p.message, mine) != 0);
    }
    resmgr_last_error(again, sizeof again);
    CHECK_STR(again, mine);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* Callbacks run on the calling thread, also from other threads         */
/* ------------------------------------------------------------------ */

typedef struct thread_feed {
    resmgr_client *client;
    recorder *rec;
    pthread_t self;
    resmgr_status status;
} thread_feed;

static pthread_t event_thread;
static int event_thread_seen;

static void remember_event_thread(recorder *r, const resmgr_event *ev)
{
    (void)r;
    (void)ev;
    event_thread = pthread_self();
    event_thread_seen = 1;
}

static void *feed_from_thread(void *arg)
{
    thread_feed *f = (thread_feed *)arg;
    f->self = pthread_self();
    f->status = push_download(f->client, "AAAA", 1, MD5_ABC, TEST_URL);
    return NULL;
}

static void events_run_on_the_thread_that_fed_the_message(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    thread_feed f;
    memset(&f, 0, sizeof f);
    f.client = c;
    f.rec = r;
    r->event_hook = remember_event_thread;
    event_thread_seen = 0;
    if (run_on_thread(feed_from_thread, &f)) {
        CHECK_STATUS(f.status, RESMGR_OK);
        CHECK_EQ_INT(event_thread_seen, 1);
        CHECK(event_thread_seen && pthread_equal(event_thread, f.self));
        CHECK_N_EVENTS(r, 1);
        CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_DOWNLOAD_TASK,
                    .direction = RESMGR_DIRECTION_DOWNLOAD, .name = "AAAA", .size = 1,
                    .md5 = MD5_ABC, .content_md5 = MD5_ABC_B64, .url = TEST_URL,
                    .pushed = true);
    }
    resmgr_client_free(c);
    rec_free(r);
}

int main(void)
{
    if (pthread_key_create(&role_key, NULL) != 0) {
        CHECK_FAIL("pthread_key_create failed");
        return check_summary();
    }
    RUN_TEST(four_threads_share_one_client);
    RUN_TEST(last_error_is_per_thread);
    RUN_TEST(events_run_on_the_thread_that_fed_the_message);
    pthread_key_delete(role_key);
    return check_summary();
}
