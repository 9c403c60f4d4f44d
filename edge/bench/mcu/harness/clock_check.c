// Checks the instruction clock: times loops of a known length (3 instructions an iteration)
// for each count in loops.bin (uint32, little-endian). For every count the result minus 3*count
// must be the same small constant (the loop's setup); any rounding error would show as a
// difference. Also the smallest example of a second program on the harness.
#include <stdio.h>

#include "edge_clock.h"

static uint64_t time_loop(uint32_t n) {
  edge_clock_sample s0, s1;
  edge_clock_read(&s0);
  __asm volatile(
      "   cmp %0, #0\n"
      "   beq 2f\n"
      "1: subs %0, %0, #1\n"
      "   nop\n"
      "   bne 1b\n"
      "2:\n"
      : "+r"(n)
      :
      : "cc");
  edge_clock_read(&s1);
  return edge_clock_instructions(&s0, &s1);
}

int main(void) {
  edge_clock_init();
  printf("clock tick_hz %lu overhead %lu\n", (unsigned long)edge_clock_tick_hz(),
         (unsigned long)edge_clock_overhead());
  FILE* loops = fopen("loops.bin", "rb");
  if (loops == NULL) return 3;
  uint32_t n;
  char buf[24];
  while (fread(&n, sizeof n, 1, loops) == 1) {
    printf("loop %lu instructions %s\n", (unsigned long)n, edge_u64(time_loop(n), buf));
  }
  fclose(loops);
  return 0;
}
