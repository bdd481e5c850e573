/*
 * check.h: a minimal, header-only assertion kit for the C tests.
 *
 * Every CHECK* macro counts one check. A failing check prints one line:
 *
 *     file:line: [test] CHECK_EQ_INT(a, b) failed: actual -7, expected -9
 *
 * and the program ends with check_summary(), which prints exactly
 * "N passed, M failed" on its own line (stdout) and returns the exit code:
 * 0 when something was checked and nothing failed. A run that checked
 * nothing fails (it would pass without testing anything).
 *
 * Include this (or support.h, which includes it) before any other header:
 * it selects POSIX.1-2008 for the -std=c99 builds.
 */
#ifndef RESMGR_TEST_CHECK_H
#define RESMGR_TEST_CHECK_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed_;
static int check_failed_;
static const char *check_test_ = "";

/* Prints `s` (at most `len` bytes; len SIZE_MAX = up to the NUL) quoted,
 * with non-printable bytes escaped, cut after `max` bytes. */
static inline void check_print_quoted_(const char *s, size_t len, size_t max)
{
    size_t i;
    if (s == NULL) {
        fputs("NULL", stdout);
        return;
    }
    if (len == SIZE_MAX) {
        len = strlen(s);
    }
    fputc('"', stdout);
    for (i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c >= 0x20 && c < 0x7f) {
            fputc(c, stdout);
        } else {
            printf("\\x%02x", c);
        }
    }
    fputc('"', stdout);
    if (len > max) {
        printf("...(%zu bytes)", len);
    }
}

static inline void check_fail_head_(const char *file, int line)
{
    check_failed_++;
    printf("%s:%d: [%s] ", file, line, check_test_);
}

static inline int check_true_(int ok, const char *file, int line, const char *expr)
{
    if (ok) {
        check_passed_++;
        return 1;
    }
    check_fail_head_(file, line);
    printf("CHECK(%s) failed\n", expr);
    return 0;
}

static inline int check_eq_int_(long long actual, long long expected, const char *file,
                                int line, const char *a, const char *e)
{
    if (actual == expected) {
        check_passed_++;
        return 1;
    }
    check_fail_head_(file, line);
    printf("CHECK_EQ_INT(%s, %s) failed: actual %lld, expected %lld\n", a, e, actual,
           expected);
    return 0;
}

static inline int check_eq_u64_(uint64_t actual, uint64_t expected, const char *file,
                                int line, const char *a, const char *e)
{
    if (actual == expected) {
        check_passed_++;
        return 1;
    }
    check_fail_head_(file, line);
    printf("CHECK_EQ_U64(%s, %s) failed: actual %" PRIu64 ", expected %" PRIu64 "\n", a, e,
           actual, expected);
    return 0;
}

/* Ends a check of two texts (a length SIZE_MAX: up to the NUL): counts a
 * pass, or prints "NAME(a, e) failed: <before>"x"<between>"y"". */
static inline int check_texts_(int ok, const char *file, int line, const char *name,
                               const char *a, const char *e, const char *before,
                               const char *x, size_t x_len, const char *between,
                               const char *y, size_t y_len)
{
    if (ok) {
        check_passed_++;
        return 1;
    }
    check_fail_head_(file, line);
    printf("%s(%s, %s) failed: %s", name, a, e, before);
    check_print_quoted_(x, x_len, 400);
    fputs(between, stdout);
    check_print_quoted_(y, y_len, 400);
    fputc('\n', stdout);
    return 0;
}

static inline int check_str_(const char *actual, const char *expected, const char *file,
                             int line, const char *a, const char *e)
{
    int ok = actual != NULL && expected != NULL && strcmp(actual, expected) == 0;
    return check_texts_(ok, file, line, "CHECK_STR", a, e, "actual ", actual, SIZE_MAX,
                        ", expected ", expected, SIZE_MAX);
}

static inline int check_mem_(const void *actual, size_t actual_len, const void *expected,
                             size_t expected_len, const char *file, int line, const char *a,
                             const char *e)
{
    int ok = actual != NULL && expected != NULL && actual_len == expected_len &&
             memcmp(actual, expected, actual_len) == 0;
    return check_texts_(ok, file, line, "CHECK_MEM", a, e, "actual ", (const char *)actual,
                        actual_len, ", expected ", (const char *)expected, expected_len);
}

static inline int check_contains_(const char *haystack, const char *needle, const char *file,
                                  int line, const char *h, const char *n)
{
    int ok = haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
    return check_texts_(ok, file, line, "CHECK_CONTAINS", h, n, "", haystack, SIZE_MAX,
                        " does not contain ", needle, SIZE_MAX);
}

/* Each evaluates to 1 when the check passed, 0 when it failed. */
#define CHECK(expr) check_true_((expr) ? 1 : 0, __FILE__, __LINE__, #expr)
#define CHECK_EQ_INT(actual, expected)                                                      \
    check_eq_int_((long long)(actual), (long long)(expected), __FILE__, __LINE__, #actual, \
                  #expected)
#define CHECK_EQ_U64(actual, expected)                                                    \
    check_eq_u64_((uint64_t)(actual), (uint64_t)(expected), __FILE__, __LINE__, #actual, \
                  #expected)
#define CHECK_STR(actual, expected) \
    check_str_((actual), (expected), __FILE__, __LINE__, #actual, #expected)
#define CHECK_MEM(actual, actual_len, expected, expected_len)                         \
    check_mem_((actual), (actual_len), (expected), (expected_len), __FILE__, __LINE__, \
               #actual, #expected)
#define CHECK_CONTAINS(haystack, needle) \
    check_contains_((haystack), (needle), __FILE__, __LINE__, #haystack, #needle)

/* Records a failure that is not a comparison (e.g. a setup step failed). */
#define CHECK_FAIL(msg) check_true_(0, __FILE__, __LINE__, msg)

/* Runs one test function, naming it in the failure lines it causes. */
#define RUN_TEST(fn)          \
    do {                      \
        check_test_ = #fn;    \
        fn();                 \
        check_test_ = "";     \
    } while (0)

/* Prints the summary line and returns the process exit code: 0 only when
 * at least one check ran and none failed. */
static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed_, check_failed_);
    if (check_passed_ + check_failed_ == 0) {
        printf("no check ran: a test that checks nothing fails\n");
    }
    fflush(stdout);
    return check_failed_ == 0 && check_passed_ > 0 ? 0 : 1;
}

#endif /* RESMGR_TEST_CHECK_H */
