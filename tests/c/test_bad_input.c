/*
 * test_bad_input.c: hostile and broken input. Every bad down message gets
 * its specific status, a non-empty resmgr_last_error() and exactly one
 * MESSAGE_REJECTED (or UNKNOWN_MESSAGE) event whose status is the returned
 * one; bad arguments get their specific status; nothing crashes.
 */
#include "support.h"

#include <limits.h>
#include <unistd.h>

#define GOOD_URL "https://bucket.cos.example.com/k?sign=1"

/* Feeds `len` bytes on `topic` and checks the refusal in full. */
static int check_rejected_(recorder *r, const resmgr_client *c, const char *topic,
                           const void *payload, size_t len, resmgr_status expected,
                           const char *expected_text, const char *file, int line)
{
    resmgr_status s;
    int ok;
    char what[300], excerpt[200];
    snprintf(what, sizeof what, "feed(%s)", escape_excerpt(excerpt, sizeof excerpt, payload, len));
    rec_clear(r);
    s = resmgr_client_handle_down_message(c, topic, (const uint8_t *)payload, len);
    ok = check_status_(s, expected, file, line, what, expected_text);
    ok &= check_true_(resmgr_last_error(NULL, 0) > 0, file, line,
                      "resmgr_last_error() is non-empty");
    ok &= check_n_(r->n_events, 1, "number of events", file, line);
    if (r->n_events >= 1) {
        ok &= check_event_(r, 0,
                           (ev_spec){.kind = s == RESMGR_ERR_UNKNOWN_MESSAGE
                                                 ? RESMGR_EVENT_UNKNOWN_MESSAGE
                                                 : RESMGR_EVENT_MESSAGE_REJECTED,
                                     .status = s,
                                     .detail = ""},
                           file, line);
    }
    ok &= check_n_(r->n_pubs, 0, "publishes while handling a down message", file, line);
    return ok;
}

/* Feeds a C-string message and checks it is refused with `status`. */
#define REJECT(json, status) \
    check_rejected_(r, c, DOWN_TOPIC, (json), strlen(json), (status), #status, __FILE__, __LINE__)
#define REJECT_LEN(payload, len, status) \
    check_rejected_(r, c, DOWN_TOPIC, (payload), (len), (status), #status, __FILE__, __LINE__)
#define REJECT_ON_TOPIC(topic, json, status) \
    check_rejected_(r, c, (topic), (json), strlen(json), (status), #status, __FILE__, __LINE__)

/* Feeds a C-string message and checks it is accepted with one event of
 * `kind`. */
static int check_accepted_(recorder *r, const resmgr_client *c, const void *payload, size_t len,
                           resmgr_event_kind kind, const char *file, int line)
{
    int ok;
    char what[300], excerpt[200];
    snprintf(what, sizeof what, "feed(%s)", escape_excerpt(excerpt, sizeof excerpt, payload, len));
    rec_clear(r);
    ok = check_status_(feed_len(c, payload, len), RESMGR_OK, file, line, what, "RESMGR_OK");
    ok &= check_n_(r->n_events, 1, "number of events", file, line);
    if (r->n_events >= 1 && r->n_events <= REC_MAX_EVENTS) {
        ok &= check_eq_int_(r->events[0].kind, kind, file, line, "event kind", ev_kind_name(kind));
    }
    return ok;
}

#define ACCEPT(json, kind) check_accepted_(r, c, (json), strlen(json), (kind), __FILE__, __LINE__)

/* A `download` message with one field replaced (raw JSON value) or, with
 * value NULL, left out. */
static const char *download_with(char *buf, size_t cap, const char *type, const char *field,
                                 const char *value)
{
    const char *names[4] = {"size", "name", "md5sum", "url"};
    const char *values[4] = {"10", "\"AAAA\"", "\"" MD5_ABC "\"", "\"" GOOD_URL "\""};
    size_t n, i;
    n = (size_t)snprintf(buf, cap, "{\"type\":\"%s\"", type);
    for (i = 0; i < 4; i++) {
        const char *v = values[i];
        if (strcmp(names[i], field) == 0) {
            if (value == NULL) {
                continue;
            }
            v = value;
        }
        if (n + strlen(names[i]) + strlen(v) + 8 >= cap) {
            abort();
        }
        n += (size_t)snprintf(buf + n, cap - n, ",\"%s\":%s", names[i], v);
    }
    snprintf(buf + n, cap - n, "}");
    return buf;
}

/* ------------------------------------------------------------------ */
/* Not JSON / not an object / empty                                     */
/* ------------------------------------------------------------------ */

static void not_json_is_a_json_error(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    REJECT("hello", RESMGR_ERR_JSON);
    REJECT("{", RESMGR_ERR_JSON);
    REJECT("}", RESMGR_ERR_JSON);
    REJECT("{\"type\":\"download\"", RESMGR_ERR_JSON);
    REJECT("{\"type\":\"download\",}", RESMGR_ERR_JSON);
    REJECT("{\"type\" \"download\"}", RESMGR_ERR_JSON);
    REJECT("{'type':'download'}", RESMGR_ERR_JSON);
    REJECT("{type:\"download\"}", RESMGR_ERR_JSON);
    REJECT("{\"type\":\"report_upload_progress_rsp\"} trailing", RESMGR_ERR_JSON);
    REJECT("{\"type\":\"report_upload_progress_rsp\"}{}", RESMGR_ERR_JSON);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"x\":01}", RESMGR_ERR_JSON);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"x\":NaN}", RESMGR_ERR_JSON);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"x\":\"unterminated}", RESMGR_ERR_JSON);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"x\":\"bad \\q escape\"}",
           RESMGR_ERR_JSON);
    resmgr_client_free(c);
    rec_free(r);
}

