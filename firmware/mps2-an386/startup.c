/*
 * Start-up code for the QEMU reference port (MPS2 AN386, Cortex-M4F): the
 * vector table, the reset handler that lays out RAM and starts the C
 * library, and the 1 kHz SysTick that resmgr_port_time_ms reads.
 *
 * Output and the exit status travel over Arm semihosting (newlib's rdimon):
 * QEMU runs with `-semihosting-config enable=on,target=native` and exits
 * with the program's status.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern uint32_t __data_load, __data_start, __data_end;
extern uint32_t __bss_start__, __bss_end__;
extern uint32_t __stack_top;

extern int main(void);
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);

void reset_handler(void);
void systick_handler(void);
static void fault_handler(void);

/* Milliseconds since reset, advanced by the SysTick interrupt. */
volatile uint64_t port_ticks_ms;

/* The system clock QEMU models for this board (SystemCoreClock). */
#define CPU_HZ 25000000u

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&__stack_top),
    reset_handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0, 0, 0, 0,
    fault_handler, /* SVCall */
    fault_handler, /* DebugMonitor */
    0,
    fault_handler, /* PendSV */
    systick_handler,
};

void systick_handler(void) { port_ticks_ms++; }

/* newlib's __libc_init_array and __libc_fini_array call these; with
 * -nostartfiles the C runtime's crti.o, which has them, is not linked. */
void _init(void) {}
void _fini(void) {}

static void fault_handler(void) {
    /* A fault is a failed run: leave with a status the run script sees. */
    _Exit(99);
}

void reset_handler(void) {
    memcpy(&__data_start, &__data_load, (size_t)((char *)&__data_end - (char *)&__data_start));
    memset(&__bss_start__, 0, (size_t)((char *)&__bss_end__ - (char *)&__bss_start__));
    /* Full access to the FPU (CP10, CP11): the code is built for eabihf. */
    SCB_CPACR |= 0xFu << 20;
    __asm volatile("dsb\n isb" ::: "memory");

    SYST_RVR = CPU_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt, enable */

    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}
