/*
 * Bring your own MQTT: a device that already runs libmosquitto hands resmgr
 * its messages and lets resmgr publish through it; resmgr's transfer engine
 * moves the bytes over HTTP(S).
 *
 *   resmgr-example-mosquitto --host HOST --port PORT --product ID --device NAME FILE DIR
 *
 * - resmgr_client_new gets `publish_up`, which calls mosquitto_publish;
 * - mosquitto's message callback (on libmosquitto's own thread, started by
 *   mosquitto_loop_start) feeds resmgr_client_handle_down_message;
 * - resmgr's events arrive on that thread too and only record what
 *   happened; the main thread waits for them and runs the transfers
 *   (resmgr_client_upload_file, resmgr_client_run_download), which block.
 *
 * Story: upload FILE; then ask for a download task (the platform's answer,
 * or a push within 30 s) and download it into DIR, verified. Exit status 0
 * only when both worked.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "resmgr.h"

#define WAIT_SUBSCRIBED_S 10
#define WAIT_URL_MS 30000u
#define WAIT_TASK_S 30
#define WAIT_RESULT_S 10
#define WAIT_ACKS_S 10

struct device {
    struct mosquitto *mosq;
    resmgr_client *client;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int subscribe_mid;
    bool subscribed;
    int connect_rc;    /* -1 until the broker answered */
    int pending[256];  /* mids of QoS 1 messages not yet acknowledged */
    int unacked;
    bool have_result;  /* the platform's upload_result */
    int result_code;
    char download[RESMGR_MAX_NAME_LEN + 1]; /* the first download task */
    bool no_task;
    bool refreshed;    /* a fresh URL arrived (RESMGR_EVENT_URL_REFRESHED) */
};

/* ---- MQTT -> resmgr (libmosquitto's thread) ------------------------------ */

static void on_connect(struct mosquitto *mosq, void *user, int rc) {
    struct device *dev = user;
    pthread_mutex_lock(&dev->mu);
    dev->connect_rc = rc;
    pthread_cond_broadcast(&dev->cv);
    pthread_mutex_unlock(&dev->mu);
    if (rc == 0) mosquitto_subscribe(mosq, &dev->subscribe_mid, resmgr_client_down_topic(dev->client), 1);
}

static void on_subscribe(struct mosquitto *mosq, void *user, int mid, int count, const int *granted) {
    struct device *dev = user;
    (void)mosq;
    pthread_mutex_lock(&dev->mu);
    if (mid == dev->subscribe_mid && count == 1 && granted[0] <= 2) dev->subscribed = true;
    pthread_cond_broadcast(&dev->cv);
    pthread_mutex_unlock(&dev->mu);
}

/* The whole integration on the receiving side: one call. */
static void on_message(struct mosquitto *mosq, void *user, const struct mosquitto_message *msg) {
    struct device *dev = user;
    (void)mosq;
    resmgr_client_handle_down_message(dev->client, msg->topic, msg->payload, (size_t)msg->payloadlen);
}

/* Called when a QoS 0 message was sent or a QoS 1 message acknowledged. */
static void on_publish(struct mosquitto *mosq, void *user, int mid) {
    struct device *dev = user;
    int i;
    (void)mosq;
    pthread_mutex_lock(&dev->mu);
    for (i = 0; i < dev->unacked; i++) {
        if (dev->pending[i] == mid) {
            dev->pending[i] = dev->pending[--dev->unacked];
            break;
        }
    }
    pthread_cond_broadcast(&dev->cv);
    pthread_mutex_unlock(&dev->mu);
}

/* ---- resmgr -> MQTT ------------------------------------------------------- */

/* resmgr's publish callback. libmosquitto's publish is thread-safe with the
 * threaded loop, so this may run on any thread. QoS 1 message ids are
 * remembered (under the lock, so that an early acknowledgement waits for
 * the id to be recorded) to know when every final report has reached the
 * broker. */
static int publish_up(void *user, const char *topic, const uint8_t *payload, size_t len, int qos) {
    struct device *dev = user;
    int rc, mid = 0;
    pthread_mutex_lock(&dev->mu);
    rc = mosquitto_publish(dev->mosq, &mid, topic, (int)len, payload, qos, false);
    if (rc == MOSQ_ERR_SUCCESS && qos > 0 && dev->unacked < (int)(sizeof dev->pending / sizeof dev->pending[0]))
        dev->pending[dev->unacked++] = mid;
    pthread_mutex_unlock(&dev->mu);
    return rc;
}

