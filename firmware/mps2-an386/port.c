/*
 * The reference port (resmgr_port.h) for bare metal on newlib: the heap is
 * newlib's malloc, a mutex is a flag (one thread of execution, no RTOS),
 * the clock is the SysTick counter of startup.c, and a panic prints its
 * message over semihosting and ends the run with status 70.
 *
 * It also measures the library's heap: the current and peak bytes it holds
 * (each block carries an 8-byte header with its size), printed when the
 * program ends as "port: heap peak N bytes in M allocations, K bytes still
 * held" for firmware/mps2-an386/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resmgr_port.h"

extern volatile uint64_t port_ticks_ms;

static size_t heap_now, heap_peak;
static unsigned long allocations;

static void report_heap(void) {
    fprintf(stderr, "port: heap peak %u bytes in %lu allocations, %u bytes still held\n", (unsigned)heap_peak,
            allocations, (unsigned)heap_now);
}

void *resmgr_port_malloc(size_t size) {
    static int registered;
    uint64_t *block;
    if (!registered) {
        registered = 1;
        atexit(report_heap);
    }
    if (size > SIZE_MAX - sizeof(uint64_t)) return NULL;
    /* newlib's malloc aligns to 8 on Arm; the header keeps it so. */
    block = malloc(sizeof(uint64_t) + size);
    if (block == NULL) return NULL;
    block[0] = size;
    heap_now += size;
    if (heap_now > heap_peak) heap_peak = heap_now;
    allocations++;
    return block + 1;
}

void resmgr_port_free(void *ptr) {
    uint64_t *block = (uint64_t *)ptr - 1;
    heap_now -= (size_t)block[0];
    free(block);
}

/* Without an RTOS there is one thread of execution: a mutex only checks
 * that it is never locked twice, which would mean a broken port contract. */
struct port_mutex {
    int locked;
};

void *resmgr_port_mutex_new(void) { return calloc(1, sizeof(struct port_mutex)); }

void resmgr_port_mutex_lock(void *mutex) {
    struct port_mutex *m = mutex;
    if (m->locked) {
        static const char msg[] = "port: mutex locked twice";
        resmgr_port_panic(msg, sizeof msg - 1);
    }
    m->locked = 1;
}

void resmgr_port_mutex_unlock(void *mutex) { ((struct port_mutex *)mutex)->locked = 0; }

void resmgr_port_mutex_free(void *mutex) { free(mutex); }

uint64_t resmgr_port_time_ms(void) {
    uint64_t now;
    /* A 64-bit read is two loads: keep the SysTick interrupt out between. */
    __asm volatile("cpsid i" ::: "memory");
    now = port_ticks_ms;
    __asm volatile("cpsie i" ::: "memory");
    return now;
}

void resmgr_port_panic(const char *msg, size_t len) {
    fprintf(stderr, "resmgr panic: %.*s\n", (int)len, msg);
    exit(70);
}
