/*
 * test_operations.c: every operation of the public API, driven only through
 * include/resmgr.h, with exact statuses and byte-exact published JSON.
 */
#include "support.h"

#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static char temp_dir[256];

static void make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0' || strlen(base) > 200) {
        base = "/tmp";
    }
    snprintf(temp_dir, sizeof temp_dir, "%s/resmgr-c-test-XXXXXX", base);
    if (mkdtemp(temp_dir) == NULL) {
        CHECK_FAIL("mkdtemp failed");
        temp_dir[0] = '\0';
    }
}

/* Writes `len` bytes to temp_dir/name; returns the malloc'd path. */
static char *write_temp_file(const char *name, const void *data, size_t len)
{
    size_t n = strlen(temp_dir) + strlen(name) + 2;
    char *path = (char *)xmalloc(n);
    FILE *f;
    snprintf(path, n, "%s/%s", temp_dir, name);
    f = fopen(path, "wb");
    if (f == NULL) {
        CHECK_FAIL("cannot create a temporary file");
        return path;
    }
    if (len > 0 && fwrite(data, 1, len, f) != len) {
        CHECK_FAIL("cannot write a temporary file");
    }
    fclose(f);
    return path;
}

static void remove_temp_file(char *path)
{
    if (path != NULL) {
        unlink(path);
        free(path);
    }
}

static const uint8_t ABC_BYTES[16] = {0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0,
                                      0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72};
static const uint8_t EMPTY_BYTES[16] = {0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
                                        0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e};

#define CHECK_DIGEST(d, bytes16, hexstr, b64str)      \
    do {                                              \
        CHECK_MEM((d).bytes, 16, (bytes16), 16);      \
        CHECK_STR((d).hex, (hexstr));                 \
        CHECK_STR((d).base64, (b64str));              \
    } while (0)

#define UP_REPORT(name, progress) \
    "{\"type\":\"report_upload_progress\",\"name\":\"" name "\",\"progress\":" progress "}"
#define DOWN_REPORT(name, progress) \
    "{\"type\":\"report_download_progress\",\"name\":\"" name "\",\"progress\":" progress "}"

/* ------------------------------------------------------------------ */
/* Client lifecycle and topics                                          */
/* ------------------------------------------------------------------ */

