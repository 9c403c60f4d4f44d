"""The motion gate in C for the MCU bundle: ``edge_motion.h`` and ``edge_motion.c``, the same
integer arithmetic as :mod:`edge.motion` (tests/test_motion_c.py compiles it with the host's
gcc and checks it against the Python gate frame by frame). C99, no allocation, no floating
point: 4 KB of state per camera plus 1 KB of stack per check.
"""

from __future__ import annotations

from string import Template

from edge.motion import GRID, LUMA, MAX_GAIN, SATURATED, VERDICTS, GateParams

HEADER = Template("""\
// The motion gate for a still camera, written by edge-convert (edge/convert/mcu/motion.py):
// the same integer arithmetic as edge-run's --motion-gate (edge/motion.py, docs/motion-gate.md).
// Call edge_motion_check() with each camera frame before inference; while it returns
// EDGE_MOTION_STILL the last answer stands and the model need not run. Give it the camera's
// uint8 bytes (RGB, or grey with channels = 1), before any int8 shift for the model.
#ifndef EDGE_MOTION_H_
#define EDGE_MOTION_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGE_MOTION_MAX_GRID $max_grid
// Defaults (edge-run's, chosen from measurement; docs/motion-gate.md says why)
#define EDGE_MOTION_DEFAULT_GRID $grid  // cells per side
#define EDGE_MOTION_DEFAULT_AREA_Q16 $area_q16  // more than $area of the cells (x 65536)
#define EDGE_MOTION_DEFAULT_LEVEL $level  // grey levels a cell must move ($level_share of 255)
#define EDGE_MOTION_DEFAULT_REFRESH_MS ${refresh_ms}u  // infer at least this often
#define EDGE_MOTION_DEFAULT_ADAPT_SHIFT $adapt_shift  // 0: the reference stays as inferred

typedef struct {
  int grid;             // cells per side, 1..EDGE_MOTION_MAX_GRID
  int area_q16;         // a change: more than area_q16 / 65536 of the cells changed
  int level;            // a cell changed: its grey left the gain's band by more than this
  uint32_t refresh_ms;  // infer when this long has passed since the last inference
  int adapt_shift;      // k > 0: a still frame moves the reference 1/2^k of the way to it
} edge_motion_params_t;

typedef enum {
  EDGE_MOTION_BAD_INPUT = -1,  // a null pointer, a bad size: infer anyway
  $verdicts
} edge_motion_verdict_t;

typedef struct {
  edge_motion_params_t params;
  int32_t reference[EDGE_MOTION_MAX_GRID * EDGE_MOTION_MAX_GRID];  // 1/256 grey levels
  int rows, cols;           // the reference's grid; 0 before the first frame
  uint32_t t_reference_ms;  // when the reference (the last inference) was taken
  int changed;              // cells the last check counted as changed
} edge_motion_t;

// The defaults above.
void edge_motion_params_default(edge_motion_params_t* params);
// params NULL: the defaults. The next frame is then inferred (EDGE_MOTION_FIRST).
void edge_motion_init(edge_motion_t* gate, const edge_motion_params_t* params);
// Each cell's rounded mean grey into cells[rows * cols] (rows = min(grid, height), cols =
// min(grid, width)); returns rows * cols, or -1 for bad input (at most 2^24 pixels a cell).
int edge_motion_cells(const uint8_t* pixels, int height, int width, int channels, int grid,
                      uint8_t* cells, int* rows, int* cols);
// What to do with this frame (pixels: height x width x channels, row-major); t_ms is the
// camera's clock in milliseconds (it may wrap).
edge_motion_verdict_t edge_motion_check(edge_motion_t* gate, const uint8_t* pixels, int height,
                                        int width, int channels, uint32_t t_ms);

static inline int edge_motion_should_infer(edge_motion_verdict_t verdict) {
  return verdict != EDGE_MOTION_STILL;
}

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // EDGE_MOTION_H_
""")

