/*
 * stress.c: one client hammered from many threads, freed at the end.
 *
 * Eight threads share one resmgr_client for RESMGR_STRESS_ITERATIONS
 * rounds (default 400):
 *   - 3 feeders hand it down messages: pushed downloads (with a URL on a
 *     loopback HTTP server in this process), upload URLs, progress acks
 *     (accepting and rejecting), refusals, verdicts, "no task" answers and
 *     garbage; the event callback calls back into the library;
 *   - 1 creator makes upload tasks and asks for downloads;
 *   - 1 reporter reports progress (throttled and raw, including done and
 *     fail reports that end tasks);
 *   - 1 canceller cancels tasks in both directions at random;
 *   - 2 downloaders run real downloads (resmgr_client_run_download into a
 *     write callback) of the pushed tasks, which the canceller interrupts
 *     in the middle of a read.
 * When every thread has finished, the client is freed (the only call that
 * must not run concurrently with others).
 *
 * Checks: no call returns RESMGR_ERR_PANIC or RESMGR_ERR_NULL_ARG; every
 * event's strings are non-NULL and NUL-terminated; every publish goes to
 * the up topic with a JSON object; downloads write contiguous, correct
 * bytes. Run under helgrind, AddressSanitizer and ThreadSanitizer by
 * tests/stress/run.sh; exits non-zero on any failed check.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "resmgr.h"

enum { OBJECT_SIZE = 64 * 1024, N_DOWNLOADS = 3, N_UPLOADS = 4, N_DOWNLOADERS = 2 };

static unsigned char object[OBJECT_SIZE];
static char object_md5[RESMGR_MD5_HEX_SIZE];
static unsigned short port;
static int listen_fd = -1;
static int iterations = 400;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long failures, events, publishes, downloads_ok, downloads_cancelled, downloads_other;
static int downloaders_finished;
#ifdef STRESS_INJECT_RACE
static unsigned long racy_events;
#endif
static char up_topic[256];
static char down_topic[256];

static void fail(const char *what, long detail)
{
    pthread_mutex_lock(&mu);
    failures++;
    pthread_mutex_unlock(&mu);
    fprintf(stderr, "stress: FAILED: %s (%ld)\n", what, detail);
}

static resmgr_status check(resmgr_status s, const char *what)
{
    if (s == RESMGR_ERR_PANIC || s == RESMGR_ERR_NULL_ARG) {
        char why[512];
        resmgr_last_error(why, sizeof why);
        fprintf(stderr, "stress: %s returned %d: %s\n", what, (int)s, why);
        fail(what, (long)s);
    }
    return s;
}

/* A per-thread pseudo-random sequence (xorshift). */
static uint32_t next_rand(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static void sleep_us(long us)
{
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* A loopback HTTP server that serves the object slowly                 */
/* ------------------------------------------------------------------ */

static void *serve_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char head[4096];
    size_t got = 0;
    /* Read the request head. */
    while (got < sizeof head - 1) {
        ssize_t n = recv(fd, head + got, sizeof head - 1 - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        head[got] = 0;
        if (strstr(head, "\r\n\r\n") != NULL) {
            break;
        }
    }
    {
        char resp[128];
        int len = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
                           OBJECT_SIZE);
        size_t off = 0;
        if (send(fd, resp, (size_t)len, MSG_NOSIGNAL) == len) {
            /* 4 KiB at a time with a pause: a download takes a while, so
             * cancels land in the middle of a read. */
            while (off < OBJECT_SIZE) {
                size_t chunk = OBJECT_SIZE - off < 4096 ? OBJECT_SIZE - off : 4096;
                ssize_t n = send(fd, object + off, chunk, MSG_NOSIGNAL);
                if (n <= 0) {
                    break;
                }
                off += (size_t)n;
                sleep_us(500);
            }
        }
    }
    close(fd);
    return NULL;
}

static pthread_mutex_t conn_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t conn_threads[4096];
static size_t n_conn_threads;

static void *server(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        pthread_t t;
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            return NULL; /* shut down */
        }
        pthread_mutex_lock(&conn_mu);
        if (n_conn_threads < sizeof conn_threads / sizeof conn_threads[0] &&
            pthread_create(&t, NULL, serve_one, (void *)(intptr_t)fd) == 0) {
            conn_threads[n_conn_threads++] = t;
        } else {
            close(fd);
        }
        pthread_mutex_unlock(&conn_mu);
    }
}