static void json_that_is_not_an_object_is_a_json_error(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    REJECT("[1,2]", RESMGR_ERR_JSON);
    REJECT("[]", RESMGR_ERR_JSON);
    REJECT("[{\"type\":\"download\"}]", RESMGR_ERR_JSON);
    REJECT("[\"download\",10,\"AAAA\",\"" MD5_ABC "\",\"" GOOD_URL "\"]", RESMGR_ERR_JSON);
    REJECT("\"x\"", RESMGR_ERR_JSON);
    REJECT("5", RESMGR_ERR_JSON);
    REJECT("-1.5e3", RESMGR_ERR_JSON);
    REJECT("true", RESMGR_ERR_JSON);
    REJECT("null", RESMGR_ERR_JSON);
    resmgr_client_free(c);
    rec_free(r);
}

static void empty_payload_is_a_json_error(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    REJECT_LEN(NULL, 0, RESMGR_ERR_JSON);
    REJECT_LEN("{}", 0, RESMGR_ERR_JSON); /* non-NULL pointer, no bytes */
    REJECT(" \t\r\n", RESMGR_ERR_JSON);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* type                                                                 */
/* ------------------------------------------------------------------ */

static void missing_type_is_a_message_type_error(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    REJECT("{}", RESMGR_ERR_MESSAGE_TYPE);
    REJECT("{\"name\":\"x\"}", RESMGR_ERR_MESSAGE_TYPE);
    REJECT("{\"Type\":\"download\",\"size\":1}", RESMGR_ERR_MESSAGE_TYPE);
    REJECT("{\"report\":{\"type\":\"download\"}}", RESMGR_ERR_MESSAGE_TYPE);
    resmgr_client_free(c);
    rec_free(r);
}

static void non_string_type_is_a_message_type_error(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    REJECT("{\"type\":5}", RESMGR_ERR_MESSAGE_TYPE);
    REJECT("{\"type\":null}", RESMGR_ERR_MESSAGE_TYPE);
    REJECT("{\"type\":{}}", RESMGR_ERR_MESSAGE_TYPE);
    REJECT("{\"type\":[]}", RESMGR_ERR_MESSAGE_TYPE);
    REJECT("{\"type\":[\"download\"]}", RESMGR_ERR_MESSAGE_TYPE);
    REJECT("{\"type\":true}", RESMGR_ERR_MESSAGE_TYPE);
    REJECT("{\"type\":{\"type\":\"download\"}}", RESMGR_ERR_MESSAGE_TYPE);
    resmgr_client_free(c);
    rec_free(r);
}

static void unknown_type_is_an_unknown_message(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char *long_type = repeat_char('t', 1000);
    char buf[1100];
    REJECT("{\"type\":\"nope\"}", RESMGR_ERR_UNKNOWN_MESSAGE);
    CHECK_CONTAINS(r->events[0].detail, "nope");
    REJECT("{\"type\":\"\"}", RESMGR_ERR_UNKNOWN_MESSAGE);
    REJECT("{\"type\":\"DOWNLOAD\",\"size\":1}", RESMGR_ERR_UNKNOWN_MESSAGE);
    CHECK_CONTAINS(r->events[0].detail, "DOWNLOAD");
    REJECT("{\"type\":\"download \"}", RESMGR_ERR_UNKNOWN_MESSAGE);
    /* Types that are up messages are not down messages. */
    REJECT("{\"type\":\"create_upload_task\",\"size\":1,\"name\":\"a\",\"md5sum\":\"" MD5_ABC
           "\"}",
           RESMGR_ERR_UNKNOWN_MESSAGE);
    REJECT("{\"type\":\"get_download_task\"}", RESMGR_ERR_UNKNOWN_MESSAGE);
    REJECT(fmt_msg(buf, sizeof buf, "{\"type\":\"%s\"}", long_type),
           RESMGR_ERR_UNKNOWN_MESSAGE);
    REJECT("{\"type\":\"a\\u0000b\"}", RESMGR_ERR_UNKNOWN_MESSAGE);
    free(long_type);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* Fields                                                               */
/* ------------------------------------------------------------------ */

static void missing_fields_are_missing_field_errors(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    static const char *fields[] = {"size", "name", "md5sum", "url"};
    static const char *types[] = {"create_upload_task_rsp", "download", "get_download_task_rsp"};
    char buf[1024];
    size_t f, t;
    CHECK_STATUS(resmgr_client_create_upload_task(c, "AAAA", 10, MD5_ABC), RESMGR_OK);
    for (t = 0; t < 3; t++) {
        for (f = 0; f < 4; f++) {
            if (t == 2) {
                CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
            }
            REJECT(download_with(buf, sizeof buf, types[t], fields[f], NULL),
                   RESMGR_ERR_MISSING_FIELD);
        }
    }
    REJECT("{\"type\":\"upload_result\"}", RESMGR_ERR_MISSING_FIELD);
    REJECT("{\"type\":\"upload_result\",\"report\":{\"progress\":{}}}",
           RESMGR_ERR_MISSING_FIELD);
    /* The upload task is still waiting for its URL. */
    ACCEPT(download_with(buf, sizeof buf, "create_upload_task_rsp", "", NULL),
           RESMGR_EVENT_UPLOAD_URL);
    resmgr_client_free(c);
    rec_free(r);
}

static void invalid_sizes_are_invalid_size_errors(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    static const char *bad[] = {"\"100\"", "\"\"",   "-1",   "-0",   "1.5",  "1.0",
                                "1e3",     "1E3",    "10e0", "18446744073709551616",
                                "99999999999999999999999999", "true", "{}", "[]",
                                "[10]"};
    char buf[1024];
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REJECT(download_with(buf, sizeof buf, "download", "size", bad[i]),
               RESMGR_ERR_INVALID_SIZE);
    }
    /* The rejected pushes created no task. */
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", 0, NULL), RESMGR_ERR_NO_TASK);
    resmgr_client_free(c);
    rec_free(r);
}

static void extreme_sizes_are_accepted(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char buf[1024];
    ACCEPT(download_with(buf, sizeof buf, "download", "size", "0"),
           RESMGR_EVENT_DOWNLOAD_TASK);
    CHECK_EQ_U64(r->events[0].size, 0);
    CHECK_STATUS(resmgr_client_report_download_progress(c, "AAAA", RESMGR_STATE_DONE, 0, 0,
                                                        NULL),
                 RESMGR_OK);
    ACCEPT(download_with(buf, sizeof buf, "download", "size", "18446744073709551615"),
           RESMGR_EVENT_DOWNLOAD_TASK);
    CHECK_EQ_U64(r->events[0].size, UINT64_MAX);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", UINT64_MAX, NULL), RESMGR_OK);
    resmgr_client_free(c);
    rec_free(r);
}

static void invalid_md5_values_are_invalid_md5_errors(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    static const char *bad[] = {
        "\"abc\"",
        "\"\"",
        "\"900150983cd24fb0d6963f7d28e17f7\"",
        "\"900150983cd24fb0d6963f7d28e17f720\"",
        "\"z00150983cd24fb0d6963f7d28e17f72\"",
        "\"900150983cd24fb0d6963f7d28e17f7 \"",
        "\"900150983cd24fb0-6963f7d28e17f72\"",
        "\"kAFQmDzST7DWlj99KOF/cg==\"",
        "5",
        "[\"" MD5_ABC "\"]",
    };
    char buf[1024];
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REJECT(download_with(buf, sizeof buf, "download", "md5sum", bad[i]),
               RESMGR_ERR_INVALID_MD5);
    }
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", 0, NULL), RESMGR_ERR_NO_TASK);
    resmgr_client_free(c);
    rec_free(r);
}