/* resmgr's events: record, wake the main thread, never block here. */
static void on_event(void *user, const resmgr_event *ev) {
    struct device *dev = user;
    pthread_mutex_lock(&dev->mu);
    switch (ev->kind) {
    case RESMGR_EVENT_UPLOAD_RESULT:
        dev->have_result = true;
        dev->result_code = ev->result_code;
        printf("platform verdict on the upload: %d %s\n", ev->result_code, ev->result_msg);
        break;
    case RESMGR_EVENT_DOWNLOAD_TASK:
        printf("%s download task '%s' (%llu bytes, md5 %s)\n", ev->pushed ? "pushed" : "answered", ev->name,
               (unsigned long long)ev->size, ev->md5);
        if (dev->download[0] == '\0') snprintf(dev->download, sizeof dev->download, "%s", ev->name);
        break;
    case RESMGR_EVENT_URL_REFRESHED:
        if (strcmp(ev->name, dev->download) == 0) dev->refreshed = true;
        break;
    case RESMGR_EVENT_NO_DOWNLOAD_TASK:
        printf("no download task pending yet (%d %s); waiting for a push\n", ev->result_code, ev->result_msg);
        dev->no_task = true;
        break;
    case RESMGR_EVENT_TASK_REJECTED:
        printf("the platform rejected task '%s': %d %s\n", ev->name, ev->result_code, ev->result_msg);
        break;
    default:
        break;
    }
    fflush(stdout);
    pthread_cond_broadcast(&dev->cv);
    pthread_mutex_unlock(&dev->mu);
}

static void on_progress(void *user, const char *name, uint64_t done, uint64_t total) {
    static int last = -1;
    int percent = total == 0 ? 100 : (int)((double)done * 100.0 / (double)total);
    (void)user;
    if (percent / 25 != last / 25 || done == total) {
        if (percent != last) printf("  %s: %d%%\n", name, percent);
        last = percent;
    }
}

/* ---- main ----------------------------------------------------------------- */

/* Waits on dev->cv (mu held) until `*flag` or `seconds` pass. */
static bool wait_for(struct device *dev, const bool *flag, int seconds) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    while (!*flag) {
        if (pthread_cond_timedwait(&dev->cv, &dev->mu, &until) != 0) break;
    }
    return *flag;
}

static int fail(const char *what) {
    char why[512];
    resmgr_last_error(why, sizeof why);
    fprintf(stderr, "mosquitto example: %s failed: %s\n", what, why[0] != '\0' ? why : "see above");
    return 1;
}

static int usage(void) {
    fprintf(stderr, "usage: resmgr-example-mosquitto --host HOST --port PORT --product ID --device NAME FILE DIR\n");
    return 2;
}

static int run(struct device *dev, const char *file, const char *dir) {
    resmgr_status st;
    char name[RESMGR_MAX_NAME_LEN + 1];
    bool ok;
    int attempt;

    /* 1. Upload: hash, create the task, wait for the URL (delivered by
     *    on_message on mosquitto's thread), PUT, report. */
    printf("uploading %s\n", file);
    st = resmgr_client_upload_file(dev->client, file, NULL, WAIT_URL_MS, on_progress, NULL);
    if (st != RESMGR_OK) return fail("upload");
    printf("upload stored\n");
    pthread_mutex_lock(&dev->mu);
    wait_for(dev, &dev->have_result, WAIT_RESULT_S);
    pthread_mutex_unlock(&dev->mu);

    /* 2. Download: ask; the answer or a push names the task. */
    if (resmgr_client_get_download_task(dev->client) != RESMGR_OK) return fail("get_download_task");
    pthread_mutex_lock(&dev->mu);
    {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += WAIT_TASK_S;
        while (dev->download[0] == '\0' && pthread_cond_timedwait(&dev->cv, &dev->mu, &until) == 0) {
        }
    }
    snprintf(name, sizeof name, "%s", dev->download);
    pthread_mutex_unlock(&dev->mu);
    if (name[0] == '\0') {
        fprintf(stderr, "mosquitto example: no download task within %d s\n", WAIT_TASK_S);
        return 1;
    }
    for (attempt = 0;; attempt++) {
        st = resmgr_client_run_download(dev->client, name, dir, NULL, NULL, on_progress, NULL);
        if (st != RESMGR_ERR_URL_EXPIRED || attempt == 3) break;
        /* The URL expired mid-way: ask again; the fresh URL arrives as
         * RESMGR_EVENT_URL_REFRESHED, and the next run resumes. */
        pthread_mutex_lock(&dev->mu);
        dev->refreshed = false;
        pthread_mutex_unlock(&dev->mu);
        if (resmgr_client_get_download_task(dev->client) != RESMGR_OK) return fail("get_download_task");
        pthread_mutex_lock(&dev->mu);
        ok = wait_for(dev, &dev->refreshed, WAIT_TASK_S);
        pthread_mutex_unlock(&dev->mu);
        if (!ok) break;
    }
    if (st != RESMGR_OK) return fail("download");
    printf("downloaded %s/%s, MD5 verified\n", dir, name);
    return 0;
}

