/*
 * resmgr-device: a device's resource-management command line, built on the
 * resmgr library's own MQTT connection (feature "mqtt") and transfer engine
 * (feature "http"). Built as the executable `resmgr-device` and installed to
 * bin/; see `resmgr-device --help` and the README's "resmgr-device" section.
 *
 *   resmgr-device [options] upload FILE [--name NAME] [--result-wait SECONDS]
 *   resmgr-device [options] download [--dir DIR] [--wait SECONDS] [--follow]
 *
 * Options may come before or after the command, as `--opt VALUE` or
 * `--opt=VALUE`.
 *
 * Exit status
 *   0    success: the store accepted the upload (PUT 2xx, `done` report
 *        published) / the verified file is in place; with --follow, a clean
 *        stop after SIGINT or SIGTERM
 *   1    any other failure (one line on stderr says what)
 *   2    usage error (one line on stderr)
 *   3    download: no task arrived within --wait seconds
 *   130, 143  upload or one-shot download interrupted by SIGINT / SIGTERM
 *        (128 + signal number, the shell's convention: the job was not
 *        done). The running transfer is cancelled first, so a download's
 *        partial file stays resumable.
 *
 * Behaviour worth knowing
 * - stdout gets one result line per finished transfer (and the platform's
 *   upload_result when it comes); stderr gets notes, progress and errors.
 *   Progress is a bar (rate, percent, ETA) when stderr is a terminal, plain
 *   lines at most once a second plus a final one otherwise, nothing with
 *   --quiet (errors are always printed).
 * - The first connection to the broker must succeed within 30 s (or
 *   --timeout, if shorter); a broker that refuses the login (wrong
 *   credentials) or a TLS failure ends the command at once. Later drops
 *   are ridden out: the library reconnects and transfers go on over HTTP.
 * - --timeout bounds the whole command; with --follow it bounds each
 *   download instead, and --wait is not used (it waits until stopped).
 * - download: after `get_download_task`, the first task to arrive is taken
 *   (the answer or a pushed `download`). An expired URL mid-way
 *   (RESMGR_ERR_URL_EXPIRED) is refreshed with another get_download_task
 *   (the fresh URL arrives as RESMGR_EVENT_URL_REFRESHED) and the download
 *   resumes, up to 5 times. With --follow, every pushed task is handled in
 *   turn and the pending ones are asked for again after each reconnect
 *   (pushes sent while the connection was down are lost).
 * - The device secret is never printed; it is also wiped from the process's
 *   argument list (ps) as soon as it has been copied.
 *
 * Test hooks (for tests only; not needed in the field): when set, the
 * environment variables RESMGR_CONNID (5 alphanumerics) and RESMGR_EXPIRY
 * (Unix seconds) are passed as resmgr_mqtt_options.connid / .expiry, so
 * that a test can precompute the key-authentication username and password.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "resmgr.h"

#if !defined(RESMGR_HTTP) || !defined(RESMGR_MQTT)
#error "resmgr-device needs a resmgr built with the http and mqtt features"
#endif

#define PROG "resmgr-device"

enum {
    EXIT_SUCCESS_ = 0,
    EXIT_FAILURE_ = 1,
    EXIT_USAGE = 2,
    EXIT_NO_TASK = 3,
};

/* Limits of the steps that have no option of their own. */
#define CONNECT_LIMIT_MS 30000u    /* first connection to the broker */
#define URL_LIMIT_MS 60000u        /* the platform's answer to create_upload_task */
#define REFRESH_LIMIT_MS 30000u    /* a fresh URL after RESMGR_ERR_URL_EXPIRED */
#define DISCONNECT_WAIT_MS 5000u   /* QoS 1 acks before disconnecting */
#define MAX_URL_REFRESHES 5
#define TASK_QUEUE 64
#define HASH_CHUNK (256u * 1024u)

#ifdef __GNUC__
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* ------------------------------------------------------------------------ */
/* Options                                                                  */
/* ------------------------------------------------------------------------ */

enum command { CMD_NONE, CMD_UPLOAD, CMD_DOWNLOAD };

struct config {
    const char *host;
    unsigned port; /* 0: 1883, or 8883 with --tls */
    const char *product;
    const char *device;
    char *secret; /* heap copy; wiped and freed at exit */
    bool tls;
    const char *ca;
    unsigned timeout_s;
    bool quiet;
    enum command cmd;
    const char *file;
    const char *name;
    const char *dir;
    unsigned wait_s;
    unsigned result_wait_s; /* upload: how long to wait for upload_result; 0: not at all */
    bool follow;
    const char *connid; /* test hook RESMGR_CONNID */
    uint64_t expiry;    /* test hook RESMGR_EXPIRY */
};

static void usage_text(FILE *f) {
    fprintf(f,
            "usage: " PROG " [options] upload FILE [--name NAME] [--result-wait SECONDS]\n"
            "       " PROG " [options] download [--dir DIR] [--wait SECONDS] [--follow]\n"
            "\n"
            "options:\n"
            "  --host HOST        MQTT broker host (default 127.0.0.1)\n"
            "  --port PORT        MQTT port (default 1883, 8883 with --tls)\n"
            "  --product ID       product id (required)\n"
            "  --device NAME      device name (required)\n"
            "  --secret BASE64    device secret: use the platform's key authentication\n"
            "  --tls              MQTT over TLS\n"
            "  --ca FILE          CA bundle for MQTT TLS and for HTTPS transfers\n"
            "  --timeout SECONDS  limit for the whole command (default 600; with\n"
            "                     --follow, for each download)\n"
            "  --quiet            no progress display\n"
            "  --help, --version\n"
            "\n"
            "upload:   hashes FILE, creates the task (NAME defaults to the file's base\n"
            "          name), uploads it, reports, and waits for the platform's\n"
            "          upload_result: --result-wait seconds at most (default 5; 0: exit\n"
            "          as soon as the done report is delivered, without waiting).\n"
            "download: asks for a download task and takes the first that arrives (the\n"
            "          answer or a push), downloads it into DIR (default .) with MD5\n"
            "          verification and resume, and reports. --wait: how long to wait\n"
            "          for a task (default 30). --follow: keep handling pushed tasks\n"
            "          until SIGINT/SIGTERM.\n"
            "\n"
            "exit status: 0 success, 1 failure, 2 usage error, 3 no download task\n"
            "within --wait, 128+N interrupted by signal N (0 with --follow).\n"
            "test hooks: RESMGR_CONNID and RESMGR_EXPIRY, when set, fix the connid and\n"
            "expiry of the key-authentication username.\n");
}