static void invalid_urls_are_invalid_url_errors(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    static const char *bad[] = {
        "\"ftp://h/x\"",
        "\"file:///etc/passwd\"",
        "\"javascript:alert(1)\"",
        "\"//h/x\"",
        "\"h/x\"",
        "\"http://h/a b\"",
        "\"http://h/a\\u0001\"",
        "\"http://h/a\\nb\"",
        "\"http://h/a\\u0000b\"",
        "\"http://h/\\u00e9\"",
        "\"https://user@h/x\"",
        "\"https://user:pw@h/x\"",
        "\"http://h:0/x\"",
        "\"http://h:65536/x\"",
        "\"http://h:99999999/x\"",
        "\"http://h:-1/x\"",
        "\"http://h:/x\"",
        "\"http:///x\"",
        "\"\"",
        "7",
        "{}",
    };
    char buf[16384];
    char *long_url;
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REJECT(download_with(buf, sizeof buf, "download", "url", bad[i]), RESMGR_ERR_INVALID_URL);
    }
    /* RESMGR_MAX_URL_LEN + 1 bytes */
    long_url = repeat_char('a', RESMGR_MAX_URL_LEN + 1 + 2);
    memcpy(long_url, "\"http://h/", 10);
    long_url[RESMGR_MAX_URL_LEN + 2] = '"';
    REJECT(download_with(buf, sizeof buf, "download", "url", long_url), RESMGR_ERR_INVALID_URL);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", 0, NULL), RESMGR_ERR_NO_TASK);
    /* exactly RESMGR_MAX_URL_LEN bytes is fine */
    long_url[RESMGR_MAX_URL_LEN + 1] = '"';
    long_url[RESMGR_MAX_URL_LEN + 2] = '\0';
    ACCEPT(download_with(buf, sizeof buf, "download", "url", long_url),
           RESMGR_EVENT_DOWNLOAD_TASK);
    CHECK_EQ_INT(strlen(r->events[0].url), RESMGR_MAX_URL_LEN);
    free(long_url);
    resmgr_client_free(c);
    rec_free(r);
}

static void acceptable_urls_are_accepted(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    static const char *good[] = {
        "\"http://h/x\"",
        "\"https://h:1/x\"",
        "\"https://h:65535/x\"",
        "\"HTTPS://H.EXAMPLE.COM/x?y=1&z=%2F#frag\"",
        "\"http://127.0.0.1:9000/bucket/key\"",
        "\"http://[::1]:8080/x\"",
        "\"https://h\"",
    };
    static const char *expect[] = {
        "http://h/x",
        "https://h:1/x",
        "https://h:65535/x",
        "HTTPS://H.EXAMPLE.COM/x?y=1&z=%2F#frag",
        "http://127.0.0.1:9000/bucket/key",
        "http://[::1]:8080/x",
        "https://h",
    };
    char buf[1024];
    size_t i;
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        char name[16];
        char quoted[20];
        snprintf(name, sizeof name, "n%zu", i);
        snprintf(quoted, sizeof quoted, "\"%s\"", name);
        /* distinct names so each is a new task */
        (void)download_with(buf, sizeof buf, "download", "url", good[i]);
        {
            char msg[1200];
            char *p = strstr(buf, "\"AAAA\"");
            if (p == NULL) {
                CHECK_FAIL("download_with lost the name");
                continue;
            }
            *p = '\0';
            snprintf(msg, sizeof msg, "%s%s%s", buf, quoted, p + 6);
            ACCEPT(msg, RESMGR_EVENT_DOWNLOAD_TASK);
        }
        CHECK_STR(r->events[0].url, expect[i]);
    }
    resmgr_client_free(c);
    rec_free(r);
}

static void invalid_names_are_invalid_name_errors(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    static const char *bad[] = {
        "\"\"", "\"a\\nb\"", "\"a\\u0000b\"", "\"\\u0000\"", "\"a\\tb\"", "\"\\u007f\"",
        "\"\\u0085\"", "\"a\\rb\"", "5", "[\"a\"]", "{}",
    };
    char buf[2048];
    char *long_name = repeat_char('n', RESMGR_MAX_NAME_LEN + 3);
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REJECT(download_with(buf, sizeof buf, "download", "name", bad[i]),
               RESMGR_ERR_INVALID_NAME);
    }
    CHECK_STATUS(resmgr_client_create_upload_task(c, "AAAA", 10, MD5_ABC), RESMGR_OK);
    REJECT(download_with(buf, sizeof buf, "create_upload_task_rsp", "name", "\"\""),
           RESMGR_ERR_INVALID_NAME);
    REJECT(download_with(buf, sizeof buf, "create_upload_task_rsp", "name", "\"A\\nA\""),
           RESMGR_ERR_INVALID_NAME);
    /* RESMGR_MAX_NAME_LEN + 1 bytes */
    long_name[0] = '"';
    long_name[RESMGR_MAX_NAME_LEN + 2] = '"';
    REJECT(download_with(buf, sizeof buf, "download", "name", long_name),
           RESMGR_ERR_INVALID_NAME);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", 0, NULL), RESMGR_ERR_NO_TASK);
    /* exactly RESMGR_MAX_NAME_LEN bytes is fine */
    long_name[RESMGR_MAX_NAME_LEN + 1] = '"';
    long_name[RESMGR_MAX_NAME_LEN + 2] = '\0';
    ACCEPT(download_with(buf, sizeof buf, "download", "name", long_name),
           RESMGR_EVENT_DOWNLOAD_TASK);
    CHECK_EQ_INT(strlen(r->events[0].name), RESMGR_MAX_NAME_LEN);
    /* the upload task is still waiting */
    ACCEPT(download_with(buf, sizeof buf, "create_upload_task_rsp", "", NULL),
           RESMGR_EVENT_UPLOAD_URL);
    free(long_name);
    resmgr_client_free(c);
    rec_free(r);
}