static void client_new_returns_a_handle_and_free_releases_it(void)
{
    recorder *r = rec_new();
    resmgr_client *c = NULL;
    CHECK_STATUS(resmgr_client_new("PROD1", "dev1", rec_publish_cb, rec_event_cb, r, &c),
                 RESMGR_OK);
    CHECK(c != NULL);
    CHECK_NO_ERROR_MESSAGE();
    CHECK_N_PUBS(r, 0);
    CHECK_N_EVENTS(r, 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void client_free_null_does_nothing(void)
{
    size_t len;
    /* Leave an error behind: freeing NULL must not touch it either. */
    CHECK_STATUS(resmgr_client_get_download_task(NULL), RESMGR_ERR_NULL_ARG);
    len = resmgr_last_error(NULL, 0);
    CHECK(len > 0);
    resmgr_client_free(NULL);
    resmgr_md5_free(NULL);
    CHECK_EQ_INT(resmgr_last_error(NULL, 0), len);
}

static void client_new_leaves_out_unchanged_on_failure(void)
{
    recorder *r = rec_new();
    resmgr_client *sentinel = (resmgr_client *)(void *)r; /* any recognisable value */
    resmgr_client *c = sentinel;
    CHECK_STATUS(resmgr_client_new("a/b", "dev1", rec_publish_cb, rec_event_cb, r, &c),
                 RESMGR_ERR_INVALID_ID);
    CHECK(c == sentinel);
    CHECK_ERROR_MESSAGE();
    rec_free(r);
}

static void client_without_event_callback_works(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client_ex(r, true);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(upload_url_rsp(c, "zxc", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(feed(c, "hello"), RESMGR_ERR_JSON);
    CHECK_STATUS(feed(c, "{\"type\":\"mystery\"}"), RESMGR_ERR_UNKNOWN_MESSAGE);
    CHECK_N_EVENTS(r, 0);
    CHECK_N_PUBS(r, 1);
    resmgr_client_free(c);
    rec_free(r);
}

static void topic_getters_return_the_device_topics(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    resmgr_client *c2 = NULL;
    const char *up = resmgr_client_up_topic(c);
    const char *down = resmgr_client_down_topic(c);
    CHECK_STR(up, "$resource/up/service/PROD1/dev1");
    CHECK_STR(down, "$resource/down/service/PROD1/dev1");
    /* Owned by the client: the same pointer every time. */
    CHECK(resmgr_client_up_topic(c) == up);
    CHECK(resmgr_client_down_topic(c) == down);

    CHECK_STATUS(resmgr_client_new("ABCDEF1234", "a.b:c@d_e-f", rec_publish_cb, NULL, r, &c2),
                 RESMGR_OK);
    CHECK_STR(resmgr_client_up_topic(c2), "$resource/up/service/ABCDEF1234/a.b:c@d_e-f");
    CHECK_STR(resmgr_client_down_topic(c2), "$resource/down/service/ABCDEF1234/a.b:c@d_e-f");
    /* The first client's topics are untouched by the second. */
    CHECK_STR(resmgr_client_up_topic(c), "$resource/up/service/PROD1/dev1");
    resmgr_client_free(c2);
    resmgr_client_free(c);
    rec_free(r);
}

static void longest_product_id_and_device_name_are_accepted(void)
{
    recorder *r = rec_new();
    resmgr_client *c = NULL;
    char *dev = repeat_char('d', 48);
    CHECK_STATUS(resmgr_client_new("P123456789", dev, rec_publish_cb, NULL, r, &c), RESMGR_OK);
    CHECK(c != NULL);
    resmgr_client_free(c);
    free(dev);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* create_upload_task                                                   */
/* ------------------------------------------------------------------ */

static void create_upload_task_publishes_exact_json_at_qos_1(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_NO_ERROR_MESSAGE();
    CHECK_N_PUBS(r, 1);
    CHECK_PUB(r, 0,
              "{\"type\":\"create_upload_task\",\"size\":100,\"name\":\"zxc\","
              "\"md5sum\":\"900150983cd24fb0d6963f7d28e17f72\"}",
              1);
    CHECK_N_EVENTS(r, 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_sends_md5_in_lowercase(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(
        resmgr_client_create_upload_task(c, "up", 3, "900150983CD24FB0D6963F7D28E17F72"),
        RESMGR_OK);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"create_upload_task\",\"size\":3,\"name\":\"up\","
                   "\"md5sum\":\"900150983cd24fb0d6963f7d28e17f72\"}",
                   1);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_sizes_are_exact_64_bit(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "empty", 0, MD5_EMPTY), RESMGR_OK);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"create_upload_task\",\"size\":0,\"name\":\"empty\","
                   "\"md5sum\":\"d41d8cd98f00b204e9800998ecf8427e\"}",
                   1);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "big", 5000000000ULL, MD5_ABC), RESMGR_OK);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"create_upload_task\",\"size\":5000000000,\"name\":\"big\","
                   "\"md5sum\":\"900150983cd24fb0d6963f7d28e17f72\"}",
                   1);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "max", UINT64_MAX, MD5_ABC), RESMGR_OK);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"create_upload_task\",\"size\":18446744073709551615,"
                   "\"name\":\"max\",\"md5sum\":\"900150983cd24fb0d6963f7d28e17f72\"}",
                   1);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_escapes_the_name_in_json(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "a\"b\\c/d \xc3\xa9", 1, MD5_ABC),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"create_upload_task\",\"size\":1,\"name\":\"a\\\"b\\\\c/d "
                   "\xc3\xa9\",\"md5sum\":\"900150983cd24fb0d6963f7d28e17f72\"}",
                   1);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_refuses_invalid_names(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char *longest = repeat_char('n', RESMGR_MAX_NAME_LEN);
    char *too_long = repeat_char('n', RESMGR_MAX_NAME_LEN + 1);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "", 1, MD5_ABC), RESMGR_ERR_INVALID_NAME);
    CHECK_ERROR_MESSAGE();
    CHECK_STATUS(resmgr_client_create_upload_task(c, too_long, 1, MD5_ABC),
                 RESMGR_ERR_INVALID_NAME);
    CHECK_ERROR_MESSAGE();
    CHECK_STATUS(resmgr_client_create_upload_task(c, "a\tb", 1, MD5_ABC),
                 RESMGR_ERR_INVALID_NAME);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "a\nb", 1, MD5_ABC),
                 RESMGR_ERR_INVALID_NAME);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "\x7f", 1, MD5_ABC),
                 RESMGR_ERR_INVALID_NAME);
    CHECK_N_PUBS(r, 0);
    CHECK_STATUS(resmgr_client_create_upload_task(c, longest, 1, MD5_ABC), RESMGR_OK);
    CHECK_N_PUBS(r, 1);
    free(longest);
    free(too_long);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_refuses_invalid_md5(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    const char *bad[] = {"",
                         "xyz",
                         "900150983cd24fb0d6963f7d28e17f7",   /* 31 */
                         "900150983cd24fb0d6963f7d28e17f72a", /* 33 */
                         "g00150983cd24fb0d6963f7d28e17f72",  /* non-hex */
                         "900150983cd24fb0d6963f7d28e17f7 ",  /* space */
                         "0x0150983cd24fb0d6963f7d28e17f72"};
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 3, bad[i]),
                     RESMGR_ERR_INVALID_MD5);
        CHECK_ERROR_MESSAGE();
    }
    CHECK_N_PUBS(r, 0);
    /* None of them created a task: a valid create is no conflict. */
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 3, MD5_ABC), RESMGR_OK);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_again_for_same_resource_is_allowed(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    const char *json = "{\"type\":\"create_upload_task\",\"size\":100,\"name\":\"zxc\","
                       "\"md5sum\":\"900150983cd24fb0d6963f7d28e17f72\"}";
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    /* The same MD5 in upper case is the same resource. */
    CHECK_STATUS(
        resmgr_client_create_upload_task(c, "zxc", 100, "900150983CD24FB0D6963F7D28E17F72"),
        RESMGR_OK);
    CHECK_N_PUBS(r, 3);
    CHECK_PUB(r, 0, json, 1);
    CHECK_PUB(r, 1, json, 1);
    CHECK_PUB(r, 2, json, 1);
    /* Also after the URL arrived: asking again requests a fresh URL. */
    CHECK_STATUS(upload_url_rsp(c, "zxc", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_N_PUBS(r, 4);
    CHECK_PUB(r, 3, json, 1);
    resmgr_client_free(c);
    rec_free(r);
}

/* Issue 11: the application can tell whether a task is in flight and how
 * far it is, through its whole life. */
static void task_state_follows_a_task_from_creation_to_its_end(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    resmgr_task_state st = (resmgr_task_state)-1;
    CHECK_STATUS(resmgr_client_task_state(c, RESMGR_DIRECTION_UPLOAD, "zxc", &st), RESMGR_OK);
    CHECK_EQ_INT(st, RESMGR_TASK_NONE);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(resmgr_client_task_state(c, RESMGR_DIRECTION_UPLOAD, "zxc", &st), RESMGR_OK);
    CHECK_EQ_INT(st, RESMGR_TASK_WAITING_FOR_URL);
    /* The other direction has no task of that name. */
    CHECK_STATUS(resmgr_client_task_state(c, RESMGR_DIRECTION_DOWNLOAD, "zxc", &st), RESMGR_OK);
    CHECK_EQ_INT(st, RESMGR_TASK_NONE);
    CHECK_STATUS(upload_url_rsp(c, "zxc", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_task_state(c, RESMGR_DIRECTION_UPLOAD, "zxc", &st), RESMGR_OK);
    CHECK_EQ_INT(st, RESMGR_TASK_READY);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 10, NULL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_task_state(c, RESMGR_DIRECTION_UPLOAD, "zxc", &st), RESMGR_OK);
    CHECK_EQ_INT(st, RESMGR_TASK_STARTED);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_DONE, 100, 0, NULL),
                 RESMGR_OK);
    CHECK_STATUS(resmgr_client_task_state(c, RESMGR_DIRECTION_UPLOAD, "zxc", &st), RESMGR_OK);
    CHECK_EQ_INT(st, RESMGR_TASK_NONE);
    /* A download pushed by the platform is ready at once. */
    CHECK_STATUS(push_download(c, "fw.bin", 3, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_task_state(c, RESMGR_DIRECTION_DOWNLOAD, "fw.bin", &st), RESMGR_OK);
    CHECK_EQ_INT(st, RESMGR_TASK_READY);
    /* Bad arguments: nothing is written. */
    st = RESMGR_TASK_STARTED;
    CHECK_STATUS(resmgr_client_task_state(c, 7, "fw.bin", &st), RESMGR_ERR_INVALID_ARG);
    CHECK_STATUS(resmgr_client_task_state(NULL, RESMGR_DIRECTION_DOWNLOAD, "fw.bin", &st),
                 RESMGR_ERR_NULL_ARG);
    CHECK_STATUS(resmgr_client_task_state(c, RESMGR_DIRECTION_DOWNLOAD, NULL, &st),
                 RESMGR_ERR_NULL_ARG);
    CHECK_STATUS(resmgr_client_task_state(c, RESMGR_DIRECTION_DOWNLOAD, "fw.bin", NULL),
                 RESMGR_ERR_NULL_ARG);
    CHECK_EQ_INT(st, RESMGR_TASK_STARTED);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_conflict_with_other_size_or_md5(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    bool published = false;
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 101, MD5_ABC),
                 RESMGR_ERR_TASK_CONFLICT);
    CHECK_ERROR_MESSAGE();
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_EMPTY),
                 RESMGR_ERR_TASK_CONFLICT);
    CHECK_ERROR_MESSAGE();
    CHECK_N_PUBS(r, 1);
    /* The original task is untouched: its size is still 100. */
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 100, &published), RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 101, &published),
                 RESMGR_ERR_INVALID_ARG);
    /* Once it ends (done), the name is free for another resource. */
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_DONE, 0, 0, NULL),
                 RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 0, MD5_EMPTY), RESMGR_OK);
    /* A different name never conflicts. */
    CHECK_STATUS(resmgr_client_create_upload_task(c, "other", 100, MD5_ABC), RESMGR_OK);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_refuses_more_than_max_tasks(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char name[32];
    int i;
    size_t pubs;
    for (i = 0; i < RESMGR_MAX_TASKS; i++) {
        snprintf(name, sizeof name, "task-%d", i);
        CHECK_STATUS(resmgr_client_create_upload_task(c, name, 3, MD5_ABC), RESMGR_OK);
    }
    pubs = r->n_pubs;
    CHECK_EQ_INT(pubs, RESMGR_MAX_TASKS);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "one-too-many", 3, MD5_ABC),
                 RESMGR_ERR_TOO_MANY_TASKS);
    CHECK_ERROR_MESSAGE();
    CHECK_N_PUBS(r, pubs);
    /* Asking again for a task in flight is still fine when full. */
    CHECK_STATUS(resmgr_client_create_upload_task(c, "task-7", 3, MD5_ABC), RESMGR_OK);
    /* The limit is per direction: a download task still fits. */
    CHECK_STATUS(push_download(c, "dl", 3, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_LAST_EVENT(r, .kind = RESMGR_EVENT_DOWNLOAD_TASK,
                     .direction = RESMGR_DIRECTION_DOWNLOAD, .name = "dl", .size = 3,
                     .md5 = MD5_ABC, .content_md5 = MD5_ABC_B64, .url = TEST_URL,
                     .pushed = true);
    /* Ending one task (fail) frees a slot. */
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "task-3", RESMGR_STATE_FAIL, 0, -1, NULL),
        RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "one-too-many", 3, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "two-too-many", 3, MD5_ABC),
                 RESMGR_ERR_TOO_MANY_TASKS);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* create_upload_task_from_file                                         */
