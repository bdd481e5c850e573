/*
 * The built-in MQTT connection through the public header: option checks,
 * state errors, and a real connection to a private mosquitto that this
 * test starts on a free loopback port (and stops).
 */
#include "support.h"

#if defined(RESMGR_MQTT)

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Events seen by the MQTT client: written by its connection thread, read
 * by the test thread. */
typedef struct seen {
    pthread_mutex_t lock;
    int connected, disconnected, download_tasks;
    char last_name[64];
} seen;

static void on_event(void *user, const resmgr_event *ev)
{
    seen *s = user;
    pthread_mutex_lock(&s->lock);
    if (ev->kind == RESMGR_EVENT_CONNECTED) s->connected++;
    if (ev->kind == RESMGR_EVENT_DISCONNECTED) s->disconnected++;
    if (ev->kind == RESMGR_EVENT_DOWNLOAD_TASK) {
        s->download_tasks++;
        snprintf(s->last_name, sizeof s->last_name, "%s", ev->name);
    }
    pthread_mutex_unlock(&s->lock);
}

static int read_seen(seen *s, int *field)
{
    int v;
    pthread_mutex_lock(&s->lock);
    v = *field;
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int port, fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int port_open(int port)
{
    struct sockaddr_in a;
    int ok, fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* Starts mosquitto on `port`; returns its pid or -1. */
static pid_t start_broker(int port, char *conf, size_t conf_len)
{
    const char *exe = access("/usr/sbin/mosquitto", X_OK) == 0 ? "/usr/sbin/mosquitto" : "/usr/bin/mosquitto";
    FILE *f;
    pid_t pid;
    int i;
    snprintf(conf, conf_len, "%s/resmgr-test-mqtt-%ld.conf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    f = fopen(conf, "w");
    if (f == NULL) return -1;
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\n", port);
    /* Run as root, mosquitto would switch users, which clears the
     * parent-death signal set below. */
    if (getuid() == 0) fputs("user root\n", f);
    fclose(f);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", 0);
        /* Dies with the test, even when a sanitizer aborts it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execl(exe, exe, "-c", conf, (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 500 && pid > 0; i++) {
        if (port_open(port)) return pid;
        sleep_ms(20);
    }
    return -1;
}

static void stop_broker(pid_t pid, const char *conf)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    unlink(conf);
}

static resmgr_mqtt_options options_for(int port)
{
    resmgr_mqtt_options o;
    resmgr_mqtt_options_init(&o);
    o.port = (uint16_t)port;
    o.reconnect_min_ms = 50;
    o.reconnect_max_ms = 200;
    o.connect_timeout_ms = 2000;
    return o;
}

static void options_have_documented_defaults(void)
{
    resmgr_mqtt_options o;
    CHECK_STATUS(resmgr_mqtt_options_init(&o), RESMGR_OK);
    CHECK_STR(o.host, "127.0.0.1");
    CHECK_EQ_INT(o.port, 0);
    CHECK(!o.tls);
    CHECK(o.device_secret == NULL);
    CHECK_EQ_INT(o.sign_method, RESMGR_SIGN_HMAC_SHA256);
    CHECK_EQ_INT(o.keep_alive_s, 60);
    CHECK_STATUS(resmgr_mqtt_options_init(NULL), RESMGR_ERR_NULL_ARG);
}

static void bad_options_are_refused_at_creation(void)
{
    resmgr_client *c = NULL;
    resmgr_mqtt_options o = options_for(1883);
    o.sign_method = 9;
    CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "dev1", &o, NULL, NULL, &c), RESMGR_ERR_INVALID_ARG);
    o = options_for(1883);
    o.device_secret = "not base64!";
    CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "dev1", &o, NULL, NULL, &c), RESMGR_ERR_INVALID_ARG);
    /* The secret is not echoed in the error. */
    CHECK(strstr(last_error(), "not base64!") == NULL);
    o = options_for(1883);
    o.tls = true;
    o.ca_file = "/nonexistent/ca.pem";
    CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "dev1", &o, NULL, NULL, &c), RESMGR_ERR_TLS);
    o = options_for(1883);
    o.host = "";
    CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "dev1", &o, NULL, NULL, &c), RESMGR_ERR_INVALID_ARG);
    o = options_for(1883);
    CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "a/b", &o, NULL, NULL, &c), RESMGR_ERR_INVALID_ID);
    CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "dev1", NULL, NULL, NULL, &c), RESMGR_ERR_NULL_ARG);
    o = options_for(1883);
    CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "dev1", &o, NULL, NULL, NULL), RESMGR_ERR_NULL_ARG);
    CHECK(c == NULL);
}

