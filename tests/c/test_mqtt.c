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
    fclose(f);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", 0);
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

int main(void)
{
    RUN_TEST(options_have_documented_defaults);
    RUN_TEST(bad_options_are_refused_at_creation);
    RUN_TEST(state_errors_are_reported);
    RUN_TEST(a_real_broker_connects_and_delivers_down_messages);
    RUN_TEST(free_stops_a_running_connection);
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