/* ------------------------------------------------------------------ */

static void create_upload_task_from_file_hashes_and_names_after_base_name(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char *path = write_temp_file("hello.bin", "abc", 3);
    resmgr_digest d;
    uint64_t size = 12345;
    memset(&d, 0x5a, sizeof d);
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, path, NULL, &d, &size),
                 RESMGR_OK);
    CHECK_NO_ERROR_MESSAGE();
    CHECK_DIGEST(d, ABC_BYTES, MD5_ABC, MD5_ABC_B64);
    CHECK_EQ_U64(size, 3);
    CHECK_N_PUBS(r, 1);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"create_upload_task\",\"size\":3,\"name\":\"hello.bin\","
                   "\"md5sum\":\"900150983cd24fb0d6963f7d28e17f72\"}",
                   1);
    /* The task exists under the base name. */
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "hello.bin", 3, NULL), RESMGR_OK);
    remove_temp_file(path);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_from_file_uses_an_explicit_name(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char *path = write_temp_file("fox.txt", "The quick brown fox jumps over the lazy dog", 43);
    resmgr_digest d;
    uint64_t size = 0;
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, path, "custom name", &d, &size),
                 RESMGR_OK);
    CHECK_STR(d.hex, MD5_FOX);
    CHECK_STR(d.base64, MD5_FOX_B64);
    CHECK_EQ_U64(size, 43);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"create_upload_task\",\"size\":43,\"name\":\"custom name\","
                   "\"md5sum\":\"9e107d9d372bb6826bd81d3542a419d6\"}",
                   1);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "fox.txt", 1, NULL), RESMGR_ERR_NO_TASK);
    /* An invalid explicit name is refused before anything is published. */
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, path, "", NULL, NULL),
                 RESMGR_ERR_INVALID_NAME);
    CHECK_N_PUBS(r, 1);
    remove_temp_file(path);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_from_file_accepts_null_out_params(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char *path = write_temp_file("empty.dat", "", 0);
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, path, NULL, NULL, NULL),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"create_upload_task\",\"size\":0,\"name\":\"empty.dat\","
                   "\"md5sum\":\"d41d8cd98f00b204e9800998ecf8427e\"}",
                   1);
    remove_temp_file(path);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_from_file_hashes_large_files(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char *data = repeat_char('a', 1000000);
    char *path = write_temp_file("million-a", data, 1000000);
    resmgr_digest d;
    uint64_t size = 0;
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, path, NULL, &d, &size),
                 RESMGR_OK);
    CHECK_STR(d.hex, "7707d6ae4e027c70eea2a935c2296f21");
    CHECK_STR(d.base64, "dwfWrk4CfHDuoqk1wilvIQ==");
    CHECK_EQ_U64(size, 1000000);
    CHECK_LAST_PUB(r,
                   "{\"type\":\"create_upload_task\",\"size\":1000000,\"name\":\"million-a\","
                   "\"md5sum\":\"7707d6ae4e027c70eea2a935c2296f21\"}",
                   1);
    remove_temp_file(path);
    free(data);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_from_missing_file_is_an_io_error_naming_the_path(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char path[512];
    resmgr_digest d;
    uint64_t size = 777;
    snprintf(path, sizeof path, "%s/no-such-file.bin", temp_dir);
    memset(&d, 0x5a, sizeof d);
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, path, NULL, &d, &size),
                 RESMGR_ERR_IO);
    CHECK_CONTAINS(last_error(), path);
    /* Out-parameters are written only on success. */
    CHECK_EQ_U64(size, 777);
    CHECK_EQ_INT((unsigned char)d.hex[0], 0x5a);
    CHECK_EQ_INT(d.bytes[0], 0x5a);
    CHECK_N_PUBS(r, 0);
    /* No task was created. */
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "no-such-file.bin", 0, NULL),
                 RESMGR_ERR_NO_TASK);
    /* A directory cannot be hashed either. */
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, temp_dir, "dir", NULL, NULL),
                 RESMGR_ERR_IO);
    CHECK_ERROR_MESSAGE();
    CHECK_N_PUBS(r, 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void create_upload_task_from_file_conflicts_like_create_upload_task(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char *path = write_temp_file("zxc", "abc", 3);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 3, MD5_EMPTY), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task_from_file(c, path, NULL, NULL, NULL),
                 RESMGR_ERR_TASK_CONFLICT);
    CHECK_N_PUBS(r, 1);
    remove_temp_file(path);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* get_download_task                                                    */
/* ------------------------------------------------------------------ */

static void get_download_task_publishes_exact_json_at_qos_1(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_NO_ERROR_MESSAGE();
    CHECK_N_PUBS(r, 1);
    CHECK_PUB(r, 0, "{\"type\":\"get_download_task\"}", 1);
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_PUB(r, 1, "{\"type\":\"get_download_task\"}", 1);
    CHECK_N_EVENTS(r, 0);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* Raw progress reports                                                 */
/* ------------------------------------------------------------------ */

static void report_upload_progress_in_progress_has_percent_at_qos_0(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_IN_PROGRESS, 0, 0, NULL),
        RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"uploading\",\"percent\":0,\"result_code\":0,"
                                    "\"result_msg\":\"\"}"),
                   0);
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_IN_PROGRESS, 42, 0, NULL),
        RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"uploading\",\"percent\":42,\"result_code\":0,"
                                    "\"result_msg\":\"\"}"),
                   0);
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_IN_PROGRESS, 100, 0, ""),
        RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"uploading\",\"percent\":100,\"result_code\":0,"
                                    "\"result_msg\":\"\"}"),
                   0);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_IN_PROGRESS, 7, 0,
                                                      "half way"),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"uploading\",\"percent\":7,\"result_code\":0,"
                                    "\"result_msg\":\"half way\"}"),
                   0);
    CHECK_N_PUBS(r, 4);
    CHECK_N_EVENTS(r, 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void report_upload_progress_done_has_no_percent_at_qos_1(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_DONE, 0, 0, NULL),
                 RESMGR_OK);
    CHECK_LAST_PUB(r, UP_REPORT("zxc", "{\"state\":\"done\",\"result_code\":0,\"result_msg\":\"\"}"),
                   1);
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_DONE, 100, 0, "all good"),
        RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"done\",\"result_code\":0,"
                                    "\"result_msg\":\"all good\"}"),
                   1);
    resmgr_client_free(c);
    rec_free(r);
}