static int start_server(pthread_t *t)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0) {
        return -1;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listen_fd, 64) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&addr, &len) != 0) {
        return -1;
    }
    port = ntohs(addr.sin_port);
    return pthread_create(t, NULL, server, NULL);
}

/* ------------------------------------------------------------------ */
/* Callbacks                                                            */
/* ------------------------------------------------------------------ */

typedef struct app {
    resmgr_client *client;
} app;

static int on_publish(void *user, const char *topic, const uint8_t *payload, size_t len, int qos)
{
    (void)user;
    if (topic == NULL || strcmp(topic, up_topic) != 0) {
        fail("publish on another topic", 0);
    }
    if (payload == NULL || len < 2 || payload[0] != '{' || payload[len - 1] != '}') {
        fail("published payload is not a JSON object", (long)len);
    }
    if (qos != 0 && qos != 1) {
        fail("publish qos", qos);
    }
    pthread_mutex_lock(&mu);
    publishes++;
    pthread_mutex_unlock(&mu);
    return 0;
}

static __thread int in_callback;

static void on_event(void *user, const resmgr_event *ev)
{
    app *a = user;
    const char *strings[8];
    size_t i;
    strings[0] = ev->name;
    strings[1] = ev->md5;
    strings[2] = ev->content_md5;
    strings[3] = ev->url;
    strings[4] = ev->result_msg;
    strings[5] = ev->message_type;
    strings[6] = ev->detail;
    strings[7] = "";
    for (i = 0; i < 8; i++) {
        if (strings[i] == NULL) {
            fail("NULL string in an event", (long)ev->kind);
        } else {
            (void)strlen(strings[i]);
        }
    }
    pthread_mutex_lock(&mu);
    events++;
    pthread_mutex_unlock(&mu);
#ifdef STRESS_INJECT_RACE
    /* A deliberate race, to show the checkers still see C-side races
     * inside callbacks: docs/RELIABILITY.md. */
    racy_events++;
#endif
    /* Callbacks may call back into the library (not free the client). */
    if (!in_callback && ev->kind == RESMGR_EVENT_DOWNLOAD_TASK) {
        in_callback = 1;
        check(resmgr_client_track_download_progress(a->client, ev->name, 0, NULL), "progress from a callback");
        in_callback = 0;
    }
}

