/*
 * test_events.c: every event kind, produced by feeding down messages
 * through resmgr_client_handle_down_message, with every field checked
 * (fields a kind does not set must be 0 / "" as the header says), plus
 * callbacks that call back into the library.
 */
#include "support.h"

#define UPLOAD_URL_EVENT(nm, sz, hex, b64, u)                                            \
    .kind = RESMGR_EVENT_UPLOAD_URL, .direction = RESMGR_DIRECTION_UPLOAD, .name = (nm), \
    .size = (sz), .md5 = (hex), .content_md5 = (b64), .url = (u)

#define DOWNLOAD_EVENT(nm, sz, hex, b64, u, p)                                                \
    .kind = RESMGR_EVENT_DOWNLOAD_TASK, .direction = RESMGR_DIRECTION_DOWNLOAD, .name = (nm), \
    .size = (sz), .md5 = (hex), .content_md5 = (b64), .url = (u), .pushed = (p)

/* ------------------------------------------------------------------ */
/* UPLOAD_URL                                                           */
/* ------------------------------------------------------------------ */

static void upload_url_event_carries_every_task_field(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_N_EVENTS(r, 0);
    CHECK_STATUS(feed(c, "{\"type\":\"create_upload_task_rsp\",\"size\":100,\"name\":\"zxc\","
                         "\"md5sum\":\"900150983cd24fb0d6963f7d28e17f72\",\"url\":\"" TEST_URL
                         "\"}"),
                 RESMGR_OK);
    CHECK_NO_ERROR_MESSAGE();
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, UPLOAD_URL_EVENT("zxc", 100, MD5_ABC, MD5_ABC_B64, TEST_URL));
    /* Handling a response publishes nothing. */
    CHECK_N_PUBS(r, 1);
    resmgr_client_free(c);
    rec_free(r);
}

static void upload_url_event_has_lowercase_md5_and_unescaped_url(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "fox", 43, MD5_FOX), RESMGR_OK);
    /* Upper-case md5sum, JSON escapes in the URL, fields in another order,
     * an unknown field. */
    CHECK_STATUS(feed(c, "{\"url\":\"https:\\/\\/h.example.com:8443\\/k?a=1\\u0026b=2\","
                         "\"md5sum\":\"9E107D9D372BB6826BD81D3542A419D6\",\"extra\":[1,{}],"
                         "\"name\":\"fox\",\"size\":43,\"type\":\"create_upload_task_rsp\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0,
                UPLOAD_URL_EVENT("fox", 43, MD5_FOX, MD5_FOX_B64,
                                 "https://h.example.com:8443/k?a=1&b=2"));
    resmgr_client_free(c);
    rec_free(r);
}

static void upload_url_event_for_names_with_escapes_and_unicode(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "a\"b \xe6\x97\xa5.txt", 5, MD5_ABC),
                 RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"create_upload_task_rsp\",\"size\":5,"
                         "\"name\":\"a\\\"b \\u65e5.txt\",\"md5sum\":\"" MD5_ABC
                         "\",\"url\":\"http://10.0.0.1:9000/b/k\"}"),
                 RESMGR_OK);
    CHECK_EVENT(r, 0,
                UPLOAD_URL_EVENT("a\"b \xe6\x97\xa5.txt", 5, MD5_ABC, MD5_ABC_B64,
                                 "http://10.0.0.1:9000/b/k"));
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* DOWNLOAD_TASK                                                        */
/* ------------------------------------------------------------------ */

static void download_task_event_answers_get_download_task(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\",\"size\":372338,\"name\":\"AAAA\","
                         "\"md5sum\":\"a567907174aaaaa3bb9a2bb20716fd97\",\"url\":\"" TEST_URL
                         "\"}"),
                 RESMGR_OK);
    CHECK_NO_ERROR_MESSAGE();
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0,
                DOWNLOAD_EVENT("AAAA", 372338, "a567907174aaaaa3bb9a2bb20716fd97",
                               "pWeQcXSqqqO7miuyBxb9lw==", TEST_URL, false));
    /* The task exists now. */
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", 372338, NULL), RESMGR_OK);
    resmgr_client_free(c);
    rec_free(r);
}