static void report_upload_progress_fail_sends_standard_messages(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -1, NULL),
                 RESMGR_OK);
    CHECK_LAST_PUB(
        r, UP_REPORT("zxc", "{\"state\":\"fail\",\"result_code\":-1,\"result_msg\":\"time_out\"}"),
        1);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -2, NULL),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"fail\",\"result_code\":-2,"
                                    "\"result_msg\":\"file_not_exist\"}"),
                   1);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -3, NULL),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"fail\",\"result_code\":-3,"
                                    "\"result_msg\":\"sign invalid\"}"),
                   1);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -4, NULL),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"fail\",\"result_code\":-4,"
                                    "\"result_msg\":\"md5sum not matched\"}"),
                   1);
    /* Codes without a standard text send "". */
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -5, NULL),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"fail\",\"result_code\":-5,\"result_msg\":\"\"}"),
                   1);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, 3, NULL),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"fail\",\"result_code\":3,\"result_msg\":\"\"}"),
                   1);
    /* An explicit message wins over the standard text. */
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -1,
                                                      "connection reset by peer"),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"fail\",\"result_code\":-1,"
                                    "\"result_msg\":\"connection reset by peer\"}"),
                   1);
    CHECK_N_PUBS(r, 7);
    resmgr_client_free(c);
    rec_free(r);
}

static void report_progress_escapes_result_msg(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -1,
                                                      "l1\nl2\t\"q\"\\\x01 \xe6\x97\xa5"),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   UP_REPORT("zxc", "{\"state\":\"fail\",\"result_code\":-1,\"result_msg\":"
                                    "\"l1\\nl2\\t\\\"q\\\"\\\\\\u0001 \xe6\x97\xa5\"}"),
                   1);
    resmgr_client_free(c);
    rec_free(r);
}

static void report_download_progress_in_every_state(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_report_download_progress(c, "AAAA", RESMGR_STATE_IN_PROGRESS,
                                                        55, 0, NULL),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   DOWN_REPORT("AAAA", "{\"state\":\"downloading\",\"percent\":55,"
                                       "\"result_code\":0,\"result_msg\":\"\"}"),
                   0);
    CHECK_STATUS(
        resmgr_client_report_download_progress(c, "AAAA", RESMGR_STATE_DONE, 0, 0, NULL),
        RESMGR_OK);
    CHECK_LAST_PUB(r,
                   DOWN_REPORT("AAAA", "{\"state\":\"done\",\"result_code\":0,\"result_msg\":\"\"}"),
                   1);
    CHECK_STATUS(
        resmgr_client_report_download_progress(c, "AAAA", RESMGR_STATE_FAIL, 0, -4, NULL),
        RESMGR_OK);
    CHECK_LAST_PUB(r,
                   DOWN_REPORT("AAAA", "{\"state\":\"fail\",\"result_code\":-4,"
                                       "\"result_msg\":\"md5sum not matched\"}"),
                   1);
    CHECK_STATUS(
        resmgr_client_report_download_progress(c, "AAAA", RESMGR_STATE_FAIL, 0, -2, NULL),
        RESMGR_OK);
    CHECK_LAST_PUB(r,
                   DOWN_REPORT("AAAA", "{\"state\":\"fail\",\"result_code\":-2,"
                                       "\"result_msg\":\"file_not_exist\"}"),
                   1);
    CHECK_STATUS(resmgr_client_report_download_progress(c, "AAAA", RESMGR_STATE_FAIL, 0, -3,
                                                        "disk full"),
                 RESMGR_OK);
    CHECK_LAST_PUB(r,
                   DOWN_REPORT("AAAA", "{\"state\":\"fail\",\"result_code\":-3,"
                                       "\"result_msg\":\"disk full\"}"),
                   1);
    CHECK_N_PUBS(r, 5);
    resmgr_client_free(c);
    rec_free(r);
}

