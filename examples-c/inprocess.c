/*
 * Bring-your-own-MQTT, with no network: the integration a firmware team
 * writes, run against a tiny platform that lives in this process.
 *
 * - resmgr publishes through `publish_up`, which here hands the message to
 *   the fake platform instead of an MQTT client;
 * - the platform's answers are queued like messages arriving from a broker,
 *   and the main loop feeds them to resmgr_client_handle_down_message, as an
 *   MQTT message callback would;
 * - "HTTP" is a memcpy into the platform's object store.
 *
 * Story: upload a generated 1 MiB resource, then receive it back as a pushed
 * download, verify its MD5, and report both transfers to the platform.
 * Exit status 0 only when every step checked out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resmgr.h"

#define RESOURCE_SIZE (1024u * 1024u)
#define CHUNK 16384u
#define QUEUE_LEN 64
#define MSG_MAX 2048

/* ---- the fake platform -------------------------------------------------- */

static char queue[QUEUE_LEN][MSG_MAX]; /* down messages waiting for delivery */
static size_t queue_head, queue_tail;
static unsigned char store[RESOURCE_SIZE]; /* the object store: one object */
static size_t stored_len;
static int reports_seen;

static void platform_send(const char *json) {
    if (queue_tail - queue_head == QUEUE_LEN || strlen(json) >= MSG_MAX) {
        fprintf(stderr, "platform: queue full, message dropped\n");
        return;
    }
    strcpy(queue[queue_tail++ % QUEUE_LEN], json);
}

/* Copies the string value of "key" out of a flat JSON object (good enough
 * for this fake platform; resmgr itself parses with a real JSON parser). */
static int json_string(const char *json, const char *key, char *out, size_t len) {
    char pattern[64];
    const char *start, *end;
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    start = strstr(json, pattern);
    if (start == NULL) return 0;
    start += strlen(pattern);
    end = strchr(start, '"');
    if (end == NULL || (size_t)(end - start) >= len) return 0;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 1;
}

static void platform_receive(const char *json) {
    char name[128], md5[40], reply[MSG_MAX];
    if (strstr(json, "\"type\":\"create_upload_task\"") != NULL) {
        unsigned long long size = 0;
        const char *s = strstr(json, "\"size\":");
        if (s != NULL) size = strtoull(s + 7, NULL, 10);
        if (!json_string(json, "name", name, sizeof name) || !json_string(json, "md5sum", md5, sizeof md5)) return;
        snprintf(reply, sizeof reply,
                 "{\"type\":\"create_upload_task_rsp\",\"size\":%llu,\"name\":\"%s\",\"md5sum\":\"%s\","
                 "\"url\":\"https://store.local/bucket/%s?sign=demo\"}",
                 size, name, md5, name);
        platform_send(reply);
    } else if (strstr(json, "\"type\":\"report_upload_progress\"") != NULL ||
               strstr(json, "\"type\":\"report_download_progress\"") != NULL) {
        int upload = strstr(json, "report_upload_progress") != NULL;
        reports_seen++;
        snprintf(reply, sizeof reply, "{\"type\":\"report_%s_progress_rsp\",\"result_code\":0,\"result_msg\":\"ok\"}",
                 upload ? "upload" : "download");
        platform_send(reply);
        if (upload && strstr(json, "\"state\":\"done\"") != NULL) {
            platform_send("{\"type\":\"upload_result\",\"report\":{\"progress\":"
                          "{\"state\":\"done\",\"result_code\":0,\"result_msg\":\"success\"}}}");
        }
    }
}

/* ---- the device --------------------------------------------------------- */

struct device {
    resmgr_client *client;
    unsigned char data[RESOURCE_SIZE]; /* the resource, as it sits in flash */
    unsigned char received[RESOURCE_SIZE];
    char upload_url[RESMGR_MAX_URL_LEN + 1];
    char content_md5[RESMGR_MD5_BASE64_SIZE];
    char download_name[RESMGR_MAX_NAME_LEN + 1];
    char download_md5[RESMGR_MD5_HEX_SIZE];
    int upload_accepted, download_ready, acks, failures;
};

/* resmgr's publish callback: this is where a real device calls its MQTT
 * client (mosquitto_publish, MQTTClient_publishMessage...). */
static int publish_up(void *user, const char *topic, const uint8_t *payload, size_t len, int qos) {
    char json[MSG_MAX];
    (void)user;
    if (len >= sizeof json) return -1;
    memcpy(json, payload, len);
    json[len] = '\0';
    printf("  up   qos%d %s %s\n", qos, topic, json);
    platform_receive(json);
    return 0;
}

static void on_event(void *user, const resmgr_event *ev) {
    struct device *dev = user;
    switch (ev->kind) {
    case RESMGR_EVENT_UPLOAD_URL:
        printf("  event: upload URL for '%s' (%llu bytes), Content-MD5 %s\n", ev->name,
               (unsigned long long)ev->size, ev->content_md5);
        snprintf(dev->upload_url, sizeof dev->upload_url, "%s", ev->url);
        snprintf(dev->content_md5, sizeof dev->content_md5, "%s", ev->content_md5);
        break;
    case RESMGR_EVENT_DOWNLOAD_TASK:
        printf("  event: %s download task '%s' (%llu bytes, md5 %s)\n", ev->pushed ? "pushed" : "answered", ev->name,
               (unsigned long long)ev->size, ev->md5);
        snprintf(dev->download_name, sizeof dev->download_name, "%s", ev->name);
        snprintf(dev->download_md5, sizeof dev->download_md5, "%s", ev->md5);
        dev->download_ready = 1;
        break;
    case RESMGR_EVENT_PROGRESS_ACK:
        dev->acks++;
        break;
    case RESMGR_EVENT_UPLOAD_RESULT:
        printf("  event: platform verdict on the upload: %d %s\n", (int)ev->result_code, ev->result_msg);
        dev->upload_accepted = ev->result_code == 0;
        break;
    default:
        printf("  event %d: %s\n", (int)ev->kind, ev->detail);
        dev->failures++;
        break;
    }
}

