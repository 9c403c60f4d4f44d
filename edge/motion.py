"""The motion gate: is the scene still the one the last answer was computed on?

It looks at the small frame the model gets (its input tensor, which on a Pi camera comes from
the ISP's lores stream) and answers "infer" or "the last answer stands". All integer
arithmetic, so the MCU bundle's ``edge_motion.c`` (edge/convert/mcu/motion.py) reproduces it
bit for bit:

1. **Cells**: the frame is cut into ``grid`` x ``grid`` cells (cell row i spans rows
   ``i*H//g`` to ``(i+1)*H//g``); a cell's grey is its rounded mean BT.601 luma,
   ``(77*sumR + 150*sumG + 29*sumB + 128*n) // (256*n)``. Averaging n pixels divides sensor
   noise and JPEG flicker by sqrt(n).
2. **Compare** with the reference (the cells the last answer was computed on, in 1/256 grey
   levels). Auto-exposure scales every pixel alike, so the overall gain g is estimated on the
   cells near white in neither frame (sum(cur) / sum(ref)); when it is within 1/2..2 a cell
   is unchanged anywhere between ref_i and min(ref_i * g, white) (partly clipped cells and the
   tone curve fall short of the full factor), and changed when it leaves that band by more
   than ``level``. A bigger jump (lights on or off) is compared as it is: a change.
3. **Verdict**: the first frame, more than ``area`` of the cells changed, or ``refresh_s``
   since the last inference (a source clock that went back counts too): infer, and the
   reference becomes this frame. Otherwise the last answer stands ("still").
4. **Adapt** (``adapt_shift`` k > 0): a still frame moves the reference 1/2^k of the way
   towards it, rounded towards zero. Off by default: an unchanging reference lets a slow
   change add up until it counts (docs/motion-gate.md has the measurements).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

GRID = 32  # cells per side: 1024 cells, 4 KB of reference on a microcontroller
LUMA = (77, 150, 29)  # BT.601 luma weights in 1/256ths (they sum to 256)
MAX_GAIN = 2  # brightness steps within this factor either way are divided out
SATURATED = 192  # a cell this bright may be clipped: left out of the gain estimate
AREA_ONE = 1 << 16  # ``area`` is carried as a 16-bit fraction (area_q16 / 65536)
DEFAULT_AREA = 0.01
DEFAULT_LEVEL = 0.04
DEFAULT_REFRESH_S = 10.0
DEFAULT_ADAPT_SHIFT = 0
VERDICTS = ("still", "first", "change", "refresh")  # edge_motion.c's enum, in order


@dataclass(frozen=True, slots=True)
class GateParams:
    """The gate's settings. ``area``: the share of cells that must change (0-1, exclusive);
    ``level``: how much a cell's grey must change, as a share of full scale (0-1,
    exclusive); ``refresh_s``: infer at least this often whatever the gate sees."""

    area: float = DEFAULT_AREA
    level: float = DEFAULT_LEVEL
    refresh_s: float = DEFAULT_REFRESH_S
    grid: int = GRID
    adapt_shift: int = DEFAULT_ADAPT_SHIFT

    def __post_init__(self) -> None:
        for name in ("area", "level"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"{name} must be > 0 and < 1, got {value!r}")
        if not self.refresh_s > 0:
            raise ValueError(f"refresh_s must be > 0, got {self.refresh_s!r}")
        if not 1 <= self.grid <= GRID or not 0 <= self.adapt_shift <= 15:
            raise ValueError(f"grid must be 1-{GRID} and adapt_shift 0-15")

    @property
    def area_q16(self) -> int:
        """``area`` as the integer the C helper takes (65536ths)."""
        return round(self.area * AREA_ONE)

    @property
    def level_grey(self) -> int:
        """``level`` in grey levels (0-255)."""
        return round(self.level * 255)

    @property
    def refresh_ms(self) -> int:
        return round(self.refresh_s * 1e3)

    def min_cells(self, cells: int) -> int:
        """Changed cells that make a change: more than ``area`` of ``cells``."""
        return (self.area_q16 * cells >> 16) + 1


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate decided for one frame, and the changed cells it counted."""

    infer: bool
    why: str  # one of VERDICTS
    changed: int