static int32_t on_write(void *user, uint64_t offset, const uint8_t *buf, size_t len)
{
    uint64_t *next = user;
    if (offset != 0 && offset != *next) {
        fail("download write is not contiguous", (long)offset);
        return 1;
    }
    if (offset + len > OBJECT_SIZE || memcmp(object + offset, buf, len) != 0) {
        fail("download wrote wrong bytes", (long)offset);
        return 1;
    }
    *next = offset + len;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Threads                                                              */
/* ------------------------------------------------------------------ */

typedef struct worker {
    pthread_t thread;
    resmgr_client *client;
    uint32_t seed;
    int id;
} worker;

/* The other threads go on until the downloaders are done as well. */
static int keep_going(int i)
{
    int done;
    if (i < iterations) {
        return 1;
    }
    pthread_mutex_lock(&mu);
    done = downloaders_finished == N_DOWNLOADERS;
    pthread_mutex_unlock(&mu);
    return !done;
}

static void feed(resmgr_client *c, const char *json)
{
    check(resmgr_client_handle_down_message(c, down_topic, (const uint8_t *)json, strlen(json)),
          "handle_down_message");
}

static void *feeder(void *arg)
{
    worker *w = arg;
    char msg[1024];
    int i;
    for (i = 0; keep_going(i); i++) {
        uint32_t r = next_rand(&w->seed);
        int k = (int)(r >> 8);
        switch (r % 8) {
        case 0:
        case 1:
            snprintf(msg, sizeof msg,
                     "{\"type\":\"download\",\"size\":%d,\"name\":\"dl-%d\",\"md5sum\":\"%s\","
                     "\"url\":\"http://127.0.0.1:%u/obj?sig=%d\"}",
                     OBJECT_SIZE, k % N_DOWNLOADS, object_md5, (unsigned)port, i);
            break;
        case 2:
            snprintf(msg, sizeof msg,
                     "{\"type\":\"create_upload_task_rsp\",\"size\":%d,\"name\":\"up-%d\",\"md5sum\":\"%s\","
                     "\"url\":\"https://store.example/up-%d?sig=%d\"}",
                     OBJECT_SIZE, k % N_UPLOADS, object_md5, k % N_UPLOADS, i);
            break;
        case 3:
            snprintf(msg, sizeof msg, "{\"type\":\"report_%s_progress_rsp\",\"result_code\":%d,\"result_msg\":\"ok\"}",
                     k % 2 ? "upload" : "download", k % 5 == 0 ? -3 : 0);
            break;
        case 4:
            snprintf(msg, sizeof msg, "{\"type\":\"get_download_task_rsp\",\"result_code\":1,\"result_msg\":\"no task\"}");
            break;
        case 5:
            snprintf(msg, sizeof msg, "{\"type\":\"upload_result\",\"report\":{\"name\":\"up-%d\",\"progress\":{\"result_code\":0}}}",
                     k % N_UPLOADS);
            break;
        case 6:
            snprintf(msg, sizeof msg, "{\"type\":\"create_upload_task_rsp\",\"name\":\"up-%d\",\"result_code\":-5}",
                     k % N_UPLOADS);
            break;
        default:
            snprintf(msg, sizeof msg, "{\"type\":%d,\"x\":[[[{\"y\":\"\\u00e9\"}]]]", k);
            break;
        }
        feed(w->client, msg);
        sleep_us(100);
    }
    return NULL;
}

static void *creator(void *arg)
{
    worker *w = arg;
    int i;
    for (i = 0; keep_going(i); i++) {
        uint32_t r = next_rand(&w->seed);
        char name[32];
        snprintf(name, sizeof name, "up-%d", (int)(r % N_UPLOADS));
        if (r % 3 == 0) {
            check(resmgr_client_get_download_task(w->client), "get_download_task");
        } else {
            check(resmgr_client_create_upload_task(w->client, name, OBJECT_SIZE, object_md5),
                  "create_upload_task");
        }
        sleep_us(100);
    }
    return NULL;
}

static void *reporter(void *arg)
{
    worker *w = arg;
    int i;
    for (i = 0; keep_going(i); i++) {
        uint32_t r = next_rand(&w->seed);
        char name[32];
        int up = (r >> 4) % 2;
        bool published = false;
        snprintf(name, sizeof name, up ? "up-%d" : "dl-%d", (int)(r >> 8) % (up ? N_UPLOADS : N_DOWNLOADS));
        switch (r % 4) {
        case 0:
            check((up ? resmgr_client_track_upload_progress : resmgr_client_track_download_progress)(
                      w->client, name, (uint64_t)(r % OBJECT_SIZE), &published),
                  "progress");
            break;
        case 1:
            check((up ? resmgr_client_report_upload_progress : resmgr_client_report_download_progress)(
                      w->client, name, RESMGR_STATE_IN_PROGRESS, (int)(r % 101), 0, NULL),
                  "report in progress");
            break;
        case 2:
            if (r % 64 == 2) {
                check((up ? resmgr_client_report_upload_progress : resmgr_client_report_download_progress)(
                          w->client, name, RESMGR_STATE_FAIL, 0, -1, "stress"),
                      "report fail");
            }
            break;
        default:
            check(resmgr_client_set_progress_throttle(w->client, r % 50, 1 + r % 10), "throttle");
            break;
        }
        sleep_us(100);
    }
    return NULL;
}

static void *canceller(void *arg)
{
    worker *w = arg;
    int i;
    for (i = 0; keep_going(i); i++) {
        uint32_t r = next_rand(&w->seed);
        char name[32];
        int up = (r >> 4) % 4 == 0;
        snprintf(name, sizeof name, up ? "up-%d" : "dl-%d", (int)(r >> 8) % (up ? N_UPLOADS : N_DOWNLOADS));
        check(resmgr_client_cancel(w->client, up ? RESMGR_DIRECTION_UPLOAD : RESMGR_DIRECTION_DOWNLOAD, name),
              "cancel");
        sleep_us(500 + (long)(r % 1500));
    }
    return NULL;
}

static void *downloader(void *arg)
{
    worker *w = arg;
    int i;
    int rounds = iterations / 10 + 1;
    for (i = 0; i < rounds; i++) {
        char name[32];
        uint64_t next = 0;
        resmgr_status s;
        snprintf(name, sizeof name, "dl-%d", (int)(next_rand(&w->seed) % N_DOWNLOADS));
        s = check(resmgr_client_run_download(w->client, name, NULL, on_write, &next, NULL, NULL),
                  "run_download");
        pthread_mutex_lock(&mu);
        if (s == RESMGR_OK) {
            downloads_ok++;
        } else if (s == RESMGR_ERR_CANCELLED) {
            downloads_cancelled++;
        } else {
            downloads_other++;
        }
        pthread_mutex_unlock(&mu);
        if (s == RESMGR_OK && next != OBJECT_SIZE) {
            fail("download succeeded short", (long)next);
        }
        sleep_us(1000);
    }
    pthread_mutex_lock(&mu);
    downloaders_finished++;
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(void)
{
    const char *env = getenv("RESMGR_STRESS_ITERATIONS");
    resmgr_client *client = NULL;
    resmgr_transfer_options opts;
    resmgr_md5 *h;
    resmgr_digest d;
    pthread_t server_thread;
    app a;
    worker ws[8];
    void *(*fns[8])(void *) = {feeder, feeder, feeder, creator, reporter, canceller, downloader, downloader};
    size_t i;

    if (env != NULL && atoi(env) > 0) {
        iterations = atoi(env);
    }
    for (i = 0; i < OBJECT_SIZE; i++) {
        object[i] = (unsigned char)((i * 131 + 17) % 251);
    }
    h = resmgr_md5_new();
    if (h == NULL || resmgr_md5_update(h, object, OBJECT_SIZE) != RESMGR_OK || resmgr_md5_finish(h, &d) != RESMGR_OK) {
        fprintf(stderr, "stress: md5 failed\n");
        return 1;
    }
    resmgr_md5_free(h);
    memcpy(object_md5, d.hex, sizeof object_md5);

    if (start_server(&server_thread) != 0) {
        perror("stress: server");
        return 1;
    }
    if (resmgr_client_new("PRODUCTID", "stress", on_publish, on_event, &a, &client) != RESMGR_OK) {
        fprintf(stderr, "stress: resmgr_client_new failed\n");
        return 1;
    }
    a.client = client;
    snprintf(up_topic, sizeof up_topic, "%s", resmgr_client_up_topic(client));
    snprintf(down_topic, sizeof down_topic, "%s", resmgr_client_down_topic(client));
    resmgr_transfer_options_init(&opts);
    opts.connect_timeout_ms = 5000;
    opts.idle_timeout_ms = 10000;
    opts.max_retries = 1;
    opts.backoff_initial_ms = 10;
    opts.backoff_max_ms = 20;
    check(resmgr_client_set_transfer_options(client, &opts), "set_transfer_options");

    for (i = 0; i < 8; i++) {
        ws[i].client = client;
        ws[i].seed = 0x9e3779b9u * (uint32_t)(i + 1);
        ws[i].id = (int)i;
        if (pthread_create(&ws[i].thread, NULL, fns[i], &ws[i]) != 0) {
            fprintf(stderr, "stress: pthread_create failed\n");
            return 1;
        }
    }
    for (i = 0; i < 8; i++) {
        pthread_join(ws[i].thread, NULL);
    }
    /* Every thread is done: free the client, then stop the server. */
    resmgr_client_free(client);

    shutdown(listen_fd, SHUT_RDWR);
    close(listen_fd);
    pthread_join(server_thread, NULL);
    pthread_mutex_lock(&conn_mu);
    for (i = 0; i < n_conn_threads; i++) {
        pthread_join(conn_threads[i], NULL);
    }
    pthread_mutex_unlock(&conn_mu);

    printf("stress: %d+ iterations x 8 threads: %lu events, %lu publishes, %lu HTTP connections, "
           "downloads: %lu complete, %lu cancelled, %lu ended otherwise (no task or URL, "
           "rejected...); %lu failures\n",
           iterations, events, publishes, (unsigned long)n_conn_threads, downloads_ok, downloads_cancelled,
           downloads_other, failures);
    return failures == 0 ? 0 : 1;
}