static void download_task_event_from_a_push(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(feed(c, "{\"type\":\"download\",\"size\":5000000000,\"name\":\"fw.bin\","
                         "\"md5sum\":\"" MD5_FOX "\",\"url\":\"" TEST_URL "\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0,
                DOWNLOAD_EVENT("fw.bin", 5000000000ULL, MD5_FOX, MD5_FOX_B64, TEST_URL, true));
    CHECK_STATUS(resmgr_client_track_download_progress(c, "fw.bin", 5000000000ULL, NULL), RESMGR_OK);
    CHECK_N_PUBS(r, 1); /* only the progress report */
    resmgr_client_free(c);
    rec_free(r);
}

static void several_pushed_download_tasks_coexist(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(push_download(c, "one", 1, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(push_download(c, "two", 2, MD5_FOX, TEST_URL2), RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EVENT(r, 0, DOWNLOAD_EVENT("one", 1, MD5_ABC, MD5_ABC_B64, TEST_URL, true));
    CHECK_EVENT(r, 1, DOWNLOAD_EVENT("two", 2, MD5_FOX, MD5_FOX_B64, TEST_URL2, true));
    CHECK_STATUS(resmgr_client_track_download_progress(c, "one", 1, NULL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "two", 2, NULL), RESMGR_OK);
    resmgr_client_free(c);
    rec_free(r);
}

/* Issue 10 (suspected, confirmed): RESMGR_MAX_TASKS pushed tasks that the
 * application never started filled the table for good; every later push
 * was refused with RESMGR_ERR_TOO_MANY_TASKS. Now the oldest task not
 * started gives way (RESMGR_EVENT_TASK_DROPPED); a table of started tasks
 * still refuses. */
static void pushed_download_tasks_beyond_max_tasks_drop_the_oldest_unstarted(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char name[32];
    int i;
    for (i = 0; i < RESMGR_MAX_TASKS; i++) {
        snprintf(name, sizeof name, "dl-%d", i);
        CHECK_STATUS(push_download(c, name, 3, MD5_ABC, TEST_URL), RESMGR_OK);
    }
    /* dl-0 has started (its progress is tracked): dl-1 is the oldest not. */
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl-0", 1, NULL), RESMGR_OK);
    rec_clear(r);
    CHECK_STATUS(push_download(c, "one-more", 3, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_TASK_DROPPED,
                .direction = RESMGR_DIRECTION_DOWNLOAD, .name = "dl-1", .detail = "oldest not started");
    CHECK_EQ_INT(r->events[1].kind, RESMGR_EVENT_DOWNLOAD_TASK);
    CHECK_STR(r->events[1].name, "one-more");
    CHECK_N_PUBS(r, 0);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl-1", 0, NULL), RESMGR_ERR_NO_TASK);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl-0", 2, NULL), RESMGR_OK);

    /* Every task started: the next push is refused. */
    for (i = 2; i < RESMGR_MAX_TASKS; i++) {
        snprintf(name, sizeof name, "dl-%d", i);
        CHECK_STATUS(resmgr_client_track_download_progress(c, name, 0, NULL), RESMGR_OK);
    }
    CHECK_STATUS(resmgr_client_track_download_progress(c, "one-more", 0, NULL), RESMGR_OK);
    rec_clear(r);
    CHECK_STATUS(push_download(c, "one-too-many", 3, MD5_ABC, TEST_URL),
                 RESMGR_ERR_TOO_MANY_TASKS);
    CHECK_ERROR_MESSAGE();
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_MESSAGE_REJECTED,
                .status = RESMGR_ERR_TOO_MANY_TASKS, .detail = "all started");
    CHECK_STATUS(resmgr_client_track_download_progress(c, "one-too-many", 0, NULL),
                 RESMGR_ERR_NO_TASK);
    /* A push for a task in flight is still handled. */
    CHECK_STATUS(push_download(c, "dl-5", 3, MD5_ABC, TEST_URL2), RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EQ_INT(r->events[1].kind, RESMGR_EVENT_URL_REFRESHED);
    CHECK_EQ_INT(r->events[1].direction, RESMGR_DIRECTION_DOWNLOAD);
    CHECK_STR(r->events[1].name, "dl-5");
    CHECK_STR(r->events[1].url, TEST_URL2);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* URL_REFRESHED                                                        */
/* ------------------------------------------------------------------ */

static void duplicate_push_carries_the_fresh_url(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(push_download(c, "AAAA", 10, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(push_download(c, "AAAA", 10, MD5_ABC, TEST_URL2), RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EVENT(r, 0, DOWNLOAD_EVENT("AAAA", 10, MD5_ABC, MD5_ABC_B64, TEST_URL, true));
    /* URL_REFRESHED has "the same fields as the task's first event", pushed
     * included: this one was pushed too. */
    CHECK_EVENT(r, 1, .kind = RESMGR_EVENT_URL_REFRESHED, .direction = RESMGR_DIRECTION_DOWNLOAD,
                .name = "AAAA", .size = 10, .md5 = MD5_ABC, .content_md5 = MD5_ABC_B64,
                .url = TEST_URL2, .pushed = true);
    /* The same push a third time: still a duplicate. */
    CHECK_STATUS(push_download(c, "AAAA", 10, MD5_ABC, TEST_URL2), RESMGR_OK);
    CHECK_N_EVENTS(r, 3);
    CHECK(r->events[2].kind == RESMGR_EVENT_URL_REFRESHED);
    CHECK_STR(r->events[2].url, TEST_URL2);
    resmgr_client_free(c);
    rec_free(r);
}

static void duplicate_answer_for_a_pushed_download(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(push_download(c, "AAAA", 10, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\",\"size\":10,\"name\":\"AAAA\","
                         "\"md5sum\":\"" MD5_ABC "\",\"url\":\"" TEST_URL2 "\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EVENT(r, 1, .kind = RESMGR_EVENT_URL_REFRESHED, .direction = RESMGR_DIRECTION_DOWNLOAD,
                .name = "AAAA", .size = 10, .md5 = MD5_ABC, .content_md5 = MD5_ABC_B64,
                .url = TEST_URL2, .pushed = false);
    resmgr_client_free(c);
    rec_free(r);
}

static void duplicate_upload_url_carries_the_fresh_url(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(upload_url_rsp(c, "zxc", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(upload_url_rsp(c, "zxc", 100, MD5_ABC, TEST_URL2), RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EVENT(r, 0, UPLOAD_URL_EVENT("zxc", 100, MD5_ABC, MD5_ABC_B64, TEST_URL));
    CHECK_EVENT(r, 1, .kind = RESMGR_EVENT_URL_REFRESHED, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "zxc", .size = 100, .md5 = MD5_ABC, .content_md5 = MD5_ABC_B64,
                .url = TEST_URL2);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* NO_DOWNLOAD_TASK                                                     */
/* ------------------------------------------------------------------ */

static void no_download_task_from_an_empty_answer(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\"}"), RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    /* Fields: direction, result_code, result_msg; "the others are 0 or \"\"". */
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_NO_DOWNLOAD_TASK, .direction = RESMGR_DIRECTION_DOWNLOAD, .result_code = 0,
                .result_msg = "");
    /* Empty task fields mean the same. */
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\",\"name\":\"\",\"url\":\"\","
                         "\"size\":0,\"md5sum\":\"\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EQ_INT(r->events[1].kind, RESMGR_EVENT_NO_DOWNLOAD_TASK);
    CHECK_EQ_INT(r->events[1].result_code, 0);
    CHECK_STR(r->events[1].result_msg, "");
    resmgr_client_free(c);
    rec_free(r);
}

static void no_download_task_from_a_non_zero_result_code(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\",\"result_code\":1,"
                         "\"result_msg\":\"no task\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EQ_INT(r->events[0].kind, RESMGR_EVENT_NO_DOWNLOAD_TASK);
    CHECK_EQ_INT(r->events[0].result_code, 1);
    CHECK_STR(r->events[0].result_msg, "no task");
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\",\"result_code\":-2147483648,"
                         "\"result_msg\":\"x\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EQ_INT(r->events[1].kind, RESMGR_EVENT_NO_DOWNLOAD_TASK);
    CHECK_EQ_INT(r->events[1].result_code, INT32_MIN);
    CHECK_STR(r->events[1].result_msg, "x");
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* PROGRESS_ACK                                                         */
/* ------------------------------------------------------------------ */

static void progress_ack_names_the_reported_task(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_IN_PROGRESS, 10, 0, NULL),
        RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0,"
                         "\"result_msg\":\"success\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_PROGRESS_ACK, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "zxc", .result_msg = "success");
    /* The ack keeps the task. */
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 50, NULL), RESMGR_OK);
    resmgr_client_free(c);
    rec_free(r);
}

static void progress_acks_are_matched_to_reports_in_order(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 1), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "first", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "first", RESMGR_STATE_IN_PROGRESS, 1, 0, NULL),
        RESMGR_OK);
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "second", RESMGR_STATE_DONE, 0, 0, NULL),
        RESMGR_OK);
    /* A report published by the throttled helper is acknowledged too. */
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "first", 30, NULL), RESMGR_OK);
    CHECK_STATUS(push_download(c, "dl", 10, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(
        resmgr_client_report_download_progress(c, "dl", RESMGR_STATE_IN_PROGRESS, 5, 0, NULL),
        RESMGR_OK);
    rec_clear(r);
    CHECK_STATUS(feed(c, "{\"type\":\"report_download_progress_rsp\",\"result_code\":0}"),
                 RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0,"
                         "\"result_msg\":\"a\"}"),
                 RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0,"
                         "\"result_msg\":\"b\"}"),
                 RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"report_upload_progress_rsp\"}"), RESMGR_OK);
    CHECK_N_EVENTS(r, 4);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_PROGRESS_ACK, .direction = RESMGR_DIRECTION_DOWNLOAD,
                .name = "dl");
    CHECK_EVENT(r, 1, .kind = RESMGR_EVENT_PROGRESS_ACK, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "first", .result_msg = "a");
    CHECK_EVENT(r, 2, .kind = RESMGR_EVENT_PROGRESS_ACK, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "second", .result_msg = "b");
    CHECK_EVENT(r, 3, .kind = RESMGR_EVENT_PROGRESS_ACK, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "first");
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* TASK_REJECTED                                                        */
/* ------------------------------------------------------------------ */