static void state_errors_are_reported(void)
{
    recorder *r = rec_new();
    resmgr_client *cb = make_client(r), *m = NULL;
    resmgr_mqtt_options o = options_for(1);
    CHECK_STATUS(resmgr_client_connect(cb), RESMGR_ERR_INVALID_STATE);
    CHECK_STATUS(resmgr_client_disconnect(cb, 0), RESMGR_ERR_INVALID_STATE);
    CHECK_STATUS(resmgr_client_connect(NULL), RESMGR_ERR_NULL_ARG);
    CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "dev1", &o, NULL, NULL, &m), RESMGR_OK);
    CHECK_STATUS(resmgr_client_disconnect(m, 0), RESMGR_ERR_INVALID_STATE);
    CHECK_STATUS(resmgr_client_wait_connected(m, 10), RESMGR_ERR_INVALID_STATE);
    /* Nothing listens on port 1: connecting starts, but never succeeds. */
    CHECK_STATUS(resmgr_client_connect(m), RESMGR_OK);
    CHECK_STATUS(resmgr_client_connect(m), RESMGR_ERR_INVALID_STATE);
    CHECK_STATUS(resmgr_client_wait_connected(m, 100), RESMGR_ERR_TIMEOUT);
    CHECK_STATUS(resmgr_client_disconnect(m, 0), RESMGR_OK);
    resmgr_client_free(m);
    resmgr_client_free(cb);
    rec_free(r);
}

static void a_real_broker_connects_and_delivers_down_messages(void)
{
    char conf[256];
    int port = free_port(), i;
    pid_t broker = start_broker(port, conf, sizeof conf);
    seen s;
    resmgr_client *c = NULL;
    resmgr_mqtt_options o = options_for(port);
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.lock, NULL);
    if (!CHECK(broker > 0)) return;
    CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "dev1", &o, on_event, &s, &c), RESMGR_OK);
    /* Before connect there is nowhere to publish; after it, messages wait
     * in the queue until the broker is reached. */
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_ERR_PUBLISH);
    CHECK_STATUS(resmgr_client_connect(c), RESMGR_OK);
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_STATUS(resmgr_client_wait_connected(c, 20000), RESMGR_OK);
    CHECK(read_seen(&s, &s.connected) >= 1);
    /* The platform's push, sent with mosquitto_pub until the subscription
     * (made right after the ConnAck) is in place. */
    for (i = 0; i < 100 && read_seen(&s, &s.download_tasks) == 0; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "mosquitto_pub -h 127.0.0.1 -p %d -q 1 -t '" DOWN_TOPIC "' -m "
                 "'{\"type\":\"download\",\"size\":3,\"name\":\"fw.bin\",\"md5sum\":\"" MD5_ABC
                 "\",\"url\":\"http://127.0.0.1:1/x\"}'",
                 port);
        if (system(cmd) != 0) break;
        sleep_ms(100);
    }
    CHECK(read_seen(&s, &s.download_tasks) == 1);
    CHECK_STR(s.last_name, "fw.bin");
    CHECK_STATUS(resmgr_client_report_download_progress(c, "fw.bin", RESMGR_STATE_FAIL, 0, -1, "test"), RESMGR_OK);
    CHECK_STATUS(resmgr_client_disconnect(c, 2000), RESMGR_OK);
    CHECK(read_seen(&s, &s.disconnected) >= 1);
    resmgr_client_free(c);
    stop_broker(broker, conf);
    pthread_mutex_destroy(&s.lock);
}

static void free_stops_a_running_connection(void)
{
    resmgr_client *c = NULL;
    resmgr_mqtt_options o = options_for(1);
    CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "dev1", &o, NULL, NULL, &c), RESMGR_OK);
    CHECK_STATUS(resmgr_client_connect(c), RESMGR_OK);
    /* Must join the connection thread, not leak it (valgrind checks). */
    resmgr_client_free(c);
    CHECK(1);
}

/* Starts mosquitto_pub publishing `payload` on the down topic over and
 * over, as fast as the broker takes it: a platform that keeps delivering.
 * Returns its pid or -1. */