static int usage_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
static int usage_error(const char *fmt, ...) {
    va_list ap;
    fputs(PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see '" PROG " --help')\n", stderr);
    return EXIT_USAGE;
}

/* Parses a whole decimal number in [min, max]. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
    char *end;
    unsigned long long v;
    if (s == NULL || *s < '0' || *s > '9') return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) return false;
    *out = (uint64_t)v;
    return true;
}

/* Overwrites an argument in place so the secret does not stay visible in
 * /proc/PID/cmdline (ps). */
static void wipe(char *s) {
    volatile char *p = s;
    while (*p != '\0') *p++ = 'x';
}

static void free_secret(struct config *cfg) {
    if (cfg->secret != NULL) {
        volatile char *p = cfg->secret;
        while (*p != '\0') *p++ = '\0';
        free(cfg->secret);
        cfg->secret = NULL;
    }
}

/* The long options; `val` names each in the switch of parse_args. */
enum { OPT_HOST = 256, OPT_PORT, OPT_PRODUCT, OPT_DEVICE, OPT_SECRET, OPT_CA, OPT_TIMEOUT,
       OPT_NAME, OPT_DIR, OPT_WAIT, OPT_RESULT_WAIT, OPT_TLS, OPT_QUIET, OPT_FOLLOW, OPT_VERSION };

static const struct option long_options[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"product", required_argument, NULL, OPT_PRODUCT},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"secret", required_argument, NULL, OPT_SECRET},
    {"ca", required_argument, NULL, OPT_CA},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"name", required_argument, NULL, OPT_NAME},
    {"dir", required_argument, NULL, OPT_DIR},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"result-wait", required_argument, NULL, OPT_RESULT_WAIT},
    {"tls", no_argument, NULL, OPT_TLS},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The option argv[optind - 1] named, without any "=value" (for messages:
 * a secret given as --secret=... is never echoed). */
static const char *option_name(char **argv, char *buf, size_t cap) {
    const char *arg = argv[optind - 1];
    size_t len = strcspn(arg, "=");
    if (len >= cap) len = cap - 1;
    memcpy(buf, arg, len);
    buf[len] = '\0';
    return buf;
}

/* Returns -1 when the arguments are good, else the exit status. getopt_long
 * takes options before and after the command, as --opt VALUE or
 * --opt=VALUE, and "--" ends them. */
static int parse_args(int argc, char **argv, struct config *cfg) {
    bool dir_given = false, wait_given = false, result_wait_given = false;
    const char *env;
    char opt[32];
    int c, i;

    cfg->host = "127.0.0.1";
    cfg->timeout_s = 600;
    cfg->dir = ".";
    cfg->wait_s = 30;
    cfg->result_wait_s = 5;

    opterr = 0; /* every message is ours: one line, never a secret */
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        uint64_t n;
        if (c == '?') {
            if (optopt != 0 && optopt < 256) return usage_error("unknown option '-%c'", optopt);
            option_name(argv, opt, sizeof opt);
            /* A known flag given "=value" lands here too. */
            for (i = 0; long_options[i].name != NULL; i++) {
                if (long_options[i].has_arg == no_argument && strcmp(opt + 2, long_options[i].name) == 0)
                    return usage_error("option '%s' takes no value", opt);
            }
            return usage_error("unknown option '%s'", opt);
        }
        if (c == ':') return usage_error("option '%s' needs a value", option_name(argv, opt, sizeof opt));
        if (c == 'h') {
            usage_text(stdout);
            return EXIT_SUCCESS_;
        }
        if (c == OPT_VERSION) {
            printf(PROG " (resmgr %s)\n", resmgr_version());
            return EXIT_SUCCESS_;
        }
        if (c == OPT_TLS || c == OPT_QUIET || c == OPT_FOLLOW) {
            cfg->tls |= c == OPT_TLS;
            cfg->quiet |= c == OPT_QUIET;
            cfg->follow |= c == OPT_FOLLOW;
            continue;
        }
        option_name(argv, opt, sizeof opt);
        if (c == OPT_SECRET) {
            /* Never echoed, even when it is wrong. */
            if (optarg[0] == '\0') return usage_error("option '--secret' needs a non-empty value");
            free_secret(cfg);
            cfg->secret = malloc(strlen(optarg) + 1);
            if (cfg->secret == NULL) {
                fputs(PROG ": out of memory\n", stderr);
                return EXIT_FAILURE_;
            }
            strcpy(cfg->secret, optarg);
            wipe(optarg);
            continue;
        }
        if (optarg[0] == '\0') return usage_error("option '%s' needs a non-empty value", opt);
        switch (c) {
        case OPT_HOST:
            cfg->host = optarg;
            break;
        case OPT_PORT:
            if (!parse_u64(optarg, 1, 65535, &n)) return usage_error("--port must be 1-65535, not '%s'", optarg);
            cfg->port = (unsigned)n;
            break;
        case OPT_PRODUCT:
            cfg->product = optarg;
            break;
        case OPT_DEVICE:
            cfg->device = optarg;
            break;
        case OPT_CA:
            cfg->ca = optarg;
            break;
        case OPT_TIMEOUT:
            if (!parse_u64(optarg, 1, 4000000, &n))
                return usage_error("--timeout must be a whole number of seconds, 1-4000000, not '%s'", optarg);
            cfg->timeout_s = (unsigned)n;
            break;
        case OPT_NAME:
            cfg->name = optarg;
            break;
        case OPT_DIR:
            cfg->dir = optarg;
            dir_given = true;
            break;
        case OPT_WAIT:
            if (!parse_u64(optarg, 1, 4000000, &n))
                return usage_error("--wait must be a whole number of seconds, 1-4000000, not '%s'", optarg);
            cfg->wait_s = (unsigned)n;
            wait_given = true;
            break;
        case OPT_RESULT_WAIT:
            if (!parse_u64(optarg, 0, 4000000, &n))
                return usage_error("--result-wait must be a whole number of seconds, 0-4000000, not '%s'",
                                   optarg);
            cfg->result_wait_s = (unsigned)n;
            result_wait_given = true;
            break;
        default:
            return usage_error("unknown option '%s'", opt);
        }
    }
    /* What getopt_long left, in order: the command and its FILE. */
    for (i = optind; i < argc; i++) {
        const char *arg = argv[i];
        if (cfg->cmd == CMD_NONE) {
            if (strcmp(arg, "upload") == 0) {
                cfg->cmd = CMD_UPLOAD;
            } else if (strcmp(arg, "download") == 0) {
                cfg->cmd = CMD_DOWNLOAD;
            } else {
                return usage_error("unknown command '%s' (expected 'upload' or 'download')", arg);
            }
        } else if (cfg->cmd == CMD_UPLOAD && cfg->file == NULL) {
            cfg->file = arg;
        } else {
            return usage_error("unexpected argument '%s'", arg);
        }
    }
    if (cfg->cmd == CMD_NONE) return usage_error("a command is required: 'upload FILE' or 'download'");
    if (cfg->cmd == CMD_UPLOAD) {
        if (cfg->file == NULL) return usage_error("upload needs a FILE");
        if (dir_given || wait_given || cfg->follow)
            return usage_error("--dir, --wait and --follow belong to the download command");
    } else if (cfg->name != NULL || result_wait_given) {
        return usage_error("--name and --result-wait belong to the upload command");
    }
    if (cfg->product == NULL) return usage_error("--product is required");
    if (cfg->device == NULL) return usage_error("--device is required");

    env = getenv("RESMGR_CONNID");
    if (env != NULL && env[0] != '\0') cfg->connid = env;
    env = getenv("RESMGR_EXPIRY");
    if (env != NULL && env[0] != '\0') {
        uint64_t n;
        if (!parse_u64(env, 1, UINT64_MAX, &n))
            return usage_error("RESMGR_EXPIRY must be a Unix time in seconds, not '%s'", env);
        cfg->expiry = n;
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Time                                                                     */
/* ------------------------------------------------------------------------ */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* ------------------------------------------------------------------------ */
/* Output: notes, errors and progress on stderr                             */
/* ------------------------------------------------------------------------ */

static struct {
    pthread_mutex_t mu;
    bool tty;
    bool quiet;
    bool bar_shown; /* a progress bar is on the current terminal line */
} out = {PTHREAD_MUTEX_INITIALIZER, false, false, false};

/* Ends a bar line so the next message starts on a line of its own. */
static void clear_bar_locked(void) {
    if (out.bar_shown) {
        fputs("\r\033[K", stderr);
        out.bar_shown = false;
    }
}

static void vline(bool always, const char *fmt, va_list ap) {
    if (!always && out.quiet) return;
    pthread_mutex_lock(&out.mu);
    clear_bar_locked();
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&out.mu);
}