SOURCE = Template("""\
// The motion gate, written by edge-convert (edge/convert/mcu/motion.py): edge/motion.py's
// integer arithmetic, bit for bit. See edge_motion.h.
#include "edge_motion.h"

#include <stddef.h>

#define EDGE_MOTION_SATURATED $saturated  // cells this bright are left out of the gain
#define EDGE_MOTION_MAX_GAIN $max_gain  // brightness steps within this factor are divided out

void edge_motion_params_default(edge_motion_params_t* params) {
  params->grid = EDGE_MOTION_DEFAULT_GRID;
  params->area_q16 = EDGE_MOTION_DEFAULT_AREA_Q16;
  params->level = EDGE_MOTION_DEFAULT_LEVEL;
  params->refresh_ms = EDGE_MOTION_DEFAULT_REFRESH_MS;
  params->adapt_shift = EDGE_MOTION_DEFAULT_ADAPT_SHIFT;
}

void edge_motion_init(edge_motion_t* gate, const edge_motion_params_t* params) {
  if (params != NULL) {
    gate->params = *params;
  } else {
    edge_motion_params_default(&gate->params);
  }
  gate->rows = 0;
  gate->cols = 0;
  gate->t_reference_ms = 0;
  gate->changed = 0;
}

int edge_motion_cells(const uint8_t* pixels, int height, int width, int channels, int grid,
                      uint8_t* cells, int* rows, int* cols) {
  if (pixels == NULL || cells == NULL || height < 1 || width < 1 || grid < 1 ||
      grid > EDGE_MOTION_MAX_GRID || (channels != 1 && channels != 3)) {
    return -1;
  }
  const int gh = grid < height ? grid : height;
  const int gw = grid < width ? grid : width;
  if ((int64_t)(height / gh + 1) * (width / gw + 1) > (1 << 24)) {  // uint32 sums
    return -1;
  }
  for (int i = 0; i < gh; ++i) {
    const int y0 = i * height / gh, y1 = (i + 1) * height / gh;
    for (int j = 0; j < gw; ++j) {
      const int x0 = j * width / gw, x1 = (j + 1) * width / gw;
      uint32_t sum[3] = {0, 0, 0};
      for (int y = y0; y < y1; ++y) {
        const uint8_t* p = pixels + ((size_t)y * (size_t)width + (size_t)x0) * (size_t)channels;
        for (int x = x0; x < x1; ++x, p += channels) {
          sum[0] += p[0];
          if (channels == 3) {
            sum[1] += p[1];
            sum[2] += p[2];
          }
        }
      }
      const uint32_t n = (uint32_t)(y1 - y0) * (uint32_t)(x1 - x0);
      const uint64_t weighted = channels == 3
          ? ${luma_r}u * (uint64_t)sum[0] + ${luma_g}u * (uint64_t)sum[1] +
                ${luma_b}u * (uint64_t)sum[2]
          : 256u * (uint64_t)sum[0];
      cells[i * gw + j] = (uint8_t)((weighted + 128u * (uint64_t)n) / (256u * (uint64_t)n));
    }
  }
  *rows = gh;
  *cols = gw;
  return gh * gw;
}

static int count_changed(const uint8_t* cells, const int32_t* reference, int n, int level) {
  const int64_t t = (int64_t)level << 8;
  const int32_t saturated = EDGE_MOTION_SATURATED << 8;
  int64_t sc = 0, sr = 0;
  int changed = 0;
  for (int i = 0; i < n; ++i) {
    const int32_t c = (int32_t)cells[i] << 8;
    if (c < saturated && reference[i] < saturated) {
      sc += c;
      sr += reference[i];
    }
  }
  if (!(sr > 0 && EDGE_MOTION_MAX_GAIN * sc >= sr && sc <= EDGE_MOTION_MAX_GAIN * sr)) {
    for (int i = 0; i < n; ++i) {
      const int64_t d = ((int64_t)cells[i] << 8) - reference[i];
      changed += (d > t || -d > t) ? 1 : 0;
    }
    return changed;
  }
  // Between the reference and the reference times the gain sc / sr (clipped at white),
  // everything multiplied by sr so that it stays in integers.
  const int64_t white = ((int64_t)255 << 8) * sr;
  for (int i = 0; i < n; ++i) {
    const int64_t now = ((int64_t)cells[i] << 8) * sr;
    const int64_t before = (int64_t)reference[i] * sr;
    int64_t gained = (int64_t)reference[i] * sc;
    if (gained > white) {
      gained = white;
    }
    const int64_t low = before < gained ? before : gained;
    const int64_t high = before < gained ? gained : before;
    changed += (now < low - t * sr || now > high + t * sr) ? 1 : 0;
  }
  return changed;
}

edge_motion_verdict_t edge_motion_check(edge_motion_t* gate, const uint8_t* pixels, int height,
                                        int width, int channels, uint32_t t_ms) {
  uint8_t cells[EDGE_MOTION_MAX_GRID * EDGE_MOTION_MAX_GRID];
  int rows = 0, cols = 0;
  const edge_motion_params_t* p = &gate->params;
  const int n = edge_motion_cells(pixels, height, width, channels, p->grid, cells, &rows, &cols);
  if (n < 0) {
    return EDGE_MOTION_BAD_INPUT;
  }
  edge_motion_verdict_t verdict;
  if (gate->rows != rows || gate->cols != cols) {
    verdict = EDGE_MOTION_FIRST;
    gate->changed = n;
  } else {
    gate->changed = count_changed(cells, gate->reference, n, p->level);
    const int min_cells = (int)(((int64_t)p->area_q16 * n) >> 16) + 1;
    if (gate->changed >= min_cells) {
      verdict = EDGE_MOTION_CHANGE;
    } else if ((uint32_t)(t_ms - gate->t_reference_ms) >= p->refresh_ms) {
      verdict = EDGE_MOTION_REFRESH;
    } else {
      verdict = EDGE_MOTION_STILL;
    }
  }
  if (verdict != EDGE_MOTION_STILL) {
    for (int i = 0; i < n; ++i) {
      gate->reference[i] = (int32_t)cells[i] << 8;
    }
    gate->rows = rows;
    gate->cols = cols;
    gate->t_reference_ms = t_ms;
  } else if (p->adapt_shift > 0) {
    const int k = p->adapt_shift;
    for (int i = 0; i < n; ++i) {
      const int32_t step = ((int32_t)cells[i] << 8) - gate->reference[i];
      gate->reference[i] += step >= 0 ? step >> k : -((-step) >> k);
    }
  }
  return verdict;
}
""")


def motion_files(params: GateParams | None = None) -> dict[str, str]:
    """File name -> text of the C gate, its defaults from ``params`` (edge-run's defaults)."""
    p = params or GateParams()
    verdicts = "\n  ".join(f"EDGE_MOTION_{name.upper()} = {i},"
                           for i, name in enumerate(VERDICTS))
    values = {"max_grid": GRID, "grid": p.grid, "area_q16": p.area_q16, "area": f"{p.area:g}",
              "level": p.level_grey, "level_share": f"{p.level:g}",
              "refresh_ms": p.refresh_ms, "adapt_shift": p.adapt_shift, "verdicts": verdicts,
              "saturated": SATURATED, "max_gain": MAX_GAIN, "luma_r": LUMA[0],
              "luma_g": LUMA[1], "luma_b": LUMA[2]}
    return {"edge_motion.h": HEADER.substitute(values),
            "edge_motion.c": SOURCE.substitute(values)}
