// The instruction clock (see edge_clock.h).
#include "edge_clock.h"

#include "edge_board.h"

#define REG(addr) (*(volatile uint32_t*)(addr))

static uint32_t g_overhead;
static uint64_t g_num, g_den;  // instructions = ticks * g_num / g_den

#if defined(EDGE_TIMER0)
// A CMSDK APB timer counts every tick (exact, wraps every 2^32 ticks); dual timer 1, prescaled
// by 256, says how many times it wrapped. Both count down from 0xFFFFFFFF.
static void edge_clock_init_counters(void) {
  REG(EDGE_TIMER0 + 0x0) = 0;               // CTRL: stop
  REG(EDGE_TIMER0 + 0x8) = 0xFFFFFFFFu;     // RELOAD
  REG(EDGE_TIMER0 + 0x4) = 0xFFFFFFFFu;     // VALUE
  REG(EDGE_DUALTIMER + 0x08) = 0;           // Timer1Control: stop
  REG(EDGE_DUALTIMER + 0x00) = 0xFFFFFFFFu;  // Timer1Load
  // enable, periodic, no interrupt, prescale /256, 32-bit, wrapping
  REG(EDGE_DUALTIMER + 0x08) = 0x80u | 0x40u | (2u << 2) | 0x2u;
  REG(EDGE_TIMER0 + 0x0) = 1;               // enable
}

__attribute__((noinline)) void edge_clock_read(edge_clock_sample* sample) {
  uint32_t fine = REG(EDGE_TIMER0 + 0x4);
  uint32_t coarse = REG(EDGE_DUALTIMER + 0x04);
  sample->a = fine;
  sample->b = coarse;
  sample->c = 0;
}

uint64_t edge_clock_ticks(const edge_clock_sample* sample) {
  uint64_t fine = 0xFFFFFFFFu - sample->a;
  uint64_t coarse = (uint64_t)(0xFFFFFFFFu - sample->b) * 256u;
  // the multiple of 2^32 that puts fine nearest the coarse estimate (which is within 256 ticks)
  uint64_t wraps = (coarse + 0x80000000u - fine) >> 32;
  return fine + (wraps << 32);
}
#elif defined(EDGE_SYSCOUNTER_CONTROL)
// The SSE-300 system counter: 64 bits at 32 MHz. High, low, high again: if the high words
// differ the low word wrapped between them, and its value says on which side.
static void edge_clock_init_counters(void) {
  REG(EDGE_SYSCOUNTER_CONTROL + 0x0) = 0;  // CNTCR: stop, no scaling
  REG(EDGE_SYSCOUNTER_CONTROL + 0x8) = 0;  // CNTCV low
  REG(EDGE_SYSCOUNTER_CONTROL + 0xC) = 0;  // CNTCV high
  REG(EDGE_SYSCOUNTER_CONTROL + 0x0) = 1;  // CNTCR.EN
}

__attribute__((noinline)) void edge_clock_read(edge_clock_sample* sample) {
  uint32_t high = REG(EDGE_SYSCOUNTER_STATUS + 0x4);
  uint32_t low = REG(EDGE_SYSCOUNTER_STATUS + 0x0);
  uint32_t high2 = REG(EDGE_SYSCOUNTER_STATUS + 0x4);
  sample->a = high;
  sample->b = low;
  sample->c = high2;
}

uint64_t edge_clock_ticks(const edge_clock_sample* sample) {
  uint32_t high = (sample->a == sample->c || sample->b >= 0x80000000u) ? sample->a : sample->c;
  return ((uint64_t)high << 32) | sample->b;
}
#endif

static uint64_t gcd(uint64_t a, uint64_t b) {
  while (b != 0) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static uint64_t raw_instructions(const edge_clock_sample* start, const edge_clock_sample* end) {
  uint64_t ticks = edge_clock_ticks(end) - edge_clock_ticks(start);
  return (ticks * g_num + g_den / 2) / g_den;  // nearest: each tick is < 1/2 instruction
}

void edge_clock_init(void) {
  // one instruction = 2^shift ns; one tick = 1e9 / EDGE_TICK_HZ ns
  uint64_t num = 1000000000u, den = (uint64_t)EDGE_TICK_HZ << EDGE_ICOUNT_SHIFT;
  uint64_t g = gcd(num, den);
  g_num = num / g;
  g_den = den / g;
  edge_clock_init_counters();
  edge_clock_sample s0, s1;
  edge_clock_read(&s0);
  edge_clock_read(&s1);
  g_overhead = (uint32_t)raw_instructions(&s0, &s1);
}

uint64_t edge_clock_instructions(const edge_clock_sample* start, const edge_clock_sample* end) {
  return raw_instructions(start, end) - g_overhead;
}

uint32_t edge_clock_overhead(void) { return g_overhead; }

uint32_t edge_clock_tick_hz(void) { return EDGE_TICK_HZ; }

const char* edge_u64(uint64_t n, char* buf) {
  char tmp[21];
  int i = 0;
  do {
    tmp[i++] = (char)('0' + n % 10u);
    n /= 10u;
  } while (n != 0);
  for (int j = 0; j < i; ++j) buf[j] = tmp[i - 1 - j];
  buf[i] = '\0';
  return buf;
}