static pid_t start_flood(int port, const char *payload)
{
    char port_s[16];
    pid_t pid;
    snprintf(port_s, sizeof port_s, "%d", port);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execlp("mosquitto_pub", "mosquitto_pub", "-h", "127.0.0.1", "-p", port_s, "-q", "0",
               "-t", DOWN_TOPIC, "-m", payload, "--repeat", "100000000", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop_child(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

/* What the callbacks of the free and disconnect tests saw. The callbacks
 * run on the connection's thread, the checks on the test's. */
typedef struct watched {
    pthread_mutex_t lock;
    resmgr_client *client;
    int events, connected, disconnected;
    int bad_topic;          /* resmgr_client_down_topic gave the wrong text */
    int after_free;         /* callbacks that ran after resmgr_client_free returned */
    int freed;
    int disconnect_calls;   /* resmgr_client_disconnect calls made by the callback */
    int disconnect_on_connect; /* how many CONNECTED events should disconnect */
    int disconnect_status;  /* the first status other than RESMGR_OK */
    int reconnect_status;   /* resmgr_client_connect right after that disconnect */
} watched;

static void watched_init(watched *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    w->disconnect_status = RESMGR_OK;
}

static int watched_read(watched *w, int *field)
{
    int v;
    pthread_mutex_lock(&w->lock);
    v = *field;
    pthread_mutex_unlock(&w->lock);
    return v;
}

/* Uses the client the way the header allows from a callback: reads its
 * down topic and, on CONNECTED when asked to, disconnects it. */
static void on_watched_event(void *user, const resmgr_event *ev)
{
    watched *w = user;
    const char *topic;
    int disconnect = 0;
    pthread_mutex_lock(&w->lock);
    w->events++;
    if (w->freed) w->after_free++;
    if (ev->kind == RESMGR_EVENT_CONNECTED) {
        w->connected++;
        if (w->disconnect_on_connect > 0) {
            w->disconnect_on_connect--;
            disconnect = 1;
        }
    }
    if (ev->kind == RESMGR_EVENT_DISCONNECTED) w->disconnected++;
    pthread_mutex_unlock(&w->lock);
    topic = resmgr_client_down_topic(w->client);
    if (topic == NULL || strcmp(topic, DOWN_TOPIC) != 0) {
        pthread_mutex_lock(&w->lock);
        w->bad_topic++;
        pthread_mutex_unlock(&w->lock);
    }
    if (disconnect) {
        resmgr_status st = resmgr_client_disconnect(w->client, 1000);
        /* Connections never overlap: not from the thread still stopping. */
        resmgr_status again = resmgr_client_connect(w->client);
        pthread_mutex_lock(&w->lock);
        w->disconnect_calls++;
        if (st != RESMGR_OK) w->disconnect_status = st;
        w->reconnect_status = again;
        pthread_mutex_unlock(&w->lock);
    }
}

/* Makes w's client for the broker on `port` and connects it; its callback
 * disconnects on the first `disconnect_on_connect` CONNECTED events. */
static int watched_connect(watched *w, int port, int disconnect_on_connect)
{
    resmgr_mqtt_options o = options_for(port);
    watched_init(w);
    w->disconnect_on_connect = disconnect_on_connect;
    if (!CHECK_STATUS(resmgr_client_new_mqtt("PROD1", "dev1", &o, on_watched_event, w, &w->client), RESMGR_OK))
        return 0;
    return CHECK_STATUS(resmgr_client_connect(w->client), RESMGR_OK);
}

/* Waits (20 s at most) until *field reaches n; returns its value. */
static int watched_wait(watched *w, int *field, int n)
{
    int i;
    for (i = 0; i < 2000 && watched_read(w, field) < n; i++) sleep_ms(10);
    return watched_read(w, field);
}

/* Frees w's client, then checks that no callback ran after the free and
 * that none saw a wrong down topic (freed memory). */
static void watched_free(watched *w, long linger_ms)
{
    int seen;
    resmgr_client_free(w->client);
    pthread_mutex_lock(&w->lock);
    w->freed = 1;
    seen = w->events;
    pthread_mutex_unlock(&w->lock);
    sleep_ms(linger_ms);
    CHECK_EQ_INT(watched_read(w, &w->after_free), 0);
    CHECK_EQ_INT(watched_read(w, &w->events), seen);
    CHECK_EQ_INT(watched_read(w, &w->bad_topic), 0);
    CHECK_STATUS(watched_read(w, &w->disconnect_status), RESMGR_OK);
    pthread_mutex_destroy(&w->lock);
}

/* Issue 10, defect 1: resmgr_client_free dropped the client's strings
 * before it joined the connection thread, which went on delivering
 * messages (for up to a second): a callback reading the down topic read
 * freed memory (ASan: heap-use-after-free). Free must stop the thread
 * first: while it runs no callback touches freed memory, after it returns
 * no callback runs. */
static void free_while_the_broker_keeps_delivering_touches_no_freed_memory(void)
{
    char conf[256];
    int port = free_port(), round;
    int rounds = getenv("RESMGR_TEST_SLOW") ? 2 : 5;
    pid_t broker = start_broker(port, conf, sizeof conf), flood;
    if (!CHECK(broker > 0)) return;
    /* Valid, but answers nothing: each one is an UNMATCHED_RESPONSE event. */
    flood = start_flood(port, "{\"type\":\"report_download_progress_rsp\",\"result_code\":0,\"result_msg\":\"ok\"}");
    for (round = 0; CHECK(flood > 0) && round < rounds; round++) {
        watched w;
        if (!watched_connect(&w, port, 0)) break;
        CHECK_STATUS(resmgr_client_wait_connected(w.client, 20000), RESMGR_OK);
        /* Free only once messages are flowing in. */
        CHECK(watched_wait(&w, &w.events, 200) >= 200);
        /* Longer than the connection thread ever lingered after a stop. */
        watched_free(&w, 1500);
    }
    stop_child(flood);
    stop_broker(broker, conf);
}

/* Issue 10, defect 8: resmgr_client_disconnect from an event callback
 * made the connection thread join itself ("Resource deadlock avoided":
 * RESMGR_ERR_PANIC, or an abort with panic=abort). From the connection's
 * own thread it stops the connection without waiting; the thread is
 * joined by the next connect, disconnect or free. */
static void disconnect_from_an_event_callback_stops_the_connection(void)
{
    char conf[256];
    int port = free_port();
    pid_t broker = start_broker(port, conf, sizeof conf);
    watched w;
    if (!CHECK(broker > 0)) return;
    if (watched_connect(&w, port, 2)) {
        /* The callback disconnects on CONNECTED; the DISCONNECTED event
         * follows from the stopping thread. */
        CHECK_EQ_INT(watched_wait(&w, &w.disconnected, 1), 1);
        CHECK_EQ_INT(watched_read(&w, &w.disconnect_calls), 1);
        CHECK_STATUS(watched_read(&w, &w.disconnect_status), RESMGR_OK);
        CHECK_STATUS(watched_read(&w, &w.reconnect_status), RESMGR_ERR_INVALID_STATE);
        /* Stopped for good: no reconnection. */
        sleep_ms(500);
        CHECK_EQ_INT(watched_read(&w, &w.connected), 1);
        CHECK_STATUS(resmgr_client_wait_connected(w.client, 10), RESMGR_ERR_INVALID_STATE);
        /* Connecting again joins the stopped thread and starts a new one,
         * which the callback disconnects again. */
        CHECK_STATUS(resmgr_client_connect(w.client), RESMGR_OK);
        CHECK_EQ_INT(watched_wait(&w, &w.disconnected, 2), 2);
        CHECK_EQ_INT(watched_read(&w, &w.disconnect_calls), 2);
        CHECK_EQ_INT(watched_read(&w, &w.connected), 2);
        /* A disconnect from this thread finishes the stop: joined, OK. */
        CHECK_STATUS(resmgr_client_disconnect(w.client, 1000), RESMGR_OK);
        CHECK_STATUS(resmgr_client_disconnect(w.client, 1000), RESMGR_ERR_INVALID_STATE);
        /* A third connection, which nothing disconnects: free joins it. */
        CHECK_STATUS(resmgr_client_connect(w.client), RESMGR_OK);
        CHECK_STATUS(resmgr_client_wait_connected(w.client, 20000), RESMGR_OK);
        CHECK_EQ_INT(watched_read(&w, &w.connected), 3);
        watched_free(&w, 200);
    }
    stop_broker(broker, conf);
}

/* Defect 8, the other order: the callback disconnects and the application
 * frees the client before anything else joins the stopped thread. */
static void free_after_a_disconnect_from_a_callback_joins_the_thread(void)
{
    char conf[256];
    int port = free_port();
    pid_t broker = start_broker(port, conf, sizeof conf);
    watched w;
    if (!CHECK(broker > 0)) return;
    if (watched_connect(&w, port, 1)) {
        CHECK_EQ_INT(watched_wait(&w, &w.disconnect_calls, 1), 1);
        watched_free(&w, 500);
    }
    stop_broker(broker, conf);
}

int main(void)
{
    RUN_TEST(options_have_documented_defaults);
    RUN_TEST(bad_options_are_refused_at_creation);
    RUN_TEST(state_errors_are_reported);
    RUN_TEST(a_real_broker_connects_and_delivers_down_messages);
    RUN_TEST(free_stops_a_running_connection);
    RUN_TEST(free_while_the_broker_keeps_delivering_touches_no_freed_memory);
    RUN_TEST(disconnect_from_an_event_callback_stops_the_connection);
    RUN_TEST(free_after_a_disconnect_from_a_callback_joins_the_thread);
    return check_summary();
}

#else

int main(void)
{
    /* The library was built without the MQTT connection: nothing to test. */
    puts("SKIPPED: the library was built without the \"mqtt\" feature");
    return 77;
}

#endif
