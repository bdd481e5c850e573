/*
 * Links against an *installed* resmgr (found with find_package or
 * pkg-config) and checks that the library works: version, status strings
 * and an MD5 the caller can verify with `printf abc | md5sum`.
 */
#include <resmgr.h>

#include <stdio.h>
#include <string.h>

int main(void) {
    static const char input[] = "abc";
    struct resmgr_md5 *md5 = resmgr_md5_new();
    struct resmgr_digest digest;
    int failures = 0;

    printf("resmgr %s\n", resmgr_version());
#ifdef EXPECTED_VERSION
    if (strcmp(resmgr_version(), EXPECTED_VERSION) != 0) {
        fprintf(stderr, "version %s, expected %s\n", resmgr_version(), EXPECTED_VERSION);
        failures++;
    }
#endif
    if (strlen(resmgr_status_str(RESMGR_OK)) == 0) {
        fprintf(stderr, "empty description for RESMGR_OK\n");
        failures++;
    }
    if (md5 == NULL
        || resmgr_md5_update(md5, (const uint8_t *)input, strlen(input)) != RESMGR_OK
        || resmgr_md5_finish(md5, &digest) != RESMGR_OK) {
        char error[256];
        resmgr_last_error(error, sizeof error);
        fprintf(stderr, "md5 failed: %s\n", error);
        resmgr_md5_free(md5);
        return 1;
    }
    resmgr_md5_free(md5);
    if (strcmp(digest.hex, "900150983cd24fb0d6963f7d28e17f72") != 0
        || strcmp(digest.base64, "kAFQmDzST7DWlj99KOF/cg==") != 0) {
        fprintf(stderr, "md5(\"abc\") = %s / %s\n", digest.hex, digest.base64);
        failures++;
    }
    printf("md5(\"abc\") = %s\n", digest.hex);
    return failures == 0 ? 0 : 1;
}
