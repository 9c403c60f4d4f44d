// Reset and fault handling for the harness images on QEMU's MPS2/MPS3 boards: vector table,
// FPU (and Helium) access, .data copied from its load image, .bss zeroed, semihosting opened,
// constructors, then main(argc, argv) with QEMU's semihosting command line (its
// -semihosting-config arg=...); its return value is the exit status QEMU reports.
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_top;
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);
extern int main(int argc, char** argv);

#define REG(addr) (*(volatile uint32_t*)(addr))
#define MAX_ARGS 16

// Semihosting SYS_GET_CMDLINE split at spaces into argv (argv[argc] = NULL).
static int command_line(char** argv) {
  static char line[256];
  struct {
    char* buffer;
    int length;
  } block = {line, (int)sizeof(line)};
  register uint32_t op __asm__("r0") = 0x15;
  register void* arg __asm__("r1") = &block;
  __asm volatile("bkpt 0xAB" : "+r"(op) : "r"(arg) : "memory");
  int argc = 0;
  if (op != 0) line[0] = '\0';
  for (char* p = line; *p != '\0' && argc < MAX_ARGS;) {
    while (*p == ' ') *p++ = '\0';
    if (*p == '\0') break;
    argv[argc++] = p;
    while (*p != ' ' && *p != '\0') ++p;
  }
  argv[argc] = NULL;
  return argc;
}

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
  static char* argv[MAX_ARGS + 1];
  const int argc = command_line(argv);
  exit(main(argc, argv));
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