static void task_rejected_by_create_upload_task_rsp(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"create_upload_task_rsp\",\"name\":\"zxc\","
                         "\"result_code\":-5,\"result_msg\":\"quota exceeded\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_TASK_REJECTED, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "zxc", .result_code = -5, .result_msg = "quota exceeded");
    /* The task is forgotten. */
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 1, NULL), RESMGR_ERR_NO_TASK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 7, MD5_FOX), RESMGR_OK);
    resmgr_client_free(c);
    rec_free(r);
}

static void task_rejected_without_a_name_is_pinned_on_the_only_waiting_task(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "has-url", 1, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(upload_url_rsp(c, "has-url", 1, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "waiting", 1, MD5_ABC), RESMGR_OK);
    rec_clear(r);
    CHECK_STATUS(feed(c, "{\"type\":\"create_upload_task_rsp\",\"result_code\":-1}"), RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_TASK_REJECTED, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "waiting", .result_code = -1);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "waiting", 1, NULL), RESMGR_ERR_NO_TASK);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "has-url", 1, NULL), RESMGR_OK);
    resmgr_client_free(c);
    rec_free(r);
}

static void task_rejected_without_a_name_and_two_waiting_names_none(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "a", 1, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "b", 1, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"create_upload_task_rsp\",\"result_code\":-3,"
                         "\"result_msg\":\"denied\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_TASK_REJECTED, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "", .result_code = -3, .result_msg = "denied");
    resmgr_client_free(c);
    rec_free(r);
}