/* A note (not shown with --quiet). */
static void note(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline(false, fmt, ap);
    va_end(ap);
}

/* The one error line of a failure (always shown). */
static void error_line(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void error_line(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline(true, fmt, ap);
    va_end(ap);
}

/* The calling thread's last resmgr error, or the status's description. */
static const char *last_error(resmgr_status st, char *buf, size_t len) {
    resmgr_last_error(buf, len);
    if (buf[0] == '\0') snprintf(buf, len, "%s", resmgr_status_str(st));
    return buf;
}

/* The library's message without a leading "<verb> '<name>': ", which the
 * error line already says. */
static const char *without_prefix(const char *why, const char *verb, const char *name) {
    size_t v = strlen(verb), n = strlen(name);
    if (strncmp(why, verb, v) == 0 && strncmp(why + v, " '", 2) == 0 && strncmp(why + v + 2, name, n) == 0 &&
        strncmp(why + v + 2 + n, "': ", 3) == 0)
        return why + v + 2 + n + 3;
    return why;
}

static void fmt_bytes(char *buf, size_t len, double n) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (n >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        n /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%.0f B", n);
    else
        snprintf(buf, len, "%.1f %s", n, units[u]);
}

static void fmt_duration(char *buf, size_t len, double s) {
    unsigned long t;
    if (s < 0 || s > 360000.0) {
        snprintf(buf, len, "--:--");
        return;
    }
    t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%lu:%02lu", t / 60, t % 60);
}

/* One transfer's progress display. Runs on the transfer's thread. */
struct progress {
    const char *verb; /* "upload" / "download" */
    const char *name;
    uint64_t total;
    uint64_t done;
    uint64_t base;      /* bytes already there when this run started (resume) */
    uint64_t start_ms;  /* when `base` was taken */
    uint64_t drawn_ms;  /* last bar or line */
    bool started;
};

static void progress_begin(struct progress *p, const char *verb, const char *name, uint64_t total) {
    memset(p, 0, sizeof *p);
    p->verb = verb;
    p->name = name;
    p->total = total;
    p->start_ms = now_ms();
    p->drawn_ms = p->start_ms;
}

static double progress_rate(const struct progress *p, uint64_t now) {
    double secs = (double)(now - p->start_ms) / 1000.0;
    if (secs < 0.2 || p->done <= p->base) return 0.0;
    return (double)(p->done - p->base) / secs;
}

static void progress_draw_locked(struct progress *p, uint64_t now) {
    char done[32], total[32], rate_s[32], eta[32];
    double rate = progress_rate(p, now);
    unsigned percent = p->total == 0 ? 100u : (unsigned)((double)p->done * 100.0 / (double)p->total);
    fmt_bytes(done, sizeof done, (double)p->done);
    fmt_bytes(total, sizeof total, (double)p->total);
    if (rate > 0)
        fmt_bytes(rate_s, sizeof rate_s, rate);
    else
        snprintf(rate_s, sizeof rate_s, "--");
    fmt_duration(eta, sizeof eta, rate > 0 ? (double)(p->total - p->done) / rate : -1.0);
    if (out.tty) {
        char bar[21];
        unsigned fill = percent / 5, k;
        for (k = 0; k < 20; k++) bar[k] = k < fill ? '#' : '.';
        bar[20] = '\0';
        fprintf(stderr, "\r%s %.30s [%s] %3u%%  %s / %s  %s/s  ETA %s\033[K", p->verb, p->name, bar, percent, done,
                total, rate_s, eta);
        out.bar_shown = true;
    } else {
        fprintf(stderr, PROG ": %s '%s': %u%% (%s of %s), %s/s, ETA %s\n", p->verb, p->name, percent, done, total,
                rate_s, eta);
    }
    fflush(stderr);
}

/* resmgr_progress_fn */
static void on_progress(void *user, const char *name, uint64_t done, uint64_t total) {
    struct progress *p = user;
    uint64_t now = now_ms();
    (void)name;
    if (!p->started || done < p->done) {
        /* First call of this run, or a retry that restarted from 0. */
        p->base = done;
        p->start_ms = now;
        p->started = true;
    }
    p->done = done;
    p->total = total;
    if (out.quiet) return;
    if (now - p->drawn_ms < (out.tty ? 100u : 1000u)) return;
    pthread_mutex_lock(&out.mu);
    progress_draw_locked(p, now);
    pthread_mutex_unlock(&out.mu);
    p->drawn_ms = now;
}

/* After the run: a final line on success, or just ends the bar. */
static void progress_end(struct progress *p, bool ok) {
    if (out.quiet) return;
    pthread_mutex_lock(&out.mu);
    if (ok) {
        uint64_t now = now_ms();
        char total[32], rate_s[32];
        double secs = (double)(now - p->start_ms) / 1000.0;
        double rate = secs >= 0.01 ? (double)(p->total - min_u64(p->base, p->total)) / secs : 0.0;
        clear_bar_locked();
        fmt_bytes(total, sizeof total, (double)p->total);
        if (rate > 0.0)
            fmt_bytes(rate_s, sizeof rate_s, rate);
        else
            snprintf(rate_s, sizeof rate_s, "--");
        fprintf(stderr, PROG ": %s '%s': 100%% (%s) in %.1f s, %s/s\n", p->verb, p->name, total, secs, rate_s);
        fflush(stderr);
    } else {
        clear_bar_locked();
    }
    pthread_mutex_unlock(&out.mu);
}

/* ------------------------------------------------------------------------ */
/* Shared state between the main thread, the MQTT thread and the watcher    */
/* ------------------------------------------------------------------------ */

struct task {
    char name[RESMGR_MAX_NAME_LEN + 1];
    uint64_t size;
    bool pushed;
};

struct app {
    const struct config *cfg;
    resmgr_client *client;
    bool started; /* resmgr_client_connect succeeded */

    pthread_mutex_t mu;
    pthread_cond_t cv; /* any change below */

    /* connection */
    bool connected, ever_connected, disconnecting, refused, reask;
    resmgr_status refusal; /* why, when refused */
    unsigned rejected_notes; /* invalid messages reported on stderr so far */
    char reason[512];

    /* upload */
    char upload_name[RESMGR_MAX_NAME_LEN + 1];
    bool url_ready, upload_rejected, have_result;
    int32_t reject_code, result_code;
    char reject_msg[RESMGR_MAX_RESULT_MSG_LEN + 1];
    char result_msg[RESMGR_MAX_RESULT_MSG_LEN + 1];

    /* download */
    struct task queue[TASK_QUEUE];
    size_t qhead, qlen;
    bool no_task_answer;
    char refresh_name[RESMGR_MAX_NAME_LEN + 1]; /* waiting for a fresh URL */
    bool refreshed, refresh_none;

    /* the running transfer, for cancelling it */
    char running[RESMGR_MAX_NAME_LEN + 1];
    int32_t running_dir;
    uint64_t running_deadline_ms; /* 0: none */

    /* stopping */
    int stop_signal;  /* SIGINT / SIGTERM received */
    bool timed_out;   /* the watcher cancelled a transfer past its limit */
    bool quit;        /* tells the watcher to end */
};


/* resmgr_event_fn: on the MQTT thread for down messages and connection
 * changes, on the calling thread otherwise. Never holds `mu` while calling
 * into the library. */
static void on_event(void *user, const resmgr_event *ev) {
    struct app *a = user;
    pthread_mutex_lock(&a->mu);
    switch (ev->kind) {
    case RESMGR_EVENT_CONNECTED:
        if (a->ever_connected) note("reconnected to the broker");
        a->connected = true;
        a->ever_connected = true;
        a->reask = true;
        break;
    case RESMGR_EVENT_DISCONNECTED:
        a->connected = false;
        snprintf(a->reason, sizeof a->reason, "%s", ev->detail);
        /* A refused login or an untrusted certificate will not heal by
         * retrying; a broker that is down may come back. */
        if (ev->status == RESMGR_ERR_NOT_AUTHORIZED || ev->status == RESMGR_ERR_TLS) {
            a->refused = true;
            a->refusal = ev->status;
        }
        if (a->ever_connected && !a->disconnecting)
            note("connection to the broker lost (%s); reconnecting", ev->detail);
        break;
    case RESMGR_EVENT_UPLOAD_URL:
        if (strcmp(ev->name, a->upload_name) == 0) a->url_ready = true;
        break;
    case RESMGR_EVENT_TASK_REJECTED:
        if (ev->direction == RESMGR_DIRECTION_UPLOAD && a->upload_name[0] != '\0' && !a->url_ready &&
            (ev->name[0] == '\0' || strcmp(ev->name, a->upload_name) == 0)) {
            a->upload_rejected = true;
            a->reject_code = ev->result_code;
            snprintf(a->reject_msg, sizeof a->reject_msg, "%s", ev->result_msg);
        } else if (ev->direction == RESMGR_DIRECTION_DOWNLOAD && a->refresh_name[0] != '\0' &&
                   (ev->name[0] == '\0' || strcmp(ev->name, a->refresh_name) == 0)) {
            a->refresh_none = true;
        }
        break;
    case RESMGR_EVENT_UPLOAD_RESULT:
        if (a->upload_name[0] != '\0' && (ev->name[0] == '\0' || strcmp(ev->name, a->upload_name) == 0)) {
            a->have_result = true;
            a->result_code = ev->result_code;
            snprintf(a->result_msg, sizeof a->result_msg, "%s", ev->result_msg);
        }
        break;
    case RESMGR_EVENT_DOWNLOAD_TASK:
    case RESMGR_EVENT_URL_REFRESHED:
        if (ev->direction != RESMGR_DIRECTION_DOWNLOAD) break;
        if (a->refresh_name[0] != '\0' && strcmp(ev->name, a->refresh_name) == 0) {
            a->refreshed = true;
        } else if (ev->kind == RESMGR_EVENT_DOWNLOAD_TASK) {
            if (a->qlen == TASK_QUEUE) {
                note("download task '%s' ignored: %d tasks already waiting", ev->name, TASK_QUEUE);
                break;
            }
            {
                struct task *t = &a->queue[(a->qhead + a->qlen++) % TASK_QUEUE];
                snprintf(t->name, sizeof t->name, "%s", ev->name);
                t->size = ev->size;
                t->pushed = ev->pushed;
            }
        }
        break;
    case RESMGR_EVENT_NO_DOWNLOAD_TASK:
        a->no_task_answer = true;
        if (a->refresh_name[0] != '\0') a->refresh_none = true;
        break;
    case RESMGR_EVENT_MESSAGE_REJECTED:
        /* Say why a task never came, but do not let a flood of bad
         * messages flood the terminal. */
        if (a->rejected_notes++ < 3) note("ignored an invalid message from the platform: %s", ev->detail);
        break;
    default:
        /* Acks, unmatched and unknown messages: nothing to do. */
        break;
    }
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Waits on the condition variable until `until_ms` (monotonic) at the
 * latest. Called with `mu` held. */
static void wait_locked(struct app *a, uint64_t until_ms) {
    struct timespec ts;
    uint64_t now = now_ms();
    uint64_t left = until_ms > now ? until_ms - now : 0;
    if (left == 0) return;
    if (left > 500) left = 500; /* re-check the clock now and then */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(left / 1000);
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&a->cv, &a->mu, &ts);
}

/* The watcher thread: turns SIGINT/SIGTERM into a stop (cancelling the
 * running transfer) and cancels a transfer that overran its time limit.
 * The signals are blocked in every thread, so only sigtimedwait sees them. */
static void *watcher(void *user) {
    struct app *a = user;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1); /* main's "quit now", so the exit does not wait for a tick */
    for (;;) {
        struct timespec tick = {0, 200000000L};
        char name[RESMGR_MAX_NAME_LEN + 1];
        int32_t dir;
        bool cancel = false;
        int sig = sigtimedwait(&set, NULL, &tick);

        pthread_mutex_lock(&a->mu);
        if (a->quit) {
            pthread_mutex_unlock(&a->mu);
            break;
        }
        if (sig == SIGINT || sig == SIGTERM) {
            if (a->stop_signal != 0) {
                /* A second signal while stopping: the user insists. */
                pthread_mutex_unlock(&a->mu);
                error_line("interrupted again; exiting without cleaning up");
                _exit(128 + sig);
            }
            a->stop_signal = sig;
            cancel = true;
            note("%s received: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        } else if (a->running[0] != '\0' && a->running_deadline_ms != 0 &&
                   now_ms() > a->running_deadline_ms + 2000u && !a->timed_out) {
            /* The engine's own total timeout should have ended it; this is
             * the backstop. */
            a->timed_out = true;
            cancel = true;
        }
        snprintf(name, sizeof name, "%s", a->running);
        dir = a->running_dir;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        if (cancel && name[0] != '\0') resmgr_client_cancel(a->client, dir, name);
    }
    return NULL;
}

static int stop_signal(struct app *a) {
    int sig;
    pthread_mutex_lock(&a->mu);
    sig = a->stop_signal;
    pthread_mutex_unlock(&a->mu);
    return sig;
}

/* Marks (or clears, with NULL) the transfer the watcher may cancel. Returns
 * false when a stop was requested before it could start. */
static bool set_running(struct app *a, int32_t dir, const char *name, uint64_t deadline_ms) {
    bool ok;
    pthread_mutex_lock(&a->mu);
    ok = a->stop_signal == 0;
    if (ok && name != NULL) {
        snprintf(a->running, sizeof a->running, "%s", name);
        a->running_dir = dir;
        a->running_deadline_ms = deadline_ms;
        a->timed_out = false;
    } else {
        a->running[0] = '\0';
        a->running_deadline_ms = 0;
    }
    pthread_mutex_unlock(&a->mu);
    return ok;
}

/* Sets the transfer options for the next transfer, whose time limit ends at
 * `deadline_ms`. */
static resmgr_status set_transfer_limit(struct app *a, uint64_t deadline_ms) {
    resmgr_transfer_options opts;
    uint64_t now = now_ms(), left = deadline_ms > now ? deadline_ms - now : 1;
    resmgr_transfer_options_init(&opts);
    opts.ca_file = a->cfg->ca;
    opts.total_timeout_ms = (uint32_t)(left > UINT32_MAX ? UINT32_MAX : (left == 0 ? 1 : left));
    return resmgr_client_set_transfer_options(a->client, &opts);
}

static unsigned effective_port(const struct config *cfg) {
    return cfg->port != 0 ? cfg->port : (cfg->tls ? 8883u : 1883u);
}

/* ------------------------------------------------------------------------ */
/* Connecting                                                               */
/* ------------------------------------------------------------------------ */

/* Returns 0 when connected, else the exit status (after the error line,
 * which starts with `what`). */
static int connect_broker(struct app *a, const char *what, uint64_t deadline_ms) {
    char why[512];
    resmgr_status st = resmgr_client_connect(a->client);
    uint64_t start = now_ms(), limit = min_u64(deadline_ms, start + CONNECT_LIMIT_MS);
    int sig;
    if (st != RESMGR_OK) {
        error_line("%s failed: cannot start the MQTT connection: %s", what, last_error(st, why, sizeof why));
        return EXIT_FAILURE_;
    }
    a->started = true;
    pthread_mutex_lock(&a->mu);
    while (!a->connected && !a->refused && a->stop_signal == 0 && now_ms() < limit) wait_locked(a, limit);
    sig = a->stop_signal;
    if (a->connected) {
        pthread_mutex_unlock(&a->mu);
        note("connected to %s:%u", a->cfg->host, effective_port(a->cfg));
        return 0;
    }
    snprintf(why, sizeof why, "%s", a->reason[0] != '\0' ? a->reason : "no answer");
    pthread_mutex_unlock(&a->mu);
    if (sig != 0) {
        error_line("%s interrupted while connecting to the broker", what);
        return 128 + sig;
    }
    if (a->refused && a->refusal == RESMGR_ERR_TLS)
        error_line("%s failed: TLS with the MQTT broker %s:%u failed: %s (check --host and --ca)", what,
                   a->cfg->host, effective_port(a->cfg), why);
    else if (a->refused)
        error_line("%s failed: the MQTT broker %s:%u refused the connection: %s "
                   "(check --product, --device and --secret)",
                   what, a->cfg->host, effective_port(a->cfg), why);
    else
        error_line("%s failed: cannot connect to the MQTT broker %s:%u within %u s: %s", what, a->cfg->host,
                   effective_port(a->cfg), (unsigned)((limit - start + 999u) / 1000u), why);
    return EXIT_FAILURE_;
}

static void disconnect_broker(struct app *a) {
    if (!a->started) return;
    pthread_mutex_lock(&a->mu);
    a->disconnecting = true;
    pthread_mutex_unlock(&a->mu);
    resmgr_client_disconnect(a->client, DISCONNECT_WAIT_MS);
    a->started = false;
}

/* ------------------------------------------------------------------------ */
/* upload                                                                   */
/* ------------------------------------------------------------------------ */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* Hashes the file (interruptible). Returns 0, or the exit status after the
 * error line. */
static int hash_file(struct app *a, const char *path, resmgr_digest *digest, uint64_t *size) {
    struct stat sb;
    FILE *f;
    uint8_t *buf;
    resmgr_md5 *md5;
    uint64_t total = 0;
    int rc = 0;

    if (stat(path, &sb) != 0) {
        error_line("upload '%s' failed: %s", path, strerror(errno));
        return EXIT_FAILURE_;
    }
    if (!S_ISREG(sb.st_mode)) {
        error_line("upload '%s' failed: not a regular file", path);
        return EXIT_FAILURE_;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        error_line("upload '%s' failed: cannot open it: %s", path, strerror(errno));
        return EXIT_FAILURE_;
    }
    buf = malloc(HASH_CHUNK);
    md5 = resmgr_md5_new();
    if (buf == NULL || md5 == NULL) {
        error_line("upload '%s' failed: out of memory", path);
        rc = EXIT_FAILURE_;
    }
    while (rc == 0) {
        size_t n = fread(buf, 1, HASH_CHUNK, f);
        int sig;
        if (n > 0) {
            resmgr_md5_update(md5, buf, n);
            total += n;
        }
        if (n < HASH_CHUNK) {
            if (ferror(f)) {
                error_line("upload '%s' failed: cannot read it: %s", path, strerror(errno));
                rc = EXIT_FAILURE_;
            }
            break;
        }
        if ((sig = stop_signal(a)) != 0) {
            error_line("upload '%s' interrupted while hashing", path);
            rc = 128 + sig;
        }
    }
    if (rc == 0) {
        resmgr_md5_finish(md5, digest);
        *size = total;
    }
    resmgr_md5_free(md5);
    free(buf);
    fclose(f);
    return rc;
}

static int cmd_upload(struct app *a, uint64_t deadline_ms) {
    const struct config *cfg = a->cfg;
    const char *name = cfg->name != NULL ? cfg->name : base_name(cfg->file);
    char what[RESMGR_MAX_NAME_LEN + 64];
    char why[1024];
    resmgr_digest digest;
    uint64_t size = 0, start, limit;
    resmgr_status st;
    struct progress prog;
    int rc, sig;
    bool ok;

    snprintf(what, sizeof what, "upload '%s'", cfg->file);
    if ((rc = hash_file(a, cfg->file, &digest, &size)) != 0) return rc;
    if ((rc = connect_broker(a, what, deadline_ms)) != 0) return rc;

    pthread_mutex_lock(&a->mu);
    snprintf(a->upload_name, sizeof a->upload_name, "%s", name);
    pthread_mutex_unlock(&a->mu);
    st = resmgr_client_create_upload_task(a->client, name, size, digest.hex);
    if (st != RESMGR_OK) {
        error_line("%s failed: cannot create the upload task: %s", what, last_error(st, why, sizeof why));
        return EXIT_FAILURE_;
    }
    note("upload task '%s' created (%llu bytes, md5 %s); waiting for its URL", name, (unsigned long long)size,
         digest.hex);

    start = now_ms();
    limit = min_u64(deadline_ms, start + URL_LIMIT_MS);
    pthread_mutex_lock(&a->mu);
    while (!a->url_ready && !a->upload_rejected && a->stop_signal == 0 && now_ms() < limit) wait_locked(a, limit);
    ok = a->url_ready;
    sig = a->stop_signal;
    pthread_mutex_unlock(&a->mu);
    if (!ok) {
        if (a->upload_rejected) {
            error_line("%s failed: the platform rejected the task: %d %s", what, (int)a->reject_code,
                       a->reject_msg[0] != '\0' ? a->reject_msg : "(no message)");
            return EXIT_FAILURE_;
        }
        if (sig != 0) {
            resmgr_client_report_upload_progress(a->client, name, RESMGR_STATE_FAIL, 0, -1, "cancelled by the user");
            error_line("%s interrupted while waiting for its URL", what);
            return 128 + sig;
        }
        resmgr_client_report_upload_progress(a->client, name, RESMGR_STATE_FAIL, 0, -1,
                                             "no upload URL from the platform in time");
        error_line("%s failed: no upload URL from the platform within %llu s", what,
                   (unsigned long long)((limit - start + 999u) / 1000u));
        return EXIT_FAILURE_;
    }

    st = set_transfer_limit(a, deadline_ms);
    if (st != RESMGR_OK) {
        resmgr_client_report_upload_progress(a->client, name, RESMGR_STATE_FAIL, 0, -1, "bad transfer settings");
        error_line("%s failed: %s", what, last_error(st, why, sizeof why));
        return EXIT_FAILURE_;
    }
    if (!set_running(a, RESMGR_DIRECTION_UPLOAD, name, deadline_ms)) {
        resmgr_client_report_upload_progress(a->client, name, RESMGR_STATE_FAIL, 0, -1, "cancelled by the user");
        error_line("%s interrupted", what);
        return 128 + stop_signal(a);
    }
    progress_begin(&prog, "upload", name, size);
    st = resmgr_client_run_upload(a->client, name, cfg->file, NULL, NULL, on_progress, &prog);
    last_error(st, why, sizeof why);
    set_running(a, 0, NULL, 0);
    progress_end(&prog, st == RESMGR_OK);

    if (st == RESMGR_ERR_PUBLISH) {
        /* The store has the data; only the done report is missing. */
        int tries;
        for (tries = 0; tries < 5 && st == RESMGR_ERR_PUBLISH; tries++) {
            struct timespec pause = {1, 0};
            nanosleep(&pause, NULL);
            st = resmgr_client_report_upload_progress(a->client, name, RESMGR_STATE_DONE, 100, 0, NULL);
        }
        if (st != RESMGR_OK) {
            error_line("%s failed: the store has the data but the done report could not be published: %s", what,
                       last_error(st, why, sizeof why));
            return EXIT_FAILURE_;
        }
    } else if (st != RESMGR_OK) {
        pthread_mutex_lock(&a->mu);
        sig = a->stop_signal;
        ok = a->timed_out;
        pthread_mutex_unlock(&a->mu);
        if (st == RESMGR_ERR_CANCELLED && sig != 0) {
            error_line("%s interrupted: the transfer was cancelled", what);
            return 128 + sig;
        }
        if (st == RESMGR_ERR_CANCELLED && ok) {
            error_line("%s failed: timed out (--timeout %u s)", what, cfg->timeout_s);
            return EXIT_FAILURE_;
        }
        if (st == RESMGR_ERR_TIMEOUT && now_ms() + 1000u >= deadline_ms) {
            error_line("%s failed: timed out (--timeout %u s)", what, cfg->timeout_s);
            return EXIT_FAILURE_;
        }
        error_line("%s failed: %s", what, without_prefix(why, "upload", name));
        return EXIT_FAILURE_;
    }

    printf("uploaded '%s' as '%s' (%llu bytes, md5 %s)\n", cfg->file, name, (unsigned long long)size, digest.hex);
    fflush(stdout);

    /* The platform's verdict, if it comes within --result-wait; informative
     * only. With --result-wait 0 it is not waited for (a platform may never
     * send one); the done report is still delivered before the exit. */
    if (cfg->result_wait_s == 0) return EXIT_SUCCESS_;
    limit = min_u64(deadline_ms, now_ms() + (uint64_t)cfg->result_wait_s * 1000u);
    pthread_mutex_lock(&a->mu);
    while (!a->have_result && a->stop_signal == 0 && now_ms() < limit) wait_locked(a, limit);
    ok = a->have_result;
    pthread_mutex_unlock(&a->mu);
    if (ok) {
        printf("upload_result for '%s': result_code %d%s%s%s\n", name, (int)a->result_code,
               a->result_msg[0] != '\0' ? " (" : "", a->result_msg, a->result_msg[0] != '\0' ? ")" : "");
        fflush(stdout);
        if (a->result_code != 0)
            note("the platform's verdict on '%s' is %d, although the store accepted the data", name,
                 (int)a->result_code);
    } else {
        note("no upload_result from the platform within %u s (the store accepted the data)", cfg->result_wait_s);
    }
    return EXIT_SUCCESS_;
}

/* ------------------------------------------------------------------------ */
/* download                                                                 */
/* ------------------------------------------------------------------------ */

/* Takes the next queued task into `*t`. Called with `mu` held. */
static bool pop_task_locked(struct app *a, struct task *t) {
    if (a->qlen == 0) return false;
    *t = a->queue[a->qhead];
    a->qhead = (a->qhead + 1) % TASK_QUEUE;
    a->qlen--;
    return true;
}

/* Runs one download to its end, refreshing an expired URL. Returns 0 on
 * success, 128+signal when interrupted, else 1 (after the error line). */
static int download_one(struct app *a, const struct task *t, uint64_t deadline_ms) {
    const struct config *cfg = a->cfg;
    char why[1024];
    int refreshes = 0;

    for (;;) {
        struct progress prog;
        resmgr_status st = set_transfer_limit(a, deadline_ms);
        int sig;
        bool timed_out, fresh;
        uint64_t limit;

        if (st != RESMGR_OK) {
            resmgr_client_report_download_progress(a->client, t->name, RESMGR_STATE_FAIL, 0, -1,
                                                   "bad transfer settings");
            error_line("download '%s' failed: %s", t->name, last_error(st, why, sizeof why));
            return EXIT_FAILURE_;
        }
        if (!set_running(a, RESMGR_DIRECTION_DOWNLOAD, t->name, deadline_ms)) {
            /* Stopped before it began: end the task so it is not left open. */
            resmgr_client_report_download_progress(a->client, t->name, RESMGR_STATE_FAIL, 0, -1,
                                                   "cancelled by the user");
            return 128 + stop_signal(a);
        }
        progress_begin(&prog, "download", t->name, t->size);
        st = resmgr_client_run_download(a->client, t->name, cfg->dir, NULL, NULL, on_progress, &prog);
        last_error(st, why, sizeof why);
        set_running(a, 0, NULL, 0);
        progress_end(&prog, st == RESMGR_OK);
        pthread_mutex_lock(&a->mu);
        sig = a->stop_signal;
        timed_out = a->timed_out;
        pthread_mutex_unlock(&a->mu);

        if (st == RESMGR_OK) {
            printf("downloaded '%s' to '%s/%s' (%llu bytes, MD5 verified)\n", t->name, cfg->dir, t->name,
                   (unsigned long long)t->size);
            fflush(stdout);
            return EXIT_SUCCESS_;
        }
        if (st == RESMGR_ERR_CANCELLED && sig != 0) {
            /* One-shot: the caller's error line says it. */
            if (cfg->follow) note("download '%s' cancelled; its partial file is kept for a resume", t->name);
            return 128 + sig;
        }
        if (st == RESMGR_ERR_CANCELLED && timed_out) {
            error_line("download '%s' failed: timed out (--timeout %u s); the partial file is kept", t->name,
                       cfg->timeout_s);
            return EXIT_FAILURE_;
        }
        if (st != RESMGR_ERR_URL_EXPIRED) {
            if (st == RESMGR_ERR_TIMEOUT && now_ms() + 1000u >= deadline_ms)
                error_line("download '%s' failed: timed out (--timeout %u s%s); the partial file is kept", t->name,
                           cfg->timeout_s, cfg->follow ? " per download" : "");
            else
                error_line("download '%s' failed: %s", t->name, without_prefix(why, "download", t->name));
            return EXIT_FAILURE_;
        }

        /* The URL expired: the task is still open and the partial kept. */
        if (refreshes++ == MAX_URL_REFRESHES) {
            resmgr_client_report_download_progress(a->client, t->name, RESMGR_STATE_FAIL, 0, -3, NULL);
            error_line("download '%s' failed: its URL expired %d times in a row", t->name, refreshes);
            return EXIT_FAILURE_;
        }
        note("the URL of '%s' expired; asking the platform for a fresh one", t->name);
        pthread_mutex_lock(&a->mu);
        snprintf(a->refresh_name, sizeof a->refresh_name, "%s", t->name);
        a->refreshed = false;
        a->refresh_none = false;
        pthread_mutex_unlock(&a->mu);
        st = resmgr_client_get_download_task(a->client);
        limit = min_u64(deadline_ms, now_ms() + REFRESH_LIMIT_MS);
        pthread_mutex_lock(&a->mu);
        while (st == RESMGR_OK && !a->refreshed && !a->refresh_none && a->stop_signal == 0 && now_ms() < limit)
            wait_locked(a, limit);
        fresh = a->refreshed;
        sig = a->stop_signal;
        a->refresh_name[0] = '\0';
        pthread_mutex_unlock(&a->mu);
        if (!fresh) {
            resmgr_client_report_download_progress(a->client, t->name, RESMGR_STATE_FAIL, 0, -3, NULL);
            if (sig != 0) return 128 + sig;
            if (st != RESMGR_OK)
                error_line("download '%s' failed: its URL expired and asking for a fresh one failed: %s", t->name,
                           last_error(st, why, sizeof why));
            else
                error_line("download '%s' failed: its URL expired and the platform sent no fresh one", t->name);
            return EXIT_FAILURE_;
        }
        /* Run again: it resumes from the partial file. */
    }
}

static int cmd_download(struct app *a, uint64_t deadline_ms) {
    const struct config *cfg = a->cfg;
    struct stat sb;
    char why[512];
    resmgr_status st;
    uint64_t wait_until;
    bool said_waiting = false;
    int rc;

    if (stat(cfg->dir, &sb) != 0) {
        error_line("download failed: directory '%s': %s", cfg->dir, strerror(errno));
        return EXIT_FAILURE_;
    }
    if (!S_ISDIR(sb.st_mode)) {
        error_line("download failed: '%s' is not a directory", cfg->dir);
        return EXIT_FAILURE_;
    }
    if (access(cfg->dir, W_OK) != 0) {
        error_line("download failed: directory '%s' is not writable: %s", cfg->dir, strerror(errno));
        return EXIT_FAILURE_;
    }
    if ((rc = connect_broker(a, "download", cfg->follow ? UINT64_MAX : deadline_ms)) != 0) return rc;

    /* The connection just came up: that reask is this first request. */
    pthread_mutex_lock(&a->mu);
    a->reask = false;
    pthread_mutex_unlock(&a->mu);
    st = resmgr_client_get_download_task(a->client);
    if (st != RESMGR_OK) {
        error_line("download failed: cannot ask for a download task: %s", last_error(st, why, sizeof why));
        return EXIT_FAILURE_;
    }
    wait_until = cfg->follow ? UINT64_MAX : min_u64(deadline_ms, now_ms() + (uint64_t)cfg->wait_s * 1000u);
    if (cfg->follow) note("waiting for download tasks (SIGINT or SIGTERM to stop)");

    for (;;) {
        struct task t;
        bool have, reask;
        int sig;

        pthread_mutex_lock(&a->mu);
        while (a->qlen == 0 && a->stop_signal == 0 && now_ms() < wait_until && !a->reask &&
               !(a->no_task_answer && !said_waiting))
            wait_locked(a, wait_until);
        have = pop_task_locked(a, &t);
        sig = a->stop_signal;
        reask = a->reask;
        a->reask = false;
        if (a->no_task_answer && !said_waiting && !have) {
            said_waiting = true;
            if (!cfg->follow) {
                pthread_mutex_unlock(&a->mu);
                note("no download task pending; waiting up to %u s for one to be pushed", cfg->wait_s);
                continue;
            }
        }
        pthread_mutex_unlock(&a->mu);

        if (sig != 0) {
            if (cfg->follow) return EXIT_SUCCESS_;
            error_line("download interrupted while waiting for a task");
            return 128 + sig;
        }
        if (reask) {
            /* Pushes sent while the connection was down are lost. */
            resmgr_client_get_download_task(a->client);
        }
        if (!have) {
            if (!cfg->follow && now_ms() >= wait_until) {
                error_line("download: no download task within %u s", cfg->wait_s);
                return EXIT_NO_TASK;
            }
            continue;
        }

        note("download task '%s' (%llu bytes, %s)", t.name, (unsigned long long)t.size,
             t.pushed ? "pushed" : "answered");
        rc = download_one(a, &t, cfg->follow ? now_ms() + (uint64_t)cfg->timeout_s * 1000u : deadline_ms);
        if (!cfg->follow) {
            if (rc > 128) error_line("download '%s' interrupted; its partial file is kept for a resume", t.name);
            return rc;
        }
        if (rc > 128) return EXIT_SUCCESS_;
        /* With --follow a failure was printed and reported; go on. */
    }
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    static struct config cfg;
    static struct app app;
    resmgr_mqtt_options mopts;
    resmgr_transfer_options topts;
    sigset_t set;
    pthread_t watch;
    pthread_condattr_t cattr;
    char why[512];
    resmgr_status st;
    uint64_t deadline;
    int rc;

    rc = parse_args(argc, argv, &cfg);
    if (rc >= 0) {
        free_secret(&cfg);
        return rc;
    }
    out.quiet = cfg.quiet;
    out.tty = isatty(STDERR_FILENO) == 1;
    deadline = now_ms() + (uint64_t)cfg.timeout_s * 1000u;

    /* A peer closing a socket or pipe is an error to report, not a reason
     * to die. SIGINT/SIGTERM are blocked here, before any thread exists
     * (the library's MQTT thread inherits the mask), and taken by the
     * watcher with sigtimedwait. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    app.cfg = &cfg;
    pthread_mutex_init(&app.mu, NULL);
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&app.cv, &cattr);
    pthread_condattr_destroy(&cattr);

    resmgr_mqtt_options_init(&mopts);
    mopts.host = cfg.host;
    mopts.port = (uint16_t)cfg.port;
    mopts.tls = cfg.tls;
    mopts.ca_file = cfg.ca;
    mopts.device_secret = cfg.secret;
    mopts.connid = cfg.connid;
    mopts.expiry = cfg.expiry;
    st = resmgr_client_new_mqtt(cfg.product, cfg.device, &mopts, on_event, &app, &app.client);
    free_secret(&cfg); /* the client has its copy */
    if (st != RESMGR_OK) {
        last_error(st, why, sizeof why);
        if (st == RESMGR_ERR_INVALID_ID || st == RESMGR_ERR_INVALID_ARG || st == RESMGR_ERR_UTF8)
            return usage_error("%s", why);
        error_line("cannot set up the MQTT connection: %s", why);
        return EXIT_FAILURE_;
    }
    resmgr_transfer_options_init(&topts);
    topts.ca_file = cfg.ca;
    st = resmgr_client_set_transfer_options(app.client, &topts);
    if (st != RESMGR_OK) {
        error_line("cannot use --ca '%s': %s", cfg.ca != NULL ? cfg.ca : "", last_error(st, why, sizeof why));
        resmgr_client_free(app.client);
        return EXIT_FAILURE_;
    }

    if (pthread_create(&watch, NULL, watcher, &app) != 0) {
        error_line("cannot start a thread: %s", strerror(errno));
        resmgr_client_free(app.client);
        return EXIT_FAILURE_;
    }

    rc = cfg.cmd == CMD_UPLOAD ? cmd_upload(&app, deadline) : cmd_download(&app, deadline);
    disconnect_broker(&app);

    pthread_mutex_lock(&app.mu);
    app.quit = true;
    pthread_mutex_unlock(&app.mu);
    pthread_kill(watch, SIGUSR1); /* wakes its sigtimedwait at once */
    pthread_join(watch, NULL);
    resmgr_client_free(app.client);
    pthread_cond_destroy(&app.cv);
    pthread_mutex_destroy(&app.mu);
    if (fflush(stdout) != 0 && rc == 0) rc = EXIT_FAILURE_;
    return rc;
}