@functools.lru_cache(maxsize=8)
def _layout(h: int, w: int, grid: int) -> tuple[np.ndarray, tuple[int, int], np.ndarray]:
    """For an HxW frame: where the cell corners are in its flattened (H+1)x(W+1) integral
    image, the grid's shape, and each cell's pixel count."""
    rows = (np.arange(min(grid, h) + 1) * h) // min(grid, h)
    cols = (np.arange(min(grid, w) + 1) * w) // min(grid, w)
    corners = (rows[:, np.newaxis] * (w + 1) + cols[np.newaxis, :]).ravel()
    return corners, (len(rows), len(cols)), np.outer(np.diff(rows), np.diff(cols))


def cells(image: np.ndarray, grid: int = GRID) -> np.ndarray:
    """The rounded mean grey of each cell, int64 [gh, gw] (gh = min(grid, H), likewise gw)
    of an HxWx3 RGB (or HxW / HxWx1 grey) uint8 image; a leading batch axis of 1 is allowed.
    Block sums come from OpenCV's integral image (exact integers, several times faster than
    numpy's reduceat)."""
    img = image[0] if image.ndim == 4 else image
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    channels = 1 if img.ndim == 2 else img.shape[2]
    if channels not in (1, 3) or img.dtype != np.uint8:
        raise ValueError(f"expected uint8 RGB or grey pixels, got {image.shape} {image.dtype}")
    import cv2  # here: `edge-run --help` and the settings need no OpenCV

    corners, shape, n = _layout(img.shape[0], img.shape[1], grid)
    c = cv2.integral(img, sdepth=cv2.CV_32S).reshape(-1, channels).take(corners, axis=0)
    c = c.reshape(*shape, channels).astype(np.int64)
    sums = c[1:, 1:] - c[:-1, 1:] - c[1:, :-1] + c[:-1, :-1]
    weighted = sums @ np.array(LUMA if channels == 3 else (256,), np.int64)
    return (weighted + 128 * n) // (256 * n)


def changed_cells(current: np.ndarray, reference: np.ndarray, level_grey: int) -> int:
    """Cells whose grey left the band the overall gain allows by more than ``level_grey``
    (both arrays in 1/256 grey levels). The gain is estimated on the cells that are not near
    white (< SATURATED) in either frame; when it is within 1/MAX_GAIN..MAX_GAIN a cell may
    lie anywhere between its reference and its reference times the gain (clipped at white):
    exposure moves every cell that way, and partly clipped cells or the tone curve's knee
    fall short of the full factor."""
    t = level_grey << 8
    unclipped = (current < SATURATED << 8) & (reference < SATURATED << 8)
    sc, sr = int(current[unclipped].sum()), int(reference[unclipped].sum())
    if not (sr > 0 and MAX_GAIN * sc >= sr and sc <= MAX_GAIN * sr):
        return int(np.count_nonzero(np.abs(current - reference) > t))
    now, before = current * sr, reference * sr
    gained = np.minimum(reference * sc, (255 << 8) * sr)
    low, high = np.minimum(before, gained), np.maximum(before, gained)
    return int(np.count_nonzero((now < low - t * sr) | (now > high + t * sr)))


class MotionGate:
    """One camera's gate: call :meth:`check` with each frame and its source time, in order.
    Owned by one thread (the pipeline's inference thread)."""

    def __init__(self, params: GateParams | None = None) -> None:
        self.params = params or GateParams()
        self.reference: np.ndarray | None = None  # 1/256 grey levels, int64
        self.t_reference_ns = 0

    def reset(self) -> None:
        """Forget the reference: the next frame is inferred."""
        self.reference = None

    def check(self, image: np.ndarray, t_ns: int) -> Verdict:
        """Whether to infer on ``image`` (seen at ``t_ns``, the source's clock)."""
        p = self.params
        current = cells(image, p.grid) << 8
        reference = self.reference
        if reference is None or reference.shape != current.shape:
            verdict = Verdict(True, "first", current.size)
        else:
            changed = changed_cells(current, reference, p.level_grey)
            since = t_ns - self.t_reference_ns
            if changed >= p.min_cells(current.size):
                verdict = Verdict(True, "change", changed)
            elif since >= p.refresh_ms * 1_000_000 or since < 0:
                verdict = Verdict(True, "refresh", changed)
            else:
                verdict = Verdict(False, "still", changed)
        if verdict.infer:
            self.reference, self.t_reference_ns = current, t_ns
        elif p.adapt_shift:
            step = current - reference
            reference += np.where(step >= 0, step >> p.adapt_shift, -(-step >> p.adapt_shift))
        return verdict