static void invalid_result_fields_are_invalid_field_errors(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char *long_msg = repeat_char('m', 2000);
    char buf[4096];
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"result_code\":\"0\"}",
           RESMGR_ERR_INVALID_FIELD);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"result_code\":1.5}",
           RESMGR_ERR_INVALID_FIELD);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"result_code\":4294967296}",
           RESMGR_ERR_INVALID_FIELD);
    REJECT("{\"type\":\"report_download_progress_rsp\",\"result_code\":true}",
           RESMGR_ERR_INVALID_FIELD);
    REJECT("{\"type\":\"report_download_progress_rsp\",\"result_code\":0,\"result_msg\":5}",
           RESMGR_ERR_INVALID_FIELD);
    REJECT("{\"type\":\"get_download_task_rsp\",\"result_code\":[1]}", RESMGR_ERR_INVALID_FIELD);
    REJECT("{\"type\":\"upload_result\",\"report\":[1]}", RESMGR_ERR_INVALID_FIELD);
    REJECT("{\"type\":\"upload_result\",\"report\":\"done\"}", RESMGR_ERR_INVALID_FIELD);
    REJECT("{\"type\":\"upload_result\",\"report\":{\"progress\":5}}", RESMGR_ERR_INVALID_FIELD);
    REJECT(fmt_msg(buf, sizeof buf,
                   "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0,"
                   "\"result_msg\":\"%s\"}",
                   long_msg),
           RESMGR_ERR_INVALID_FIELD);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"result_msg\":\"a\\u0000b\"}",
           RESMGR_ERR_INVALID_FIELD);
    free(long_msg);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* Size, encoding, structure                                            */
/* ------------------------------------------------------------------ */

/* A valid message padded (with an unknown field) to exactly `len` bytes. */
static char *padded_message(size_t len)
{
    const char *head = "{\"type\":\"upload_result\",\"report\":{\"progress\":{\"result_code\":0}},"
                       "\"pad\":\"";
    const char *tail = "\"}";
    size_t h = strlen(head), t = strlen(tail);
    char *m = repeat_char('x', len);
    memcpy(m, head, h);
    memcpy(m + len - t, tail, t);
    return m;
}

static void payload_over_the_limit_is_too_large(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char *at_limit = padded_message(RESMGR_MAX_PAYLOAD_LEN);
    char *over = padded_message(RESMGR_MAX_PAYLOAD_LEN + 1);
    char *huge = padded_message(1000000);
    ACCEPT(at_limit, RESMGR_EVENT_UPLOAD_RESULT);
    REJECT(over, RESMGR_ERR_PAYLOAD_TOO_LARGE);
    REJECT(huge, RESMGR_ERR_PAYLOAD_TOO_LARGE);
    free(at_limit);
    free(over);
    free(huge);
    resmgr_client_free(c);
    rec_free(r);
}

static void invalid_utf8_is_a_utf8_error(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    REJECT("{\"type\":\"down\xffload\"}", RESMGR_ERR_UTF8);
    REJECT("\xff", RESMGR_ERR_UTF8);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"x\":\"\xc0\xaf\"}", RESMGR_ERR_UTF8);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"x\":\"\xed\xa0\x80\"}", RESMGR_ERR_UTF8);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"x\":\"\xf4\x90\x80\x80\"}",
           RESMGR_ERR_UTF8);
    REJECT("{\"type\":\"report_upload_progress_rsp\"}\xe6\x97", RESMGR_ERR_UTF8);
    REJECT("{\"type\":\"download\",\"size\":1,\"name\":\"a\x80\",\"md5sum\":\"" MD5_ABC
           "\",\"url\":\"" GOOD_URL "\"}",
           RESMGR_ERR_UTF8);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "a\x80", 0, NULL), RESMGR_ERR_UTF8);
    resmgr_client_free(c);
    rec_free(r);
}

static void deeply_nested_json_is_refused(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    const char *head = "{\"type\":\"report_upload_progress_rsp\",\"deep\":";
    size_t h = strlen(head);
    size_t depth;
    char *m = (char *)xmalloc(h + 2 * 10000 + 2);
    /* 10000 levels, never closed */
    memcpy(m, head, h);
    memset(m + h, '[', 10000);
    m[h + 10000] = '\0';
    REJECT(m, RESMGR_ERR_JSON);
    /* 8000 levels, properly closed (fits under the payload limit) */
    depth = 8000;
    memset(m + h, '[', depth);
    memset(m + h + depth, ']', depth);
    m[h + 2 * depth] = '}';
    m[h + 2 * depth + 1] = '\0';
    REJECT(m, RESMGR_ERR_JSON);
    /* 10000 levels closed is over the payload limit before anything else */
    depth = 10000;
    memset(m + h, '[', depth);
    memset(m + h + depth, ']', depth);
    m[h + 2 * depth] = '}';
    m[h + 2 * depth + 1] = '\0';
    REJECT(m, RESMGR_ERR_PAYLOAD_TOO_LARGE);
    /* objects too */
    {
        size_t n = 0, i;
        n += (size_t)sprintf(m, "{\"type\":\"report_upload_progress_rsp\",\"deep\":");
        for (i = 0; i < 2000; i++) {
            memcpy(m + n, "{\"a\":", 5);
            n += 5;
        }
        m[n++] = '1';
        memset(m + n, '}', 2001);
        n += 2001;
        m[n] = '\0';
        REJECT(m, RESMGR_ERR_JSON);
    }
    /* Brackets inside strings are not nesting, and modest nesting (as in
     * real messages) is fine. */
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_IN_PROGRESS, 1, 0,
                                                      NULL),
                 RESMGR_OK);
    ACCEPT("{\"type\":\"report_upload_progress_rsp\",\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
           "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\",\"d\":[[[[[[[[[[1]]]]]]]]]]}",
           RESMGR_EVENT_PROGRESS_ACK);
    free(m);
    resmgr_client_free(c);
    rec_free(r);
}