static void task_rejected_by_upload_progress_rsp_forgets_the_task(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(upload_url_rsp(c, "zxc", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 10, NULL), RESMGR_OK);
    rec_clear(r);
    CHECK_STATUS(feed(c, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":-3,"
                         "\"result_msg\":\"expired\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_TASK_REJECTED, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "zxc", .result_code = -3, .result_msg = "expired");
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 20, NULL), RESMGR_ERR_NO_TASK);
    CHECK_ERROR_MESSAGE();
    /* A late URL for it matches nothing now. */
    CHECK_STATUS(upload_url_rsp(c, "zxc", 100, MD5_ABC, TEST_URL2), RESMGR_OK);
    CHECK_LAST_EVENT(r, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                     .message_type = "create_upload_task_rsp", .name = "zxc", .detail = "");
    resmgr_client_free(c);
    rec_free(r);
}

static void task_rejected_by_download_progress_rsp_forgets_the_task(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(push_download(c, "AAAA", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_report_download_progress(c, "AAAA", RESMGR_STATE_IN_PROGRESS, 0,
                                                        0, NULL),
                 RESMGR_OK);
    rec_clear(r);
    CHECK_STATUS(feed(c, "{\"type\":\"report_download_progress_rsp\",\"result_code\":7,"
                         "\"result_msg\":\"gone\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_TASK_REJECTED,
                .direction = RESMGR_DIRECTION_DOWNLOAD, .name = "AAAA", .result_code = 7,
                .result_msg = "gone");
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", 1, NULL), RESMGR_ERR_NO_TASK);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* UPLOAD_RESULT                                                        */
/* ------------------------------------------------------------------ */

static void upload_result_event_carries_the_verdict(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(feed(c, "{\"type\":\"upload_result\",\"report\":{\"name\":\"zxc\","
                         "\"progress\":{\"state\":\"done\",\"result_code\":0,"
                         "\"result_msg\":\"success\"}}}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    /* Fields: name, result_code, result_msg; the others 0 or "". */
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_UPLOAD_RESULT, .direction = RESMGR_DIRECTION_UPLOAD, .name = "zxc", .result_code = 0,
                .result_msg = "success");
    CHECK_STATUS(feed(c, "{\"type\":\"upload_result\",\"report\":{\"progress\":"
                         "{\"result_code\":-4,\"result_msg\":\"md5sum not matched\"}}}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EQ_INT(r->events[1].kind, RESMGR_EVENT_UPLOAD_RESULT);
    CHECK_STR(r->events[1].name, "");
    CHECK_EQ_INT(r->events[1].result_code, -4);
    CHECK_STR(r->events[1].result_msg, "md5sum not matched");
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* UNMATCHED_RESPONSE                                                   */
/* ------------------------------------------------------------------ */

static void unmatched_create_upload_task_rsp_for_a_task_never_asked_for(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(upload_url_rsp(c, "ghost", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "create_upload_task_rsp", .name = "ghost", .detail = "");
    /* It was ignored: no task was created. */
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "ghost", 1, NULL), RESMGR_ERR_NO_TASK);
    /* A refusal for an unknown task is unmatched too. */
    CHECK_STATUS(feed(c, "{\"type\":\"create_upload_task_rsp\",\"name\":\"ghost\","
                         "\"result_code\":-1}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EVENT(r, 1, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "create_upload_task_rsp", .name = "ghost", .detail = "");
    resmgr_client_free(c);
    rec_free(r);
}

static void unmatched_get_download_task_rsp_never_asked_for(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\",\"size\":10,\"name\":\"AAAA\","
                         "\"md5sum\":\"" MD5_ABC "\",\"url\":\"" TEST_URL "\"}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "get_download_task_rsp", .name = "AAAA", .detail = "");
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", 1, NULL), RESMGR_ERR_NO_TASK);
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\"}"), RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EVENT(r, 1, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "get_download_task_rsp", .detail = "");
    /* One question, one answer: the second answer is unmatched. */
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\"}"), RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\"}"), RESMGR_OK);
    CHECK_N_EVENTS(r, 4);
    CHECK_EQ_INT(r->events[2].kind, RESMGR_EVENT_NO_DOWNLOAD_TASK);
    CHECK_EVENT(r, 3, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "get_download_task_rsp", .detail = "");
    resmgr_client_free(c);
    rec_free(r);
}

static void unmatched_progress_ack_with_no_report_outstanding(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(feed(c, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0}"),
                 RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"report_download_progress_rsp\",\"result_code\":0}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "report_upload_progress_rsp", .detail = "");
    CHECK_EVENT(r, 1, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "report_download_progress_rsp", .detail = "");
    /* An upload report does not make a download ack expected. */
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "u", RESMGR_STATE_IN_PROGRESS, 1, 0, NULL),
        RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"report_download_progress_rsp\",\"result_code\":0}"),
                 RESMGR_OK);
    CHECK_EVENT(r, 2, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "report_download_progress_rsp", .detail = "");
    /* One report, one ack. */
    CHECK_STATUS(feed(c, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0}"),
                 RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 5);
    CHECK_EVENT(r, 3, .kind = RESMGR_EVENT_PROGRESS_ACK, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "u");
    CHECK_EVENT(r, 4, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "report_upload_progress_rsp", .detail = "");
    resmgr_client_free(c);
    rec_free(r);
}

static void unmatched_rsp_whose_size_or_md5_differ_from_the_task(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(upload_url_rsp(c, "zxc", 101, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(upload_url_rsp(c, "zxc", 100, MD5_FOX, TEST_URL), RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "create_upload_task_rsp", .name = "zxc", .detail = "");
    CHECK_EVENT(r, 1, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "create_upload_task_rsp", .name = "zxc", .detail = "");
    /* The task still waits for its own URL. */
    CHECK_STATUS(upload_url_rsp(c, "zxc", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_N_EVENTS(r, 3);
    CHECK_EVENT(r, 2, UPLOAD_URL_EVENT("zxc", 100, MD5_ABC, MD5_ABC_B64, TEST_URL));
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* UNKNOWN_MESSAGE and MESSAGE_REJECTED                                 */
/* ------------------------------------------------------------------ */

static void unknown_message_is_reported_and_ignored(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(feed(c, "{\"type\":\"firmware_update\",\"version\":\"2.0\"}"),
                 RESMGR_ERR_UNKNOWN_MESSAGE);
    CHECK_ERROR_MESSAGE();
    CHECK_CONTAINS(last_error(), "firmware_update");
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_UNKNOWN_MESSAGE, .status = RESMGR_ERR_UNKNOWN_MESSAGE,
                .detail = "firmware_update");
    CHECK_N_PUBS(r, 0);
    /* The client carries on. */
    CHECK_STATUS(push_download(c, "after", 1, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_LAST_EVENT(r, DOWNLOAD_EVENT("after", 1, MD5_ABC, MD5_ABC_B64, TEST_URL, true));
    resmgr_client_free(c);
    rec_free(r);
}

static void message_rejected_status_equals_the_returned_status(void)
{
    static const char *payloads[] = {
        "hello",
        "{\"name\":\"x\"}",
        "{\"type\":7}",
        "{\"type\":\"download\",\"name\":\"x\",\"md5sum\":\"" MD5_ABC "\",\"url\":\"" TEST_URL
        "\"}",
        "{\"type\":\"download\",\"size\":1,\"name\":\"\",\"md5sum\":\"" MD5_ABC
        "\",\"url\":\"" TEST_URL "\"}",
        "{\"type\":\"download\",\"size\":-1,\"name\":\"x\",\"md5sum\":\"" MD5_ABC
        "\",\"url\":\"" TEST_URL "\"}",
        "{\"type\":\"download\",\"size\":1,\"name\":\"x\",\"md5sum\":\"abc\",\"url\":\"" TEST_URL
        "\"}",
        "{\"type\":\"download\",\"size\":1,\"name\":\"x\",\"md5sum\":\"" MD5_ABC
        "\",\"url\":\"ftp://h/x\"}",
        "{\"type\":\"report_upload_progress_rsp\",\"result_code\":\"0\"}",
    };
    static const resmgr_status expected[] = {
        RESMGR_ERR_JSON,         RESMGR_ERR_MESSAGE_TYPE, RESMGR_ERR_MESSAGE_TYPE,
        RESMGR_ERR_MISSING_FIELD, RESMGR_ERR_INVALID_NAME, RESMGR_ERR_INVALID_SIZE,
        RESMGR_ERR_INVALID_MD5,  RESMGR_ERR_INVALID_URL,  RESMGR_ERR_INVALID_FIELD,
    };
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    size_t i;
    for (i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        resmgr_status s;
        rec_clear(r);
        s = feed(c, payloads[i]);
        CHECK_STATUS(s, expected[i]);
        CHECK_ERROR_MESSAGE();
        CHECK_N_EVENTS(r, 1);
        CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_MESSAGE_REJECTED, .status = s, .detail = "");
    }
    /* The wrong topic too. */
    rec_clear(r);
    CHECK_STATUS(resmgr_client_handle_down_message(c, UP_TOPIC, (const uint8_t *)"{}", 2),
                 RESMGR_ERR_WRONG_TOPIC);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_MESSAGE_REJECTED, .status = RESMGR_ERR_WRONG_TOPIC,
                .detail = "");
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* Callbacks that call back into the library                            */
/* ------------------------------------------------------------------ */

typedef struct reentry {
    int calls;
    resmgr_status report_status;
    resmgr_status track_status;
    bool track_published;
    resmgr_status create_status;
    resmgr_status feed_status;
    const char *feed_answer; /* what the publish hook feeds back, once */
} reentry;

/* On UPLOAD_URL: report progress and use the throttled helper. On
 * DOWNLOAD_TASK: create an upload task and feed a message. */
static void reporting_event_hook(recorder *r, const resmgr_event *ev)
{
    reentry *x = (reentry *)r->hook_data;
    if (ev->kind == RESMGR_EVENT_UPLOAD_URL) {
        x->calls++;
        x->report_status = resmgr_client_report_upload_progress(
            r->client, ev->name, RESMGR_STATE_IN_PROGRESS, 0, 0, NULL);
        x->track_status =
            resmgr_client_track_upload_progress(r->client, ev->name, ev->size, &x->track_published);
    } else if (ev->kind == RESMGR_EVENT_DOWNLOAD_TASK) {
        x->calls++;
        x->create_status = resmgr_client_create_upload_task(r->client, "from-event", 3, MD5_ABC);
        /* A nested feed from inside an event. */
        x->feed_status = feed(r->client, "{\"type\":\"mystery\"}");
    }
}

static void event_callback_can_call_back_into_the_library(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    reentry x;
    memset(&x, 0, sizeof x);
    x.report_status = x.track_status = x.create_status = x.feed_status = 12345;
    r->hook_data = &x;
    r->event_hook = reporting_event_hook;
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 1), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(upload_url_rsp(c, "zxc", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_EQ_INT(x.calls, 1);
    CHECK_STATUS(x.report_status, RESMGR_OK);
    CHECK_STATUS(x.track_status, RESMGR_OK);
    CHECK_EQ_INT(x.track_published, true);
    CHECK_N_PUBS(r, 3);
    CHECK_PUB(r, 1,
              "{\"type\":\"report_upload_progress\",\"name\":\"zxc\",\"progress\":{\"state\":"
              "\"uploading\",\"percent\":0,\"result_code\":0,\"result_msg\":\"\"}}",
              0);
    CHECK_PUB(r, 2,
              "{\"type\":\"report_upload_progress\",\"name\":\"zxc\",\"progress\":{\"state\":"
              "\"uploading\",\"percent\":100,\"result_code\":0,\"result_msg\":\"\"}}",
              0);
    /* A push whose event creates a task and feeds another message. */
    CHECK_STATUS(push_download(c, "dl", 1, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_EQ_INT(x.calls, 2);
    CHECK_STATUS(x.create_status, RESMGR_OK);
    CHECK_STATUS(x.feed_status, RESMGR_ERR_UNKNOWN_MESSAGE);
    CHECK_N_EVENTS(r, 3);
    CHECK_EVENT(r, 1, DOWNLOAD_EVENT("dl", 1, MD5_ABC, MD5_ABC_B64, TEST_URL, true));
    CHECK_EVENT(r, 2, .kind = RESMGR_EVENT_UNKNOWN_MESSAGE, .status = RESMGR_ERR_UNKNOWN_MESSAGE,
                .detail = "mystery");
    CHECK_LAST_PUB(r,
                   "{\"type\":\"create_upload_task\",\"size\":3,\"name\":\"from-event\","
                   "\"md5sum\":\"" MD5_ABC "\"}",
                   1);
    /* The last error belongs to the outermost call, which succeeded. */
    CHECK_NO_ERROR_MESSAGE();
    resmgr_client_free(c);
    rec_free(r);
}

/* Feeds x->feed_answer (once) from inside the publish callback, as an MQTT
 * client delivering the platform's answer synchronously would. */
static int answering_publish_hook(recorder *r, const char *topic, const uint8_t *payload,
                                  size_t len, int qos)
{
    reentry *x = (reentry *)r->hook_data;
    const char *answer = x->feed_answer;
    (void)topic;
    (void)payload;
    (void)len;
    (void)qos;
    if (answer != NULL) {
        x->feed_answer = NULL;
        x->calls++;
        x->feed_status = feed(r->client, answer);
    }
    return 0;
}

static void publish_callback_can_feed_the_answer_synchronously(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    reentry x;
    memset(&x, 0, sizeof x);
    r->hook_data = &x;
    r->publish_hook = answering_publish_hook;

    x.feed_answer = "{\"type\":\"create_upload_task_rsp\",\"size\":100,\"name\":\"zxc\","
                    "\"md5sum\":\"" MD5_ABC "\",\"url\":\"" TEST_URL "\"}";
    x.feed_status = 12345;
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_EQ_INT(x.calls, 1);
    CHECK_STATUS(x.feed_status, RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, UPLOAD_URL_EVENT("zxc", 100, MD5_ABC, MD5_ABC_B64, TEST_URL));

    x.feed_answer = "{\"type\":\"get_download_task_rsp\",\"size\":9,\"name\":\"AAAA\","
                    "\"md5sum\":\"" MD5_FOX "\",\"url\":\"" TEST_URL2 "\"}";
    x.feed_status = 12345;
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_EQ_INT(x.calls, 2);
    CHECK_STATUS(x.feed_status, RESMGR_OK);
    CHECK_N_EVENTS(r, 2);
    CHECK_EVENT(r, 1, DOWNLOAD_EVENT("AAAA", 9, MD5_FOX, MD5_FOX_B64, TEST_URL2, false));

    x.feed_answer = "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0,"
                    "\"result_msg\":\"ok\"}";
    x.feed_status = 12345;
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 50, NULL), RESMGR_OK);
    CHECK_EQ_INT(x.calls, 3);
    CHECK_STATUS(x.feed_status, RESMGR_OK);
    CHECK_N_EVENTS(r, 3);
    CHECK_EVENT(r, 2, .kind = RESMGR_EVENT_PROGRESS_ACK, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "zxc", .result_msg = "ok");

    x.feed_answer = "{\"type\":\"report_download_progress_rsp\",\"result_code\":-3,"
                    "\"result_msg\":\"expired\"}";
    x.feed_status = 12345;
    CHECK_STATUS(resmgr_client_report_download_progress(c, "AAAA", RESMGR_STATE_IN_PROGRESS,
                                                        10, 0, NULL),
                 RESMGR_OK);
    CHECK_EQ_INT(x.calls, 4);
    CHECK_STATUS(x.feed_status, RESMGR_OK);
    CHECK_N_EVENTS(r, 4);
    CHECK_EVENT(r, 3, .kind = RESMGR_EVENT_TASK_REJECTED,
                .direction = RESMGR_DIRECTION_DOWNLOAD, .name = "AAAA", .result_code = -3,
                .result_msg = "expired");
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", 1, NULL), RESMGR_ERR_NO_TASK);
    resmgr_client_free(c);
    rec_free(r);
}

/* Issue 14: an event kind has a name for logs, like a status. */
static void event_kinds_have_names_and_unknown_ones_say_so(void)
{
    int kind, other;
    const char *unknown = resmgr_event_kind_str(0);
    CHECK_STR(unknown, "unknown event kind");
    CHECK_STR(resmgr_event_kind_str(14), "unknown event kind");
    CHECK_STR(resmgr_event_kind_str(-1), "unknown event kind");
    CHECK_STR(resmgr_event_kind_str(RESMGR_EVENT_URL_REFRESHED), "URL refreshed");
    for (kind = RESMGR_EVENT_UPLOAD_URL; kind <= RESMGR_EVENT_TASK_DROPPED; kind++) {
        const char *name = resmgr_event_kind_str(kind);
        CHECK(name != NULL && name[0] != '\0');
        CHECK(strcmp(name, unknown) != 0);
        for (other = RESMGR_EVENT_UPLOAD_URL; other < kind; other++) {
            CHECK(strcmp(name, resmgr_event_kind_str(other)) != 0);
        }
    }
}

int main(void)
{
    RUN_TEST(upload_url_event_carries_every_task_field);
    RUN_TEST(upload_url_event_has_lowercase_md5_and_unescaped_url);
    RUN_TEST(upload_url_event_for_names_with_escapes_and_unicode);
    RUN_TEST(download_task_event_answers_get_download_task);
    RUN_TEST(download_task_event_from_a_push);
    RUN_TEST(several_pushed_download_tasks_coexist);
    RUN_TEST(pushed_download_tasks_beyond_max_tasks_drop_the_oldest_unstarted);
    RUN_TEST(duplicate_push_carries_the_fresh_url);
    RUN_TEST(duplicate_answer_for_a_pushed_download);
    RUN_TEST(duplicate_upload_url_carries_the_fresh_url);
    RUN_TEST(no_download_task_from_an_empty_answer);
    RUN_TEST(no_download_task_from_a_non_zero_result_code);
    RUN_TEST(progress_ack_names_the_reported_task);
    RUN_TEST(progress_acks_are_matched_to_reports_in_order);
    RUN_TEST(task_rejected_by_create_upload_task_rsp);
    RUN_TEST(task_rejected_without_a_name_is_pinned_on_the_only_waiting_task);
    RUN_TEST(task_rejected_without_a_name_and_two_waiting_names_none);
    RUN_TEST(task_rejected_by_upload_progress_rsp_forgets_the_task);
    RUN_TEST(task_rejected_by_download_progress_rsp_forgets_the_task);
    RUN_TEST(upload_result_event_carries_the_verdict);
    RUN_TEST(unmatched_create_upload_task_rsp_for_a_task_never_asked_for);
    RUN_TEST(unmatched_get_download_task_rsp_never_asked_for);
    RUN_TEST(unmatched_progress_ack_with_no_report_outstanding);
    RUN_TEST(unmatched_rsp_whose_size_or_md5_differ_from_the_task);
    RUN_TEST(unknown_message_is_reported_and_ignored);
    RUN_TEST(message_rejected_status_equals_the_returned_status);
    RUN_TEST(event_callback_can_call_back_into_the_library);
    RUN_TEST(publish_callback_can_feed_the_answer_synchronously);
    RUN_TEST(event_kinds_have_names_and_unknown_ones_say_so);
    return check_summary();
}
