/*
 * resmgr_port.h: what the firmware supplies when resmgr's core is built
 * for a target without an operating system (`--no-default-features
 * --target thumbv7em-none-eabihf` and the like: FreeRTOS, RT-Thread, bare
 * metal). A build for a target with an operating system needs none of it,
 * with or without the `std` feature.
 *
 * The library calls these functions; the firmware defines them, once, in
 * its own port file (firmware/mps2-an386/port.c is the reference port for
 * bare metal on newlib; the README shows one for FreeRTOS). The names are
 * resmgr_port_*, never HAL_*, so the same image can link the platform's C
 * SDK and its OS layer beside resmgr.
 *
 * The only caller is the library's src/port.rs; firmware/mps2-an386/run.sh
 * proves the contract on QEMU's Cortex-M4 in the test suite.
 *
 * Rules for every function here:
 * - resmgr calls them from task context only: from inside a resmgr_* call
 *   the application made. Never from an interrupt, and never on a thread
 *   resmgr started (without `std` it starts none). Calling resmgr_* from an
 *   interrupt handler is not supported.
 * - They must not call back into resmgr_*.
 *
 * Out of memory: when resmgr_port_malloc (or resmgr_port_mutex_new)
 * returns NULL the allocation that asked for it cannot continue; the core
 * reports it through resmgr_port_panic ("memory allocation of N bytes
 * failed", "resmgr_port_mutex_new: out of memory"), as a Rust program
 * aborts. Size the heap with the peak the reference port measures (see
 * BENCHMARKS.md) plus the largest down message and URL the product
 * accepts.
 *
 * The last error without thread-locals: with `std`, resmgr_last_error() is
 * per thread. Without it there is one last error for the whole library,
 * kept under a port mutex: it describes the latest failed resmgr_* call
 * made by any task, so a task reads it right after its own call failed,
 * before another task makes one.
 */
#ifndef RESMGR_PORT_H
#define RESMGR_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Allocates `size` bytes (size > 0) aligned to 8 bytes; NULL when out of
 * memory. resmgr handles larger alignments itself. */
void *resmgr_port_malloc(size_t size);

/* Frees a block resmgr_port_malloc returned; never called with NULL. */
void resmgr_port_free(void *ptr);

/* Creates a mutex; NULL when out of memory. It need not be recursive:
 * resmgr never locks a mutex it holds. */
void *resmgr_port_mutex_new(void);

/* Locks `mutex`, waiting as long as it takes. */
void resmgr_port_mutex_lock(void *mutex);

/* Unlocks `mutex`, which the calling task holds. */
void resmgr_port_mutex_unlock(void *mutex);

/* Frees an unlocked mutex resmgr_port_mutex_new returned. */
void resmgr_port_mutex_free(void *mutex);

/* Milliseconds from a monotonic clock (never goes back; wraps only after
 * 2^64 ms). Used for the progress-report throttle (a clock that stalls
 * only delays reports); the epoch does not matter. */
uint64_t resmgr_port_time_ms(void);

/* An unrecoverable error inside resmgr (a broken invariant, or out of
 * memory): `msg` is `len` bytes of text (at most 192, with the Rust source
 * location), not NUL-terminated. Log it and reset or halt the device; this
 * function must never return. No resmgr_* call is in a usable state
 * after it. */
void resmgr_port_panic(const char *msg, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* RESMGR_PORT_H */
