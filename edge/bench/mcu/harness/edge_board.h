// Board facts the harness needs: where the counters of each QEMU board are and how fast they
// tick. The build passes one of EDGE_BOARD_MPS2 (mps2-an386 Cortex-M4, mps2-an500 Cortex-M7),
// EDGE_BOARD_AN505 (mps2-an505 Cortex-M33, SSE-200) or EDGE_BOARD_AN547 (mps3-an547 Cortex-M55,
// SSE-300). Addresses are the Secure aliases where TrustZone exists (the image runs Secure).
#ifndef EDGE_BOARD_H_
#define EDGE_BOARD_H_

#if defined(EDGE_BOARD_MPS2)
#define EDGE_BOARD_NAME "mps2-an386/an500"
#define EDGE_TIMER0 0x40000000u     // CMSDK APB timer 0: 32-bit, PCLK
#define EDGE_DUALTIMER 0x40002000u  // CMSDK APB dual timer, timer 1
#define EDGE_TICK_HZ 25000000u      // PCLK = SYSCLK = 25 MHz
#elif defined(EDGE_BOARD_AN505)
#define EDGE_BOARD_NAME "mps2-an505"
#define EDGE_TIMER0 0x50000000u
#define EDGE_DUALTIMER 0x50002000u
#define EDGE_TICK_HZ 20000000u      // MAINCLK = 20 MHz
#elif defined(EDGE_BOARD_AN547)
#define EDGE_BOARD_NAME "mps3-an547"
#define EDGE_SYSCOUNTER_CONTROL 0x58100000u  // SSE-300 system counter, control frame
#define EDGE_SYSCOUNTER_STATUS 0x58101000u   // read-only frame: CNTCV low, high
#define EDGE_TICK_HZ 32000000u               // 32 MHz: 31.25 ns a tick
#else
#error "define EDGE_BOARD_MPS2, EDGE_BOARD_AN505 or EDGE_BOARD_AN547"
#endif

#ifndef EDGE_ICOUNT_SHIFT
#error "define EDGE_ICOUNT_SHIFT: the -icount shift QEMU runs the image with"
#endif

#endif  // EDGE_BOARD_H_