static void duplicate_keys_are_a_json_error(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    REJECT("{\"type\":\"download\",\"type\":\"download\"}", RESMGR_ERR_JSON);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"type\":\"download\"}", RESMGR_ERR_JSON);
    REJECT("{\"type\":\"download\",\"size\":10,\"name\":\"AAAA\",\"name\":\"BBBB\",\"md5sum\":\"" MD5_ABC
           "\",\"url\":\"" GOOD_URL "\"}",
           RESMGR_ERR_JSON);
    REJECT("{\"type\":\"download\",\"size\":10,\"name\":\"AAAA\",\"md5sum\":\"" MD5_ABC
           "\",\"url\":\"" GOOD_URL "\",\"url\":\"https://evil.example.com/x\"}",
           RESMGR_ERR_JSON);
    REJECT("{\"type\":\"report_upload_progress_rsp\",\"result_code\":0,\"result_code\":-1}",
           RESMGR_ERR_JSON);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", 0, NULL), RESMGR_ERR_NO_TASK);
    /* Only a field the library reads may not come twice (the header's
     * RESMGR_ERR_JSON); unknown fields are ignored, repeated or not. */
    ACCEPT("{\"type\":\"report_upload_progress_rsp\",\"x\":1,\"x\":2}", RESMGR_EVENT_UNMATCHED_RESPONSE);
    REJECT("{\"type\":\"upload_result\",\"report\":{\"progress\":{\"result_code\":0,"
           "\"result_code\":-4}}}",
           RESMGR_ERR_JSON);
    resmgr_client_free(c);
    rec_free(r);
}

