/*
 * The smallest useful program per feature set, for the size table of
 * BENCHMARKS.md: a device that takes a down message, creates an upload task
 * and reports; with RESMGR_HTTP it also runs a transfer with the built-in
 * engine, with RESMGR_MQTT it connects with the built-in MQTT client.
 * Built with -DNO_RESMGR it is the baseline: the same C program shape with
 * no library, to subtract.
 */
#include <stdio.h>
#include <string.h>

#ifdef NO_RESMGR
int main(int argc, char **argv) {
    (void)argv;
    printf("%d\n", argc);
    return 0;
}
#else
#include "resmgr.h"

static int publish(void *user, const char *topic, const uint8_t *payload, size_t len, int qos) {
    (void)user; (void)qos;
    return printf("%s %.*s\n", topic, (int)len, (const char *)payload) < 0;
}

static void on_event(void *user, const resmgr_event *ev) {
    (void)user;
    printf("event %d\n", (int)ev->kind);
}

int main(int argc, char **argv) {
    resmgr_client *c = NULL;
    const char *dev = argc > 1 ? argv[1] : "dev1";
#ifdef RESMGR_MQTT
    if (argc > 2) {
        resmgr_mqtt_options o;
        resmgr_mqtt_options_init(&o);
        o.host = argv[2];
        if (resmgr_client_new_mqtt("PRODUCT1", dev, &o, on_event, NULL, &c) != RESMGR_OK) return 1;
        resmgr_client_connect(c);
        resmgr_client_wait_connected(c, 1000);
    }
#endif
    if (!c && resmgr_client_new("PRODUCT1", dev, publish, on_event, NULL, &c) != RESMGR_OK) {
        char why[256];
        resmgr_last_error(why, sizeof why);
        fprintf(stderr, "%s\n", why);
        return 1;
    }
    const char *msg = "{\"type\":\"get_download_task_rsp\",\"size\":3,\"name\":\"a\","
                      "\"md5sum\":\"900150983cd24fb0d6963f7d28e17f72\",\"url\":\"http://127.0.0.1/a\"}";
    resmgr_client_get_download_task(c);
    resmgr_client_handle_down_message(c, resmgr_client_down_topic(c), (const uint8_t *)msg, strlen(msg));
    resmgr_client_create_upload_task(c, "log.bin", 3, "900150983cd24fb0d6963f7d28e17f72");
#ifdef RESMGR_HTTP
    resmgr_client_run_download(c, "a", ".", NULL, NULL, NULL, NULL);
#endif
    resmgr_client_report_upload_progress(c, "log.bin", RESMGR_STATE_DONE, 100, 0, NULL);
#ifdef RESMGR_MQTT
    resmgr_client_disconnect(c, 100);
#endif
    resmgr_client_free(c);
    return 0;
}
#endif
