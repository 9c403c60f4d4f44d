/* Reset for QEMU's MPS2 Cortex-M boards: vector table, .bss, constructors, semihosting, main.
   Everything is loaded into RAM by QEMU from the ELF, so .data needs no copy. */
#include <stdlib.h>

extern unsigned int __bss_start__, __bss_end__, __stack_top;
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);
extern int main(void);

void Reset_Handler(void) {
  for (unsigned int* p = &__bss_start__; p < &__bss_end__; ++p) *p = 0;
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

void* __dso_handle = 0;
void _init(void) {}
void _fini(void) {}

static void Fault_Handler(void) { exit(100); }

__attribute__((section(".vectors"), used)) void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top, Reset_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0,
    Fault_Handler, Fault_Handler};