static void payload_need_not_be_nul_terminated(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    const char *json = "{\"type\":\"download\",\"size\":10,\"name\":\"AAAA\",\"md5sum\":\"" MD5_ABC
                       "\",\"url\":\"" GOOD_URL "\"}";
    size_t len = strlen(json);
    /* An exact-size heap copy: any read past `len` is a valgrind error. */
    char *exact = (char *)xmalloc(len);
    /* The message followed by junk that would make it invalid JSON. */
    char *junk = (char *)xmalloc(len + 16);
    memcpy(exact, json, len);
    CHECK_STATUS(feed_len(c, exact, len), RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_DOWNLOAD_TASK, .direction = RESMGR_DIRECTION_DOWNLOAD,
                .name = "AAAA", .size = 10, .md5 = MD5_ABC, .content_md5 = MD5_ABC_B64,
                .url = GOOD_URL, .pushed = true);
    memcpy(junk, json, len);
    memcpy(junk + len, "}]\"garbage\xff\xfe", 12);
    memset(junk + len + 12, 'x', 4);
    rec_clear(r);
    CHECK_STATUS(feed_len(c, junk, len), RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK(r->n_events == 1 && r->events[0].kind == RESMGR_EVENT_URL_REFRESHED);
    /* and only `len` bytes: one byte short is an unterminated object */
    REJECT_LEN(junk, len - 1, RESMGR_ERR_JSON);
    free(exact);
    free(junk);
    resmgr_client_free(c);
    rec_free(r);
}

static void messages_on_other_topics_are_wrong_topic_errors(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    const char *msg = "{\"type\":\"download\",\"size\":10,\"name\":\"AAAA\",\"md5sum\":\"" MD5_ABC
                      "\",\"url\":\"" GOOD_URL "\"}";
    REJECT_ON_TOPIC("$resource/down/service/PROD1/dev2", msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC("$resource/down/service/PROD2/dev1", msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC(UP_TOPIC, msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC("", msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC("$resource/down/service/PROD1/dev", msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC("$resource/down/service/PROD1/dev1/", msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC("$resource/down/service/PROD1/dev11", msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC("$resource/down/service/prod1/dev1", msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC("$resource/down/service/PROD1/+", msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC("$resource/down/service/#", msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC("$resource/down/service/PROD1/dev1\xff", msg, RESMGR_ERR_WRONG_TOPIC);
    REJECT_ON_TOPIC(" $resource/down/service/PROD1/dev1", msg, RESMGR_ERR_WRONG_TOPIC);
    /* None of them created the task. */
    CHECK_STATUS(resmgr_client_track_download_progress(c, "AAAA", 0, NULL), RESMGR_ERR_NO_TASK);
    ACCEPT(msg, RESMGR_EVENT_DOWNLOAD_TASK);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* Bad arguments                                                        */
/* ------------------------------------------------------------------ */

#define CHECK_NULL_ARG(call)                        \
    do {                                            \
        CHECK_STATUS((call), RESMGR_ERR_NULL_ARG);  \
        CHECK_ERROR_MESSAGE();                      \
    } while (0)

static void null_pointer_arguments_are_refused(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    resmgr_client *out = NULL;
    resmgr_md5 *h = resmgr_md5_new();
    resmgr_digest d;
    uint64_t size = 0;
    bool pub = false;
    char path[64];
    FILE *f;

    /* a real file, so that only the NULL matters */
    snprintf(path, sizeof path, "%s/resmgr-null-args-XXXXXX",
             getenv("TMPDIR") != NULL && getenv("TMPDIR")[0] != '\0' &&
                     strlen(getenv("TMPDIR")) < 32
                 ? getenv("TMPDIR")
                 : "/tmp");
    {
        int fd = mkstemp(path);
        if (fd < 0) {
            CHECK_FAIL("mkstemp failed");
        } else {
            f = fdopen(fd, "wb");
            if (f != NULL) {
                fputs("abc", f);
                fclose(f);
            }
        }
    }

    /* resmgr_client_new */
    CHECK_NULL_ARG(resmgr_client_new(NULL, "dev1", rec_publish_cb, rec_event_cb, r, &out));
    CHECK_NULL_ARG(resmgr_client_new("PROD1", NULL, rec_publish_cb, rec_event_cb, r, &out));
    CHECK_NULL_ARG(resmgr_client_new("PROD1", "dev1", NULL, rec_event_cb, r, &out));
    CHECK_NULL_ARG(resmgr_client_new("PROD1", "dev1", rec_publish_cb, rec_event_cb, r, NULL));
    CHECK(out == NULL);
    /* on_event and user are optional */
    CHECK_STATUS(resmgr_client_new("PROD1", "dev1", rec_publish_cb, NULL, NULL, &out),
                 RESMGR_OK);
    CHECK(out != NULL);
    resmgr_client_free(out);

    /* value getters */
    CHECK(resmgr_client_up_topic(NULL) == NULL);
    CHECK(resmgr_client_down_topic(NULL) == NULL);
    resmgr_client_free(NULL);

    CHECK_NULL_ARG(resmgr_client_set_progress_throttle(NULL, 0, 1));

    CHECK_NULL_ARG(resmgr_client_create_upload_task(NULL, "zxc", 3, MD5_ABC));
    CHECK_NULL_ARG(resmgr_client_create_upload_task(c, NULL, 3, MD5_ABC));
    CHECK_NULL_ARG(resmgr_client_create_upload_task(c, "zxc", 3, NULL));

    CHECK_NULL_ARG(resmgr_client_create_upload_task_from_file(NULL, path, NULL, &d, &size));
    CHECK_NULL_ARG(resmgr_client_create_upload_task_from_file(c, NULL, "x", &d, &size));
    CHECK_NULL_ARG(resmgr_client_create_upload_task_from_file(c, NULL, NULL, NULL, NULL));

    CHECK_NULL_ARG(resmgr_client_get_download_task(NULL));

    CHECK_NULL_ARG(resmgr_client_handle_down_message(NULL, DOWN_TOPIC,
                                                     (const uint8_t *)"{}", 2));
    CHECK_NULL_ARG(resmgr_client_handle_down_message(c, NULL, (const uint8_t *)"{}", 2));
    CHECK_NULL_ARG(resmgr_client_handle_down_message(c, DOWN_TOPIC, NULL, 2));

    CHECK_NULL_ARG(resmgr_client_report_upload_progress(NULL, "zxc", RESMGR_STATE_DONE, 0, 0,
                                                        NULL));
    CHECK_NULL_ARG(resmgr_client_report_upload_progress(c, NULL, RESMGR_STATE_DONE, 0, 0, NULL));
    CHECK_NULL_ARG(resmgr_client_report_download_progress(NULL, "zxc", RESMGR_STATE_DONE, 0, 0,
                                                          NULL));
    CHECK_NULL_ARG(
        resmgr_client_report_download_progress(c, NULL, RESMGR_STATE_DONE, 0, 0, NULL));

    CHECK_NULL_ARG(resmgr_client_track_upload_progress(NULL, "zxc", 0, &pub));
    CHECK_NULL_ARG(resmgr_client_track_upload_progress(c, NULL, 0, &pub));
    CHECK_NULL_ARG(resmgr_client_track_download_progress(NULL, "zxc", 0, &pub));
    CHECK_NULL_ARG(resmgr_client_track_download_progress(c, NULL, 0, &pub));

    CHECK_NULL_ARG(resmgr_md5_update(NULL, (const uint8_t *)"abc", 3));
    CHECK_NULL_ARG(resmgr_md5_update(NULL, NULL, 0));
    CHECK_NULL_ARG(resmgr_md5_update(h, NULL, 3));
    CHECK_NULL_ARG(resmgr_md5_finish(NULL, &d));
    CHECK_NULL_ARG(resmgr_md5_finish(h, NULL));
    resmgr_md5_free(NULL);

    CHECK_NULL_ARG(resmgr_md5_file(NULL, &d, &size));
    CHECK_NULL_ARG(resmgr_md5_file(path, NULL, &size));

    /* None of the refused calls published anything or raised an event. */
    CHECK_N_PUBS(r, 0);
    CHECK_N_EVENTS(r, 0);

    /* The optional pointers are optional. */
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, path, NULL, NULL, NULL),
                 RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, path, "named", NULL, &size),
                 RESMGR_OK);
    CHECK_EQ_U64(size, 3);
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, path, "named2", &d, NULL),
                 RESMGR_OK);
    CHECK_STR(d.hex, MD5_ABC);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -1, NULL),
                 RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "named", 1, NULL), RESMGR_OK);
    CHECK_STATUS(resmgr_md5_update(h, NULL, 0), RESMGR_OK);
    CHECK_STATUS(resmgr_md5_file(path, &d, NULL), RESMGR_OK);
    CHECK_STR(d.hex, MD5_ABC);
    /* NULL payload with len 0 is an (empty) message, not a NULL error */
    rec_clear(r);
    CHECK_STATUS(resmgr_client_handle_down_message(c, DOWN_TOPIC, NULL, 0), RESMGR_ERR_JSON);
    CHECK_N_EVENTS(r, 1);
    /* resmgr_last_error with NULL, 0 gives the length */
    CHECK(resmgr_last_error(NULL, 0) > 0);

    unlink(path);
    resmgr_md5_free(h);
    resmgr_client_free(c);
    rec_free(r);
}

static void invalid_utf8_string_arguments_are_utf8_errors(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    resmgr_client *out = NULL;
    resmgr_digest d;
    const char *bad = "ab\xff";
    const char *bad_md5 = "900150983cd24fb0d6963f7d28e17f\xc3\xa9"; /* 32 bytes, 31 chars */

    CHECK_STATUS(resmgr_client_new(bad, "dev1", rec_publish_cb, NULL, r, &out), RESMGR_ERR_UTF8);
    CHECK_ERROR_MESSAGE();
    CHECK_STATUS(resmgr_client_new("PROD1", "dev\xc3", rec_publish_cb, NULL, r, &out),
                 RESMGR_ERR_UTF8);
    CHECK(out == NULL);
    CHECK_STATUS(resmgr_client_create_upload_task(c, bad, 3, MD5_ABC), RESMGR_ERR_UTF8);
    CHECK_ERROR_MESSAGE();
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 3, "\xff"), RESMGR_ERR_UTF8);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 3, bad_md5), RESMGR_ERR_INVALID_MD5);
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, "/tmp/\xff", NULL, NULL, NULL),
                 RESMGR_ERR_UTF8);
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, "/dev/null", bad, NULL, NULL),
                 RESMGR_ERR_UTF8);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, bad, RESMGR_STATE_DONE, 0, 0, NULL),
                 RESMGR_ERR_UTF8);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -1, bad),
                 RESMGR_ERR_UTF8);
    CHECK_STATUS(resmgr_client_report_download_progress(c, bad, RESMGR_STATE_DONE, 0, 0, NULL),
                 RESMGR_ERR_UTF8);
    CHECK_STATUS(
        resmgr_client_report_download_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -1, "\xe6\x97"),
        RESMGR_ERR_UTF8);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, bad, 0, NULL), RESMGR_ERR_UTF8);
    CHECK_STATUS(resmgr_client_track_download_progress(c, bad, 0, NULL), RESMGR_ERR_UTF8);
    CHECK_ERROR_MESSAGE();
    CHECK_STATUS(resmgr_md5_file("/tmp/\xff\xfe", &d, NULL), RESMGR_ERR_UTF8);
    CHECK_N_PUBS(r, 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void invalid_product_ids_and_device_names_are_invalid_id_errors(void)
{
    recorder *r = rec_new();
    static const char *bad[] = {"", "a/b", "a+b", "+", "#", "a#", "a b", "caf\xc3\xa9",
                                "a\tb", "$sys", "a*", "\xe2\x80\x8b"};
    char *long_product = repeat_char('p', 11);
    char *long_device = repeat_char('d', 49);
    resmgr_client *out = NULL;
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(resmgr_client_new(bad[i], "dev1", rec_publish_cb, NULL, r, &out),
                     RESMGR_ERR_INVALID_ID);
        CHECK_ERROR_MESSAGE();
        CHECK_STATUS(resmgr_client_new("PROD1", bad[i], rec_publish_cb, NULL, r, &out),
                     RESMGR_ERR_INVALID_ID);
        CHECK_ERROR_MESSAGE();
    }
    CHECK_STATUS(resmgr_client_new(long_product, "dev1", rec_publish_cb, NULL, r, &out),
                 RESMGR_ERR_INVALID_ID);
    CHECK_STATUS(resmgr_client_new("PROD1", long_device, rec_publish_cb, NULL, r, &out),
                 RESMGR_ERR_INVALID_ID);
    CHECK(out == NULL);
    long_product[10] = '\0';
    long_device[48] = '\0';
    CHECK_STATUS(resmgr_client_new(long_product, long_device, rec_publish_cb, NULL, r, &out),
                 RESMGR_OK);
    resmgr_client_free(out);
    free(long_product);
    free(long_device);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* A failing publish callback                                           */
/* ------------------------------------------------------------------ */

static void failing_publish_fails_create_upload_task_without_creating_it(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    r->publish_result = -1;
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 3, MD5_ABC), RESMGR_ERR_PUBLISH);
    CHECK_ERROR_MESSAGE();
    CHECK_N_PUBS(r, 1); /* it was tried */
    r->publish_result = 0;
    /* Not created: neither a conflict nor a task to report on. */
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 1, NULL), RESMGR_ERR_NO_TASK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 43, MD5_FOX), RESMGR_OK);
    /* A URL for the failed one matches nothing. */
    rec_clear(r);
    CHECK_STATUS(upload_url_rsp(c, "zxc", 3, MD5_ABC, GOOD_URL), RESMGR_OK);
    CHECK_LAST_EVENT(r, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                     .message_type = "create_upload_task_rsp", .name = "zxc", .detail = "");
    /* Any non-zero return is a failure. */
    r->publish_result = 1;
    CHECK_STATUS(resmgr_client_create_upload_task(c, "one", 3, MD5_ABC), RESMGR_ERR_PUBLISH);
    r->publish_result = INT_MIN;
    CHECK_STATUS(resmgr_client_create_upload_task(c, "two", 3, MD5_ABC), RESMGR_ERR_PUBLISH);
    r->publish_result = 0;
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "one", 1, NULL), RESMGR_ERR_NO_TASK);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "two", 1, NULL), RESMGR_ERR_NO_TASK);
    /* Re-requesting a task in flight fails without losing it. */
    r->publish_result = -1;
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 43, MD5_FOX), RESMGR_ERR_PUBLISH);
    r->publish_result = 0;
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 43, NULL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 3, MD5_ABC),
                 RESMGR_ERR_TASK_CONFLICT);
    resmgr_client_free(c);
    rec_free(r);
}

