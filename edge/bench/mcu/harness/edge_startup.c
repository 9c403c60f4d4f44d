// Reset and fault handling for the harness images on QEMU's MPS2/MPS3 boards: vector table,
// FPU (and Helium) access, .data copied from its load image, .bss zeroed, semihosting opened,
// constructors, then main(); its return value is the exit status QEMU reports.
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_top;
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);
extern int main(void);

#define REG(addr) (*(volatile uint32_t*)(addr))

void Reset_Handler(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
  REG(0xE000ED88) |= 0xFu << 20;  // CPACR: CP10 and CP11 (FPU, MVE) full access
  __asm volatile("dsb\n\tisb" ::: "memory");
#endif
  for (uint32_t *src = &__data_load__, *dst = &__data_start__; dst < &__data_end__;) {
    *dst++ = *src++;
  }
  for (uint32_t* p = &__bss_start__; p < &__bss_end__; ++p) *p = 0;
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

// Semihosting SYS_WRITE0: works even when the C library state is suspect.
static void write0(const char* text) {
  register uint32_t op __asm__("r0") = 0x04;
  register const char* arg __asm__("r1") = text;
  __asm volatile("bkpt 0xAB" : "+r"(op) : "r"(arg) : "memory");
}

static void hex32(char* out, uint32_t value) {
  for (int i = 0; i < 8; ++i) out[i] = "0123456789abcdef"[(value >> (28 - 4 * i)) & 0xFu];
}

void Fault_Handler(void) {
  char text[] = "edge: fault, CFSR 0x........ HFSR 0x........\n";
  hex32(text + 20, REG(0xE000ED28));
  hex32(text + 36, REG(0xE000ED2C));
  write0(text);
  _exit(99);
}

void* __dso_handle = 0;
void _init(void) {}
void _fini(void) {}

// 16 system exceptions; no device interrupt is enabled.
__attribute__((section(".vectors"), used)) void (*const g_vectors[16])(void) = {
    (void (*)(void))&__stack_top, Reset_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, Fault_Handler,
    Fault_Handler, 0, Fault_Handler, Fault_Handler};