int main(int argc, char **argv) {
    static struct device dev;
    const char *host = NULL, *product = NULL, *device = NULL, *file = NULL, *dir = NULL;
    char client_id[128];
    int port = 1883, i, rc;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--product") == 0 && i + 1 < argc) {
            product = argv[++i];
        } else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            device = argv[++i];
        } else if (argv[i][0] == '-') {
            return usage();
        } else if (file == NULL) {
            file = argv[i];
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            return usage();
        }
    }
    if (host == NULL || product == NULL || device == NULL || file == NULL || dir == NULL || port <= 0 || port > 65535)
        return usage();

    pthread_mutex_init(&dev.mu, NULL);
    pthread_cond_init(&dev.cv, NULL);
    dev.connect_rc = -1;
    mosquitto_lib_init();
    snprintf(client_id, sizeof client_id, "%s%s", product, device);
    dev.mosq = mosquitto_new(client_id, true, &dev);
    if (dev.mosq == NULL) {
        fprintf(stderr, "mosquitto example: mosquitto_new failed\n");
        return 1;
    }
    if (resmgr_client_new(product, device, publish_up, on_event, &dev, &dev.client) != RESMGR_OK) {
        rc = fail("resmgr_client_new");
        mosquitto_destroy(dev.mosq);
        mosquitto_lib_cleanup();
        return rc;
    }
    mosquitto_connect_callback_set(dev.mosq, on_connect);
    mosquitto_subscribe_callback_set(dev.mosq, on_subscribe);
    mosquitto_message_callback_set(dev.mosq, on_message);
    mosquitto_publish_callback_set(dev.mosq, on_publish);

    rc = mosquitto_connect(dev.mosq, host, port, 60);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_loop_start(dev.mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mosquitto example: cannot connect to %s:%d: %s\n", host, port, mosquitto_strerror(rc));
        rc = 1;
    } else {
        bool subscribed;
        pthread_mutex_lock(&dev.mu);
        subscribed = wait_for(&dev, &dev.subscribed, WAIT_SUBSCRIBED_S);
        pthread_mutex_unlock(&dev.mu);
        if (!subscribed) {
            fprintf(stderr, "mosquitto example: not subscribed to %s within %d s (connect: %s)\n",
                    resmgr_client_down_topic(dev.client), WAIT_SUBSCRIBED_S,
                    dev.connect_rc < 0 ? "no answer" : mosquitto_connack_string(dev.connect_rc));
            rc = 1;
        } else {
            printf("connected to %s:%d, subscribed to %s\n", host, port, resmgr_client_down_topic(dev.client));
            rc = run(&dev, file, dir);
        }
        /* Final reports are QoS 1: let the broker acknowledge them before
         * hanging up. */
        {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += WAIT_ACKS_S;
            pthread_mutex_lock(&dev.mu);
            while (dev.unacked > 0 && pthread_cond_timedwait(&dev.cv, &dev.mu, &until) == 0) {
            }
            pthread_mutex_unlock(&dev.mu);
        }
        mosquitto_disconnect(dev.mosq);
        mosquitto_loop_stop(dev.mosq, false);
    }
    mosquitto_destroy(dev.mosq);
    mosquitto_lib_cleanup();
    resmgr_client_free(dev.client);
    pthread_cond_destroy(&dev.cv);
    pthread_mutex_destroy(&dev.mu);
    return rc;
}