static void failing_publish_fails_get_download_task_without_expecting_an_answer(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    r->publish_result = -1;
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_ERR_PUBLISH);
    CHECK_ERROR_MESSAGE();
    r->publish_result = 0;
    CHECK_STATUS(feed(c, "{\"type\":\"get_download_task_rsp\"}"), RESMGR_OK);
    CHECK_N_EVENTS(r, 1);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "get_download_task_rsp", .detail = "");
    resmgr_client_free(c);
    rec_free(r);
}

static void failing_publish_fails_reports_and_keeps_the_task(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(push_download(c, "dl", 100, MD5_ABC, GOOD_URL), RESMGR_OK);
    r->publish_result = -1;
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_DONE, 0, 0, NULL),
                 RESMGR_ERR_PUBLISH);
    CHECK_ERROR_MESSAGE();
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -1, NULL),
                 RESMGR_ERR_PUBLISH);
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_IN_PROGRESS, 5, 0, NULL),
        RESMGR_ERR_PUBLISH);
    CHECK_STATUS(
        resmgr_client_report_download_progress(c, "dl", RESMGR_STATE_DONE, 0, 0, NULL),
        RESMGR_ERR_PUBLISH);
    CHECK_ERROR_MESSAGE();
    r->publish_result = 0;
    /* The tasks are kept. */
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 10, NULL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl", 10, NULL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 7, MD5_FOX),
                 RESMGR_ERR_TASK_CONFLICT);
    /* Only the two reports that went out are waiting for acks. */
    rec_clear(r);
    CHECK_STATUS(feed(c, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0}"),
                 RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"report_upload_progress_rsp\",\"result_code\":0}"),
                 RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"report_download_progress_rsp\",\"result_code\":0}"),
                 RESMGR_OK);
    CHECK_STATUS(feed(c, "{\"type\":\"report_download_progress_rsp\",\"result_code\":0}"),
                 RESMGR_OK);
    CHECK_N_EVENTS(r, 4);
    CHECK_EVENT(r, 0, .kind = RESMGR_EVENT_PROGRESS_ACK, .direction = RESMGR_DIRECTION_UPLOAD,
                .name = "zxc");
    CHECK_EVENT(r, 1, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "report_upload_progress_rsp", .detail = "");
    CHECK_EVENT(r, 2, .kind = RESMGR_EVENT_PROGRESS_ACK, .direction = RESMGR_DIRECTION_DOWNLOAD,
                .name = "dl");
    CHECK_EVENT(r, 3, .kind = RESMGR_EVENT_UNMATCHED_RESPONSE,
                .message_type = "report_download_progress_rsp", .detail = "");
    resmgr_client_free(c);
    rec_free(r);
}

