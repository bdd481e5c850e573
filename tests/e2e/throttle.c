/*
 * LD_PRELOAD shim for the end-to-end tests: slows down what a process
 * receives from one TCP port, so that a download is still running while a
 * test breaks something around it (e2e_broker_restart). The process itself
 * is not changed; only its network gets slow.
 *
 *   RESMGR_THROTTLE_PORT  peer port to slow down (the object store's)
 *   RESMGR_THROTTLE_BPS   bytes per second (default 1 MiB/s)
 *   RESMGR_THROTTLE_RESET_AFTER  optional: once this many bytes came from
 *                         that port, one receive fails with ECONNRESET (a
 *                         broken connection, so the transfer must retry)
 *
 * Build: cc -shared -fPIC -O2 -o throttle.so throttle.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#define CHUNK 16384

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static int port;
static double rate = 1048576.0;
static double next_free; /* monotonic seconds when the budget allows more */
static double reset_after = -1, received;

static void init(void) {
    const char *p = getenv("RESMGR_THROTTLE_PORT"), *r = getenv("RESMGR_THROTTLE_BPS");
    real_recvfrom = (ssize_t(*)(int, void *, size_t, int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "recvfrom");
    if (p != NULL) port = atoi(p);
    if (r != NULL && atof(r) > 0) rate = atof(r);
    if ((r = getenv("RESMGR_THROTTLE_RESET_AFTER")) != NULL) reset_after = atof(r);
}

/* True once, when the connection should appear broken. */
static int inject_reset(void) {
    int now_reset = 0;
    pthread_mutex_lock(&mu);
    if (reset_after >= 0 && received >= reset_after) {
        reset_after = -1;
        now_reset = 1;
    }
    pthread_mutex_unlock(&mu);
    return now_reset;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int slowed(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (port == 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port) == port;
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == port;
    return 0;
}

static void pace(ssize_t n) {
    double t = now(), wait;
    pthread_mutex_lock(&mu);
    received += (double)n;
    if (next_free < t) next_free = t;
    next_free += (double)n / rate;
    wait = next_free - t;
    pthread_mutex_unlock(&mu);
    if (wait > 0) {
        struct timespec ts;
        ts.tv_sec = (time_t)wait;
        ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
        nanosleep(&ts, NULL);
    }
}

/* recv(2) is recvfrom(2) without the address: one wrapper slows both. */
ssize_t recv(int fd, void *buf, size_t len, int flags) {
    return recvfrom(fd, buf, len, flags, NULL, NULL);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen) {
    ssize_t n;
    int slow;
    pthread_once(&once, init);
    slow = slowed(fd);
    if (slow && len > CHUNK) len = CHUNK;
    if (slow && inject_reset()) {
        errno = ECONNRESET;
        return -1;
    }
    n = real_recvfrom(fd, buf, len, flags, addr, alen);
    if (slow && n > 0) pace(n);
    return n;
}