static void contradictory_reports_are_invalid_arguments(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    int dir;
    for (dir = 0; dir < 2; dir++) {
        resmgr_status (*report)(const resmgr_client *, const char *, int32_t, int32_t, int32_t,
                                const char *) =
            dir == 0 ? resmgr_client_report_upload_progress
                     : resmgr_client_report_download_progress;
        CHECK_STATUS(report(c, "zxc", RESMGR_STATE_DONE, 0, -1, NULL), RESMGR_ERR_INVALID_ARG);
        CHECK_ERROR_MESSAGE();
        CHECK_STATUS(report(c, "zxc", RESMGR_STATE_DONE, 0, 1, NULL), RESMGR_ERR_INVALID_ARG);
        CHECK_STATUS(report(c, "zxc", RESMGR_STATE_FAIL, 0, 0, NULL), RESMGR_ERR_INVALID_ARG);
        CHECK_ERROR_MESSAGE();
        CHECK_STATUS(report(c, "zxc", RESMGR_STATE_FAIL, 0, 0, "failed"),
                     RESMGR_ERR_INVALID_ARG);
        CHECK_STATUS(report(c, "zxc", RESMGR_STATE_IN_PROGRESS, 101, 0, NULL),
                     RESMGR_ERR_INVALID_ARG);
        CHECK_ERROR_MESSAGE();
        CHECK_STATUS(report(c, "zxc", RESMGR_STATE_IN_PROGRESS, -1, 0, NULL),
                     RESMGR_ERR_INVALID_ARG);
        CHECK_STATUS(report(c, "zxc", RESMGR_STATE_IN_PROGRESS, 256, 0, NULL),
                     RESMGR_ERR_INVALID_ARG);
        CHECK_STATUS(report(c, "zxc", RESMGR_STATE_IN_PROGRESS, 50, -1, NULL),
                     RESMGR_ERR_INVALID_ARG);
        CHECK_STATUS(report(c, "zxc", 7, 50, 0, NULL), RESMGR_ERR_INVALID_ARG);
        CHECK_ERROR_MESSAGE();
        CHECK_STATUS(report(c, "zxc", 3, 50, 0, NULL), RESMGR_ERR_INVALID_ARG);
        CHECK_STATUS(report(c, "zxc", -1, 50, 0, NULL), RESMGR_ERR_INVALID_ARG);
        /* Invalid names. */
        CHECK_STATUS(report(c, "", RESMGR_STATE_IN_PROGRESS, 5, 0, NULL),
                     RESMGR_ERR_INVALID_NAME);
        CHECK_STATUS(report(c, "a\nb", RESMGR_STATE_DONE, 0, 0, NULL), RESMGR_ERR_INVALID_NAME);
    }
    CHECK_N_PUBS(r, 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void report_with_an_overlong_result_msg_is_an_invalid_argument(void)
{
    /* The header lists RESMGR_ERR_INVALID_ARG ("an argument had a value
     * the call cannot use") among the report errors, and no length limit;
     * a message the library will not send must be refused as such. */
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char *msg = repeat_char('m', 2000);
    resmgr_status s = resmgr_client_report_upload_progress(c, "zxc", RESMGR_STATE_FAIL, 0, -1,
                                                           msg);
    if (s == RESMGR_OK) {
        CHECK_N_PUBS(r, 1);
    } else {
        CHECK_STATUS(s, RESMGR_ERR_INVALID_ARG);
        CHECK_N_PUBS(r, 0);
    }
    free(msg);
    resmgr_client_free(c);
    rec_free(r);
}

static void final_reports_end_the_task_and_progress_reports_do_not(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    /* upload: in progress keeps it, done ends it */
    CHECK_STATUS(resmgr_client_create_upload_task(c, "up1", 10, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(
        resmgr_client_report_upload_progress(c, "up1", RESMGR_STATE_IN_PROGRESS, 50, 0, NULL),
        RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "up1", 5, NULL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "up1", RESMGR_STATE_DONE, 0, 0, NULL),
                 RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "up1", 5, NULL), RESMGR_ERR_NO_TASK);
    CHECK_ERROR_MESSAGE();
    /* upload: fail ends it */
    CHECK_STATUS(resmgr_client_create_upload_task(c, "up2", 10, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "up2", RESMGR_STATE_FAIL, 0, -3, NULL),
                 RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "up2", 5, NULL), RESMGR_ERR_NO_TASK);
    /* download: the same */
    CHECK_STATUS(push_download(c, "dl1", 10, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(push_download(c, "dl2", 10, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl1", 5, NULL), RESMGR_OK);
    CHECK_STATUS(
        resmgr_client_report_download_progress(c, "dl1", RESMGR_STATE_DONE, 0, 0, NULL),
        RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl1", 5, NULL), RESMGR_ERR_NO_TASK);
    CHECK_STATUS(
        resmgr_client_report_download_progress(c, "dl2", RESMGR_STATE_FAIL, 0, -1, NULL),
        RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl2", 5, NULL), RESMGR_ERR_NO_TASK);
    /* The directions are separate: an upload report does not end a
     * download task of the same name. */
    CHECK_STATUS(push_download(c, "same", 10, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_report_upload_progress(c, "same", RESMGR_STATE_DONE, 0, 0, NULL),
                 RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "same", 5, NULL), RESMGR_OK);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* Throttled progress helpers                                           */
/* ------------------------------------------------------------------ */

#define UPLOADING(name, pct)                                                          \
    "{\"type\":\"report_upload_progress\",\"name\":\"" name "\",\"progress\":{"      \
    "\"state\":\"uploading\",\"percent\":" #pct ",\"result_code\":0,\"result_msg\":\"\"}}"
#define DOWNLOADING(name, pct)                                                        \
    "{\"type\":\"report_download_progress\",\"name\":\"" name "\",\"progress\":{"    \
    "\"state\":\"downloading\",\"percent\":" #pct ",\"result_code\":0,\"result_msg\":\"\"}}"

/* Calls the upload helper; checks status OK and whether it published. */
#define TRACK_UP(c, r, name, done, expect_pub)                                            \
    do {                                                                                  \
        bool pub_ = !(expect_pub);                                                        \
        size_t before_ = (r)->n_pubs;                                                     \
        CHECK_STATUS(resmgr_client_track_upload_progress((c), (name), (done), &pub_), RESMGR_OK); \
        CHECK_EQ_INT(pub_, (expect_pub));                                                 \
        CHECK_N_PUBS((r), before_ + ((expect_pub) ? 1 : 0));                              \
    } while (0)

#define TRACK_DOWN(c, r, name, done, expect_pub)                                            \
    do {                                                                                    \
        bool pub_ = !(expect_pub);                                                          \
        size_t before_ = (r)->n_pubs;                                                       \
        CHECK_STATUS(resmgr_client_track_download_progress((c), (name), (done), &pub_), RESMGR_OK); \
        CHECK_EQ_INT(pub_, (expect_pub));                                                   \
        CHECK_N_PUBS((r), before_ + ((expect_pub) ? 1 : 0));                                \
    } while (0)

static void upload_progress_first_report_always_goes_out(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 3600000, 100), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 200, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "other", 200, MD5_ABC), RESMGR_OK);
    rec_clear(r);
    TRACK_UP(c, r, "zxc", 74, true); /* 37 % */
    CHECK_LAST_PUB(r, UPLOADING("zxc", 37), 0);
    /* Each task has its own throttle. */
    TRACK_UP(c, r, "other", 0, true);
    CHECK_LAST_PUB(r, UPLOADING("other", 0), 0);
    TRACK_UP(c, r, "zxc", 80, false);
    TRACK_UP(c, r, "other", 100, false);
    resmgr_client_free(c);
    rec_free(r);
}

static void upload_progress_never_sends_the_same_percent_twice(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 1), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 1000, MD5_ABC), RESMGR_OK);
    rec_clear(r);
    TRACK_UP(c, r, "zxc", 100, true); /* 10 % */
    CHECK_LAST_PUB(r, UPLOADING("zxc", 10), 0);
    TRACK_UP(c, r, "zxc", 100, false);
    TRACK_UP(c, r, "zxc", 104, false); /* still 10 % */
    TRACK_UP(c, r, "zxc", 110, true);  /* 11 % */
    CHECK_LAST_PUB(r, UPLOADING("zxc", 11), 0);
    TRACK_UP(c, r, "zxc", 1000, true);
    CHECK_LAST_PUB(r, UPLOADING("zxc", 100), 0);
    TRACK_UP(c, r, "zxc", 1000, false);
    TRACK_UP(c, r, "zxc", 1000, false);
    resmgr_client_free(c);
    rec_free(r);
}

static void upload_progress_respects_the_minimum_step(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 10), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    rec_clear(r);
    TRACK_UP(c, r, "zxc", 0, true);
    CHECK_LAST_PUB(r, UPLOADING("zxc", 0), 0);
    TRACK_UP(c, r, "zxc", 5, false);
    TRACK_UP(c, r, "zxc", 9, false);
    TRACK_UP(c, r, "zxc", 10, true);
    CHECK_LAST_PUB(r, UPLOADING("zxc", 10), 0);
    TRACK_UP(c, r, "zxc", 15, false);
    TRACK_UP(c, r, "zxc", 19, false);
    TRACK_UP(c, r, "zxc", 35, true);
    CHECK_LAST_PUB(r, UPLOADING("zxc", 35), 0);
    TRACK_UP(c, r, "zxc", 44, false);
    /* 100 % always goes out, whatever the step. */
    TRACK_UP(c, r, "zxc", 100, true);
    CHECK_LAST_PUB(r, UPLOADING("zxc", 100), 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void upload_progress_respects_the_minimum_interval_but_not_for_100(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    /* One hour: nothing but the first and the 100 % report can go out. */
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 3600000, 1), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    rec_clear(r);
    TRACK_UP(c, r, "zxc", 1, true);
    CHECK_LAST_PUB(r, UPLOADING("zxc", 1), 0);
    TRACK_UP(c, r, "zxc", 2, false);
    TRACK_UP(c, r, "zxc", 50, false);
    TRACK_UP(c, r, "zxc", 99, false);
    TRACK_UP(c, r, "zxc", 100, true);
    CHECK_LAST_PUB(r, UPLOADING("zxc", 100), 0);
    TRACK_UP(c, r, "zxc", 100, false);
    resmgr_client_free(c);
    rec_free(r);
}

static void upload_progress_with_step_100_sends_only_first_and_last(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 100), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    rec_clear(r);
    TRACK_UP(c, r, "zxc", 0, true);
    TRACK_UP(c, r, "zxc", 50, false);
    TRACK_UP(c, r, "zxc", 99, false);
    TRACK_UP(c, r, "zxc", 100, true);
    CHECK_LAST_PUB(r, UPLOADING("zxc", 100), 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void progress_of_a_zero_byte_task_is_100_percent(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "empty", 0, MD5_EMPTY), RESMGR_OK);
    rec_clear(r);
    TRACK_UP(c, r, "empty", 0, true);
    CHECK_LAST_PUB(r, UPLOADING("empty", 100), 0);
    TRACK_UP(c, r, "empty", 0, false);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "empty", 1, NULL), RESMGR_ERR_INVALID_ARG);
    resmgr_client_free(c);
    rec_free(r);
}

