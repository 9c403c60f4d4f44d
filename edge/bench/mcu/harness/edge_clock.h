// Instruction clock for images run under QEMU with -icount shift=EDGE_ICOUNT_SHIFT.
//
// Under -icount QEMU's virtual clock advances exactly 2^shift ns per executed instruction, and
// the board timers read that clock. These are counts of *instructions*, not cycles: QEMU models
// no pipeline, cache, wait state or multi-cycle instruction, so a real core's cycle count for the
// same code differs, by a factor that depends on the core, the code and the memory system.
//
// No timer on these boards is finer than 31.25 ns, so at shift=0 (1 ns an instruction) a count
// would be quantised to 31-50 instructions. At shift=7 (128 ns an instruction) each timer tick
// is under half an instruction and rounding ticks back to instructions is exact.
//
//   edge_clock_sample s0, s1;
//   edge_clock_read(&s0);
//   work();
//   edge_clock_read(&s1);
//   uint64_t n = edge_clock_instructions(&s0, &s1);  // instructions of work() and its call
#ifndef EDGE_CLOCK_H_
#define EDGE_CLOCK_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Raw counter words, read branch-free so every read costs the same instructions.
typedef struct {
  uint32_t a, b, c;
} edge_clock_sample;

// Starts the board's counters and measures the cost of two back-to-back reads (subtracted by
// edge_clock_instructions). Call once, before any other edge_clock function.
void edge_clock_init(void);
void edge_clock_read(edge_clock_sample* sample);
// Board ticks since edge_clock_init (64-bit, no wrap in practice).
uint64_t edge_clock_ticks(const edge_clock_sample* sample);
// Instructions executed between two reads, minus the reads' own cost.
uint64_t edge_clock_instructions(const edge_clock_sample* start, const edge_clock_sample* end);
// The read cost edge_clock_init measured, in instructions.
uint32_t edge_clock_overhead(void);
uint32_t edge_clock_tick_hz(void);

// Writes n in decimal into buf (at least 21 bytes); newlib-nano's printf has no %llu.
const char* edge_u64(uint64_t n, char* buf);

#ifdef __cplusplus
}
#endif

#endif  // EDGE_CLOCK_H_