static void throttled_report_that_failed_is_sent_once_publish_works(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    bool pub = true;
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 3600000, 1), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(push_download(c, "dl", 100, MD5_ABC, GOOD_URL), RESMGR_OK);
    rec_clear(r);

    /* The first report fails... */
    r->publish_result = -1;
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 50, &pub), RESMGR_ERR_PUBLISH);
    CHECK_ERROR_MESSAGE();
    CHECK_EQ_INT(pub, true); /* out-parameters are written only on success */
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl", 50, &pub), RESMGR_ERR_PUBLISH);
    /* ...and goes out at the next call once publishing works. */
    r->publish_result = 0;
    pub = false;
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 50, &pub), RESMGR_OK);
    CHECK_EQ_INT(pub, true);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"report_upload_progress\",\"name\":\"zxc\",\"progress\":{\"state\":"
                   "\"uploading\",\"percent\":50,\"result_code\":0,\"result_msg\":\"\"}}",
                   0);
    pub = false;
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl", 50, &pub), RESMGR_OK);
    CHECK_EQ_INT(pub, true);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"report_download_progress\",\"name\":\"dl\",\"progress\":{"
                   "\"state\":\"downloading\",\"percent\":50,\"result_code\":0,"
                   "\"result_msg\":\"\"}}",
                   0);

    /* The 100 % report fails; it is not "already sent". */
    r->publish_result = -1;
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 100, &pub), RESMGR_ERR_PUBLISH);
    r->publish_result = 0;
    pub = false;
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 100, &pub), RESMGR_OK);
    CHECK_EQ_INT(pub, true);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"report_upload_progress\",\"name\":\"zxc\",\"progress\":{\"state\":"
                   "\"uploading\",\"percent\":100,\"result_code\":0,\"result_msg\":\"\"}}",
                   0);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 100, &pub), RESMGR_OK);
    CHECK_EQ_INT(pub, false);

    /* With no interval: a failed step is retried at the same percent. */
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 1), RESMGR_OK);
    r->publish_result = -1;
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl", 70, &pub), RESMGR_ERR_PUBLISH);
    r->publish_result = 0;
    pub = false;
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl", 70, &pub), RESMGR_OK);
    CHECK_EQ_INT(pub, true);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"report_download_progress\",\"name\":\"dl\",\"progress\":{"
                   "\"state\":\"downloading\",\"percent\":70,\"result_code\":0,"
                   "\"result_msg\":\"\"}}",
                   0);
    resmgr_client_free(c);
    rec_free(r);
}

int main(void)
{
    RUN_TEST(not_json_is_a_json_error);
    RUN_TEST(json_that_is_not_an_object_is_a_json_error);
    RUN_TEST(empty_payload_is_a_json_error);
    RUN_TEST(missing_type_is_a_message_type_error);
    RUN_TEST(non_string_type_is_a_message_type_error);
    RUN_TEST(unknown_type_is_an_unknown_message);
    RUN_TEST(missing_fields_are_missing_field_errors);
    RUN_TEST(invalid_sizes_are_invalid_size_errors);
    RUN_TEST(extreme_sizes_are_accepted);
    RUN_TEST(invalid_md5_values_are_invalid_md5_errors);
    RUN_TEST(invalid_urls_are_invalid_url_errors);
    RUN_TEST(acceptable_urls_are_accepted);
    RUN_TEST(invalid_names_are_invalid_name_errors);
    RUN_TEST(invalid_result_fields_are_invalid_field_errors);
    RUN_TEST(payload_over_the_limit_is_too_large);
    RUN_TEST(invalid_utf8_is_a_utf8_error);
    RUN_TEST(deeply_nested_json_is_refused);
    RUN_TEST(duplicate_keys_are_a_json_error);
    RUN_TEST(payload_need_not_be_nul_terminated);
    RUN_TEST(messages_on_other_topics_are_wrong_topic_errors);
    RUN_TEST(null_pointer_arguments_are_refused);
    RUN_TEST(invalid_utf8_string_arguments_are_utf8_errors);
    RUN_TEST(invalid_product_ids_and_device_names_are_invalid_id_errors);
    RUN_TEST(failing_publish_fails_create_upload_task_without_creating_it);
    RUN_TEST(failing_publish_fails_get_download_task_without_expecting_an_answer);
    RUN_TEST(failing_publish_fails_reports_and_keeps_the_task);
    RUN_TEST(throttled_report_that_failed_is_sent_once_publish_works);
    return check_summary();
}