/* What an MQTT message callback does: hand the message to resmgr. */
static void deliver_down_messages(struct device *dev) {
    while (queue_head != queue_tail) {
        const char *json = queue[queue_head++ % QUEUE_LEN];
        resmgr_status st = resmgr_client_handle_down_message(dev->client, resmgr_client_down_topic(dev->client),
                                                             (const uint8_t *)json, strlen(json));
        if (st != RESMGR_OK) {
            char why[256];
            resmgr_last_error(why, sizeof why);
            fprintf(stderr, "down message refused: %s\n", why);
            dev->failures++;
        }
    }
}

static int fail(const char *what) {
    char why[256];
    resmgr_last_error(why, sizeof why);
    fprintf(stderr, "inprocess: %s failed: %s\n", what, why);
    return 1;
}

int main(void) {
    static struct device dev;
    resmgr_md5 *md5;
    resmgr_digest digest, check;
    size_t off, i;

    for (i = 0; i < RESOURCE_SIZE; i++) dev.data[i] = (unsigned char)(i * 31u + (i >> 12));

    if (resmgr_client_new("PROD1", "dev1", publish_up, on_event, &dev, &dev.client) != RESMGR_OK)
        return fail("resmgr_client_new");
    /* Report every 10 %, with no minimum interval, to keep the log short. */
    resmgr_client_set_progress_throttle(dev.client, 0, 10);
    printf("resmgr %s, device topics:\n  up   %s\n  down %s\n", resmgr_version(), resmgr_client_up_topic(dev.client),
           resmgr_client_down_topic(dev.client));

    /* 1. Upload: hash the data where it lives, then ask for a URL. */
    printf("upload:\n");
    md5 = resmgr_md5_new();
    for (off = 0; off < RESOURCE_SIZE; off += CHUNK) resmgr_md5_update(md5, dev.data + off, CHUNK);
    resmgr_md5_finish(md5, &digest);
    if (resmgr_client_create_upload_task(dev.client, "sensor-log.bin", RESOURCE_SIZE, digest.hex) != RESMGR_OK)
        return fail("create_upload_task");
    deliver_down_messages(&dev);
    if (dev.upload_url[0] == '\0') return fail("waiting for the upload URL");

    /* "PUT" in chunks, telling resmgr how far we are; it decides when a
     * progress report is worth publishing. */
    for (off = 0; off < RESOURCE_SIZE; off += CHUNK) {
        memcpy(store + off, dev.data + off, CHUNK);
        stored_len = off + CHUNK;
        if (resmgr_client_track_upload_progress(dev.client, "sensor-log.bin", stored_len, NULL) != RESMGR_OK)
            return fail("upload_progress");
    }
    if (resmgr_client_report_upload_progress(dev.client, "sensor-log.bin", RESMGR_STATE_DONE, 100, 0, NULL) != RESMGR_OK)
        return fail("report_upload_progress");
    deliver_down_messages(&dev);

    /* 2. Download: the platform pushes the stored object back. */
    printf("download:\n");
    {
        char push[MSG_MAX];
        snprintf(push, sizeof push,
                 "{\"type\":\"download\",\"size\":%lu,\"name\":\"sensor-log-copy.bin\",\"md5sum\":\"%s\","
                 "\"url\":\"https://store.local/bucket/sensor-log.bin?sign=demo\"}",
                 (unsigned long)stored_len, digest.hex);
        platform_send(push);
    }
    deliver_down_messages(&dev);
    if (!dev.download_ready) return fail("waiting for the download task");
    for (off = 0; off < stored_len; off += CHUNK) {
        memcpy(dev.received + off, store + off, CHUNK);
        resmgr_md5_update(md5, dev.received + off, CHUNK);
        if (resmgr_client_track_download_progress(dev.client, dev.download_name, off + CHUNK, NULL) != RESMGR_OK)
            return fail("download_progress");
    }
    resmgr_md5_finish(md5, &check);
    resmgr_md5_free(md5);
    if (strcmp(check.hex, dev.download_md5) != 0) {
        resmgr_client_report_download_progress(dev.client, dev.download_name, RESMGR_STATE_FAIL, 0, -4, NULL);
        return fail("download MD5 check");
    }
    if (resmgr_client_report_download_progress(dev.client, dev.download_name, RESMGR_STATE_DONE, 100, 0, NULL) != RESMGR_OK)
        return fail("report_download_progress");
    deliver_down_messages(&dev);

    printf("summary: uploaded %u bytes (md5 %s, accepted: %s), downloaded and verified %lu bytes, "
           "%d progress reports, %d acks, %d unexpected events\n",
           RESOURCE_SIZE, digest.hex, dev.upload_accepted ? "yes" : "no", (unsigned long)stored_len, reports_seen,
           dev.acks, dev.failures);
    resmgr_client_free(dev.client);
    return dev.upload_accepted && dev.acks == reports_seen && dev.failures == 0 ? 0 : 1;
}