static void progress_percent_is_exact_for_huge_sizes(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 1), RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "huge", 50000000000ULL, MD5_ABC),
                 RESMGR_OK);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "max", UINT64_MAX, MD5_ABC), RESMGR_OK);
    rec_clear(r);
    TRACK_UP(c, r, "huge", 4500000000ULL, true); /* above 2^32 bytes: 9 % */
    CHECK_LAST_PUB(r, UPLOADING("huge", 9), 0);
    TRACK_UP(c, r, "huge", 25000000000ULL, true);
    CHECK_LAST_PUB(r, UPLOADING("huge", 50), 0);
    TRACK_UP(c, r, "huge", 49500000000ULL, true);
    CHECK_LAST_PUB(r, UPLOADING("huge", 99), 0);
    TRACK_UP(c, r, "max", UINT64_MAX, true);
    CHECK_LAST_PUB(r, UPLOADING("max", 100), 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void progress_beyond_the_size_is_an_invalid_argument(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    bool pub = true;
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(push_download(c, "dl", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    rec_clear(r);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 101, &pub), RESMGR_ERR_INVALID_ARG);
    CHECK_ERROR_MESSAGE();
    CHECK_EQ_INT(pub, true); /* not written on failure */
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", UINT64_MAX, NULL),
                 RESMGR_ERR_INVALID_ARG);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl", 101, NULL), RESMGR_ERR_INVALID_ARG);
    CHECK_N_PUBS(r, 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void progress_of_an_unknown_task_is_no_task(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "ghost", 0, NULL), RESMGR_ERR_NO_TASK);
    CHECK_ERROR_MESSAGE();
    CHECK_STATUS(resmgr_client_track_download_progress(c, "ghost", 0, NULL), RESMGR_ERR_NO_TASK);
    CHECK_ERROR_MESSAGE();
    /* An upload task is not a download task and vice versa. */
    CHECK_STATUS(resmgr_client_create_upload_task(c, "up", 10, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(push_download(c, "down", 10, MD5_ABC, TEST_URL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "up", 0, NULL), RESMGR_ERR_NO_TASK);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "down", 0, NULL), RESMGR_ERR_NO_TASK);
    CHECK_N_PUBS(r, 1);
    resmgr_client_free(c);
    rec_free(r);
}

static void download_progress_reports_downloading(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 25), RESMGR_OK);
    CHECK_STATUS(push_download(c, "AAAA", 372338, MD5_ABC, TEST_URL), RESMGR_OK);
    TRACK_DOWN(c, r, "AAAA", 0, true);
    CHECK_LAST_PUB(r, DOWNLOADING("AAAA", 0), 0);
    TRACK_DOWN(c, r, "AAAA", 372338 / 10, false);
    TRACK_DOWN(c, r, "AAAA", 372338 / 2, true);
    CHECK_LAST_PUB(r, DOWNLOADING("AAAA", 50), 0);
    TRACK_DOWN(c, r, "AAAA", 372338 / 2, false);
    TRACK_DOWN(c, r, "AAAA", 372338, true);
    CHECK_LAST_PUB(r, DOWNLOADING("AAAA", 100), 0);
    TRACK_DOWN(c, r, "AAAA", 372338, false);
    resmgr_client_free(c);
    rec_free(r);
}

static void progress_published_out_param_is_optional(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    CHECK_STATUS(push_download(c, "dl", 100, MD5_ABC, TEST_URL), RESMGR_OK);
    rec_clear(r);
    CHECK_STATUS(resmgr_client_track_upload_progress(c, "zxc", 50, NULL), RESMGR_OK);
    CHECK_STATUS(resmgr_client_track_download_progress(c, "dl", 50, NULL), RESMGR_OK);
    CHECK_N_PUBS(r, 2);
    CHECK_PUB(r, 0, UPLOADING("zxc", 50), 0);
    CHECK_PUB(r, 1, DOWNLOADING("dl", 50), 0);
    resmgr_client_free(c);
    rec_free(r);
}

static void set_progress_throttle_checks_the_step(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 1000, 0), RESMGR_ERR_INVALID_ARG);
    CHECK_ERROR_MESSAGE();
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 1000, 101), RESMGR_ERR_INVALID_ARG);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, UINT32_MAX), RESMGR_ERR_INVALID_ARG);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 1), RESMGR_OK);
    CHECK_NO_ERROR_MESSAGE();
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, UINT32_MAX, 100), RESMGR_OK);
    /* A refused setting leaves the previous one in force (interval 0,
     * step 100 here): 50 % is not sent, 100 % is. */
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 100), RESMGR_OK);
    CHECK_STATUS(resmgr_client_set_progress_throttle(c, 0, 0), RESMGR_ERR_INVALID_ARG);
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 100, MD5_ABC), RESMGR_OK);
    rec_clear(r);
    TRACK_UP(c, r, "zxc", 0, true);
    TRACK_UP(c, r, "zxc", 50, false);
    TRACK_UP(c, r, "zxc", 100, true);
    resmgr_client_free(c);
    rec_free(r);
}

/* ------------------------------------------------------------------ */
/* MD5                                                                  */
/* ------------------------------------------------------------------ */

static void md5_of_nothing_is_the_empty_vector(void)
{
    resmgr_md5 *h = resmgr_md5_new();
    resmgr_digest d;
    CHECK(h != NULL);
    CHECK_STATUS(resmgr_md5_finish(h, &d), RESMGR_OK);
    CHECK_DIGEST(d, EMPTY_BYTES, MD5_EMPTY, MD5_EMPTY_B64);
    /* update with no bytes (NULL allowed) changes nothing */
    CHECK_STATUS(resmgr_md5_update(h, NULL, 0), RESMGR_OK);
    CHECK_STATUS(resmgr_md5_update(h, (const uint8_t *)"x", 0), RESMGR_OK);
    CHECK_STATUS(resmgr_md5_finish(h, &d), RESMGR_OK);
    CHECK_DIGEST(d, EMPTY_BYTES, MD5_EMPTY, MD5_EMPTY_B64);
    resmgr_md5_free(h);
}

static void md5_in_pieces_gives_the_known_vectors(void)
{
    resmgr_md5 *h = resmgr_md5_new();
    resmgr_digest d;
    const char *fox = "The quick brown fox jumps over the lazy dog";
    size_t i;
    CHECK_STATUS(resmgr_md5_update(h, (const uint8_t *)"a", 1), RESMGR_OK);
    CHECK_STATUS(resmgr_md5_update(h, (const uint8_t *)"bc", 2), RESMGR_OK);
    CHECK_STATUS(resmgr_md5_finish(h, &d), RESMGR_OK);
    CHECK_NO_ERROR_MESSAGE();
    CHECK_DIGEST(d, ABC_BYTES, MD5_ABC, MD5_ABC_B64);
    /* finish reset the hasher */
    CHECK_STATUS(resmgr_md5_finish(h, &d), RESMGR_OK);
    CHECK_DIGEST(d, EMPTY_BYTES, MD5_EMPTY, MD5_EMPTY_B64);
    for (i = 0; i < strlen(fox); i++) {
        CHECK_STATUS(resmgr_md5_update(h, (const uint8_t *)fox + i, 1), RESMGR_OK);
    }
    CHECK_STATUS(resmgr_md5_finish(h, &d), RESMGR_OK);
    CHECK_STR(d.hex, MD5_FOX);
    CHECK_STR(d.base64, MD5_FOX_B64);
    CHECK_STATUS(resmgr_md5_update(h, (const uint8_t *)"message digest", 14), RESMGR_OK);
    CHECK_STATUS(resmgr_md5_finish(h, &d), RESMGR_OK);
    CHECK_STR(d.hex, "f96b697d7cb7938d525a2f31aaf161d0");
    CHECK_STR(d.base64, "+WtpfXy3k41SWi8xqvFh0A==");
    resmgr_md5_free(h);
}

static void md5_of_a_million_a_in_odd_pieces(void)
{
    resmgr_md5 *h = resmgr_md5_new();
    resmgr_digest d;
    char *data = repeat_char('a', 1000000);
    size_t off = 0, piece = 1;
    while (off < 1000000) {
        size_t n = piece < 1000000 - off ? piece : 1000000 - off;
        if (resmgr_md5_update(h, (const uint8_t *)data + off, n) != RESMGR_OK) {
            CHECK_FAIL("resmgr_md5_update failed");
            break;
        }
        off += n;
        piece = piece * 3 + 1; /* 1, 4, 13, 40, ... crossing block boundaries */
        if (piece > 70000) {
            piece = 7;
        }
    }
    CHECK_STATUS(resmgr_md5_finish(h, &d), RESMGR_OK);
    CHECK_STR(d.hex, "7707d6ae4e027c70eea2a935c2296f21");
    CHECK_STR(d.base64, "dwfWrk4CfHDuoqk1wilvIQ==");
    free(data);
    resmgr_md5_free(h);
}

static void md5_file_hashes_files_and_reports_size(void)
{
    char *abc = write_temp_file("abc.txt", "abc", 3);
    char *empty = write_temp_file("empty.txt", "", 0);
    char *data = repeat_char('a', 1000000);
    char *big = write_temp_file("big.txt", data, 1000000);
    resmgr_digest d;
    uint64_t size = 99;
    CHECK_STATUS(resmgr_md5_file(abc, &d, &size), RESMGR_OK);
    CHECK_NO_ERROR_MESSAGE();
    CHECK_DIGEST(d, ABC_BYTES, MD5_ABC, MD5_ABC_B64);
    CHECK_EQ_U64(size, 3);
    CHECK_STATUS(resmgr_md5_file(empty, &d, &size), RESMGR_OK);
    CHECK_DIGEST(d, EMPTY_BYTES, MD5_EMPTY, MD5_EMPTY_B64);
    CHECK_EQ_U64(size, 0);
    CHECK_STATUS(resmgr_md5_file(big, &d, NULL), RESMGR_OK);
    CHECK_STR(d.hex, "7707d6ae4e027c70eea2a935c2296f21");
    CHECK_STR(d.base64, "dwfWrk4CfHDuoqk1wilvIQ==");
    remove_temp_file(abc);
    remove_temp_file(empty);
    remove_temp_file(big);
    free(data);
}

static void md5_file_of_a_missing_file_is_an_io_error_naming_the_path(void)
{
    char path[512];
    resmgr_digest d;
    uint64_t size = 42;
    snprintf(path, sizeof path, "%s/missing-file.bin", temp_dir);
    memset(&d, 0x5a, sizeof d);
    CHECK_STATUS(resmgr_md5_file(path, &d, &size), RESMGR_ERR_IO);
    CHECK_CONTAINS(last_error(), path);
    CHECK_EQ_U64(size, 42);
    CHECK_EQ_INT(d.bytes[0], 0x5a);
    CHECK_EQ_INT((unsigned char)d.base64[0], 0x5a);
}

/* ------------------------------------------------------------------ */
/* Status strings, last error, version                                  */
/* ------------------------------------------------------------------ */

static void status_str_describes_every_status(void)
{
    static const int32_t all[] = {
        RESMGR_OK,
        RESMGR_ERR_NULL_ARG,
        RESMGR_ERR_INVALID_ARG,
        RESMGR_ERR_UTF8,
        RESMGR_ERR_INVALID_ID,
        RESMGR_ERR_WRONG_TOPIC,
        RESMGR_ERR_PAYLOAD_TOO_LARGE,
        RESMGR_ERR_JSON,
        RESMGR_ERR_MESSAGE_TYPE,
        RESMGR_ERR_UNKNOWN_MESSAGE,
        RESMGR_ERR_MISSING_FIELD,
        RESMGR_ERR_INVALID_NAME,
        RESMGR_ERR_INVALID_SIZE,
        RESMGR_ERR_INVALID_MD5,
        RESMGR_ERR_INVALID_URL,
        RESMGR_ERR_INVALID_FIELD,
        RESMGR_ERR_PUBLISH,
        RESMGR_ERR_NO_TASK,
        RESMGR_ERR_TASK_CONFLICT,
        RESMGR_ERR_TOO_MANY_TASKS,
        RESMGR_ERR_IO,
        RESMGR_ERR_TIMEOUT,
        RESMGR_ERR_NOT_FOUND,
        RESMGR_ERR_SIGN_INVALID,
        RESMGR_ERR_URL_EXPIRED,
        RESMGR_ERR_MD5_MISMATCH,
        RESMGR_ERR_HTTP,
        RESMGR_ERR_NETWORK,
        RESMGR_ERR_TLS,
        RESMGR_ERR_CANCELLED,
        RESMGR_ERR_UNSAFE_NAME,
        RESMGR_ERR_NO_URL,
        RESMGR_ERR_BAD_RESPONSE,
        RESMGR_ERR_IN_USE,
        RESMGR_ERR_INVALID_STATE,
        RESMGR_ERR_NOT_AUTHORIZED,
        RESMGR_ERR_PANIC,
    };
    size_t n = sizeof all / sizeof all[0], i, j;
    for (i = 0; i < n; i++) {
        const char *s = resmgr_status_str(all[i]);
        CHECK(s != NULL && s[0] != '\0');
        CHECK(s != NULL && strcmp(s, "unknown status") != 0);
        /* static: the same pointer every time */
        CHECK(resmgr_status_str(all[i]) == s);
        for (j = 0; j < i; j++) {
            const char *t = resmgr_status_str(all[j]);
            if (s != NULL && t != NULL && strcmp(s, t) == 0) {
                CHECK_FAIL("two statuses share a description");
                printf("    statuses %d and %d: \"%s\"\n", (int)all[i], (int)all[j], s);
            }
        }
    }
}

static void status_str_of_an_unknown_status_says_so(void)
{
    /* -30..-49 and -50..-69 are reserved (header), so not "unknown" for sure */
    static const int32_t unknown[] = {1, 2, -70, -98, -100, 12345, INT32_MAX, INT32_MIN};
    size_t i;
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_STR(resmgr_status_str(unknown[i]), "unknown status");
    }
}

static void last_error_is_empty_after_success(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char buf[64];
    CHECK_STATUS(resmgr_client_create_upload_task(c, "", 1, MD5_ABC), RESMGR_ERR_INVALID_NAME);
    CHECK(resmgr_last_error(NULL, 0) > 0);
    CHECK_STATUS(resmgr_client_get_download_task(c), RESMGR_OK);
    CHECK_EQ_INT(resmgr_last_error(NULL, 0), 0);
    memset(buf, 'x', sizeof buf);
    CHECK_EQ_INT(resmgr_last_error(buf, sizeof buf), 0);
    CHECK_STR(buf, "");
    resmgr_client_free(c);
    rec_free(r);
}

static void last_error_truncates_and_returns_the_full_length(void)
{
    recorder *r = rec_new();
    resmgr_client *c = make_client(r);
    char full[4096], small[8];
    size_t len;
    CHECK_STATUS(resmgr_client_create_upload_task(c, "zxc", 1, "nothex"),
                 RESMGR_ERR_INVALID_MD5);
    len = resmgr_last_error(NULL, 0);
    CHECK(len > sizeof small);
    CHECK_EQ_INT(resmgr_last_error(full, sizeof full), len);
    CHECK_EQ_INT(strlen(full), len);
    memset(small, 'x', sizeof small);
    CHECK_EQ_INT(resmgr_last_error(small, sizeof small), len);
    CHECK_EQ_INT(strlen(small), sizeof small - 1);
    CHECK(strncmp(small, full, sizeof small - 1) == 0);
    memset(small, 'x', sizeof small);
    CHECK_EQ_INT(resmgr_last_error(small, 1), len);
    CHECK_EQ_INT(small[0], '\0');
    CHECK_EQ_INT(small[1], 'x'); /* nothing written past len */
    /* Reading it does not clear it. */
    CHECK_EQ_INT(resmgr_last_error(NULL, 0), len);
    /* Functions that return no status do not touch it. */
    (void)resmgr_version();
    (void)resmgr_status_str(RESMGR_OK);
    (void)resmgr_client_up_topic(c);
    (void)resmgr_client_down_topic(c);
    CHECK_EQ_INT(resmgr_last_error(NULL, 0), len);
    resmgr_client_free(c);
    rec_free(r);
}

static void last_error_is_cut_at_a_utf8_character_boundary(void)
{
    /* resmgr_md5_file names the path in the error: put a 2-byte character
     * in it and cut the copy in the middle of that character. */
    char path[512], full[4096], buf[600];
    resmgr_digest d;
    const char *e_acute;
    size_t prefix;
    snprintf(path, sizeof path, "%s/caf\xc3\xa9-missing", temp_dir);
    CHECK_STATUS(resmgr_md5_file(path, &d, NULL), RESMGR_ERR_IO);
    resmgr_last_error(full, sizeof full);
    e_acute = strstr(full, "\xc3\xa9");
    if (!CHECK(e_acute != NULL)) {
        return;
    }
    prefix = (size_t)(e_acute - full);
    /* room for the prefix and the first byte of the character only */
    memset(buf, 'x', sizeof buf);
    CHECK_EQ_INT(resmgr_last_error(buf, prefix + 2), strlen(full));
    CHECK_EQ_INT(strlen(buf), prefix);
    /* room for the whole character */
    CHECK_EQ_INT(resmgr_last_error(buf, prefix + 3), strlen(full));
    CHECK_EQ_INT(strlen(buf), prefix + 2);
    CHECK(strncmp(buf, full, prefix + 2) == 0);
}

static void version_is_a_non_empty_static_string(void)
{
    const char *v = resmgr_version();
    CHECK(v != NULL);
    if (v != NULL) {
        CHECK(v[0] >= '0' && v[0] <= '9');
        CHECK(strchr(v, '.') != NULL);
        CHECK(resmgr_version() == v);
    }
}

int main(void)
{
    make_temp_dir();

    RUN_TEST(client_new_returns_a_handle_and_free_releases_it);
    RUN_TEST(client_free_null_does_nothing);
    RUN_TEST(client_new_leaves_out_unchanged_on_failure);
    RUN_TEST(client_without_event_callback_works);
    RUN_TEST(topic_getters_return_the_device_topics);
    RUN_TEST(longest_product_id_and_device_name_are_accepted);

    RUN_TEST(create_upload_task_publishes_exact_json_at_qos_1);
    RUN_TEST(create_upload_task_sends_md5_in_lowercase);
    RUN_TEST(create_upload_task_sizes_are_exact_64_bit);
    RUN_TEST(create_upload_task_escapes_the_name_in_json);
    RUN_TEST(create_upload_task_refuses_invalid_names);
    RUN_TEST(create_upload_task_refuses_invalid_md5);
    RUN_TEST(create_upload_task_again_for_same_resource_is_allowed);
    RUN_TEST(task_state_follows_a_task_from_creation_to_its_end);
    RUN_TEST(create_upload_task_conflict_with_other_size_or_md5);
    RUN_TEST(create_upload_task_refuses_more_than_max_tasks);

    RUN_TEST(create_upload_task_from_file_hashes_and_names_after_base_name);
    RUN_TEST(create_upload_task_from_file_uses_an_explicit_name);
    RUN_TEST(create_upload_task_from_file_accepts_null_out_params);
    RUN_TEST(create_upload_task_from_file_hashes_large_files);
    RUN_TEST(create_upload_task_from_missing_file_is_an_io_error_naming_the_path);
    RUN_TEST(create_upload_task_from_file_conflicts_like_create_upload_task);

    RUN_TEST(get_download_task_publishes_exact_json_at_qos_1);

    RUN_TEST(report_upload_progress_in_progress_has_percent_at_qos_0);
    RUN_TEST(report_upload_progress_done_has_no_percent_at_qos_1);
    RUN_TEST(report_upload_progress_fail_sends_standard_messages);
    RUN_TEST(report_progress_escapes_result_msg);
    RUN_TEST(report_download_progress_in_every_state);
    RUN_TEST(contradictory_reports_are_invalid_arguments);
    RUN_TEST(report_with_an_overlong_result_msg_is_an_invalid_argument);
    RUN_TEST(final_reports_end_the_task_and_progress_reports_do_not);

    RUN_TEST(upload_progress_first_report_always_goes_out);
    RUN_TEST(upload_progress_never_sends_the_same_percent_twice);
    RUN_TEST(upload_progress_respects_the_minimum_step);
    RUN_TEST(upload_progress_respects_the_minimum_interval_but_not_for_100);
    RUN_TEST(upload_progress_with_step_100_sends_only_first_and_last);
    RUN_TEST(progress_of_a_zero_byte_task_is_100_percent);
    RUN_TEST(progress_percent_is_exact_for_huge_sizes);
    RUN_TEST(progress_beyond_the_size_is_an_invalid_argument);
    RUN_TEST(progress_of_an_unknown_task_is_no_task);
    RUN_TEST(download_progress_reports_downloading);
    RUN_TEST(progress_published_out_param_is_optional);
    RUN_TEST(set_progress_throttle_checks_the_step);

    RUN_TEST(md5_of_nothing_is_the_empty_vector);
    RUN_TEST(md5_in_pieces_gives_the_known_vectors);
    RUN_TEST(md5_of_a_million_a_in_odd_pieces);
    RUN_TEST(md5_file_hashes_files_and_reports_size);
    RUN_TEST(md5_file_of_a_missing_file_is_an_io_error_naming_the_path);

    RUN_TEST(status_str_describes_every_status);
    RUN_TEST(status_str_of_an_unknown_status_says_so);
    RUN_TEST(last_error_is_empty_after_success);
    RUN_TEST(last_error_truncates_and_returns_the_full_length);
    RUN_TEST(last_error_is_cut_at_a_utf8_character_boundary);
    RUN_TEST(version_is_a_non_empty_static_string);

    if (temp_dir[0] != '\0') {
        rmdir(temp_dir);
    }
    return check_summary();
}
