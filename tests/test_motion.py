"""The motion gate's detector (edge/motion.py): still and noisy scenes are gated, a change is
answered on the very frame, the refresh comes on the injected clock, and the arithmetic is
the exact integer arithmetic the C helper reproduces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.motion import GateParams, MotionGate, cells, changed_cells
from edge.preprocess import to_input
from tools.bench_gate import camera_frame, sensor

SIZE = 128
S = 1_000_000_000  # one second on the source clock, in ns
FRAME = S // 30


def model_view(image: np.ndarray) -> np.ndarray:
    return to_input(image, "BGR", SIZE)


def verdicts(gate: MotionGate, frames, t0: int = 0) -> list[str]:
    return [gate.check(f, t0 + i * FRAME).why for i, f in enumerate(frames)]


def grey(value: int, size: int = SIZE) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def test_cells_are_rounded_mean_luma_over_integer_bounds():
    # one cell of red, green, blue and white: (77 + 150 + 29) * 510 / (256 * 4) = 127.5 -> 128
    image = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]], np.uint8)
    assert cells(image, grid=1).tolist() == [[128]]
    # 5 rows x 3 columns in a 2x2 grid: rows [0, 2) and [2, 5), columns [0, 1) and [1, 3)
    values = np.arange(15, dtype=np.uint8).reshape(5, 3) * 10
    assert cells(values, grid=2).tolist() == [[15, 30], [90, 105]]  # exact means
    assert cells(values[:, :, np.newaxis], grid=2).tolist() == [[15, 30], [90, 105]]
    # a grid larger than the image: one cell per pixel
    assert cells(grey(7, 20)[np.newaxis]).shape == (20, 20)
    with pytest.raises(ValueError, match="uint8"):
        cells(np.zeros((8, 8, 3), np.float32))


def test_still_frames_are_gated():
    frame = model_view(camera_frame("parrot.jpg"))
    gate = MotionGate()
    assert verdicts(gate, [frame] * 30) == ["first"] + ["still"] * 29
    assert gate.check(frame, 30 * FRAME).changed == 0


@pytest.mark.parametrize("photo", ["parrot.jpg", "grace_hopper.jpg", "bird.jpg"])
def test_noise_exposure_steps_and_jpeg_are_gated(photo):
    rng = np.random.default_rng(0)
    image = camera_frame(photo)
    frames = [model_view(sensor(image, rng, 12.0, gain, 75))
              for gain in [1.0] * 10 + [1.25] * 10 + [0.8] * 10]
    assert verdicts(MotionGate(), frames) == ["first"] + ["still"] * 29


def test_a_change_is_not_gated_on_the_very_frame():
    a, b = (model_view(camera_frame(p)) for p in ("parrot.jpg", "bird.jpg"))
    gate = MotionGate()
    assert verdicts(gate, [a] * 5 + [b] * 5 + [a] * 3) == \
        ["first"] + ["still"] * 4 + ["change"] + ["still"] * 4 + ["change", "still", "still"]


def test_an_object_of_two_percent_of_the_view_is_a_change():
    scene = camera_frame("parrot.jpg")
    side = int(np.sqrt(0.02) * 480)
    with_object = scene.copy()
    with_object[100:100 + side, 300:300 + side] = cv2.resize(camera_frame("bird.jpg"),
                                                             (side, side))
    gate = MotionGate()
    assert verdicts(gate, [model_view(scene), model_view(with_object)]) == ["first", "change"]


def test_refresh_comes_after_the_interval_on_the_injected_clock():
    frame = grey(100)
    gate = MotionGate(GateParams(refresh_s=2.0))
    times = [0, 1 * S, 2 * S - 1, 2 * S, 3 * S, 4 * S - 1, 4 * S, S]  # the clock goes back last
    assert [gate.check(frame, t).why for t in times] == \
        ["first", "still", "still", "refresh", "still", "still", "refresh", "refresh"]
    assert gate.t_reference_ns == S


def test_area_counts_cells_more_than_the_share():
    # 1024 cells; area 0.01 -> more than 10.24 of them, i.e. 11 (a white cell is left out of
    # the gain estimate, so the gain stays exactly 1)
    params = GateParams(area=0.01)
    assert params.min_cells(1024) == 11
    for painted, why in ((10, "still"), (11, "change")):
        gate = MotionGate(params)
        frame = grey(100)
        gate.check(frame, 0)
        changed = frame.copy()
        for k in range(painted):  # cells are 4x4 pixels at 128 / 32
            changed[4 * k:4 * k + 4, 0:4] = 255
        verdict = gate.check(changed, FRAME)
        assert (verdict.why, verdict.changed) == (why, painted)


def test_level_is_a_strict_bound_in_grey_levels():
    # every cell >= 192: no gain estimate, plain differences; level 0.04 -> 10 grey levels
    params = GateParams(level=0.04, area=0.5)
    assert params.level_grey == 10
    reference = cells(grey(200)) << 8
    assert changed_cells(cells(grey(210)) << 8, reference, 10) == 0
    assert changed_cells(cells(grey(211)) << 8, reference, 10) == 1024
    assert changed_cells(cells(grey(189)) << 8, reference, 10) == 1024


def test_exposure_within_a_factor_two_is_divided_out_and_beyond_it_is_a_change():
    image = model_view(camera_frame("parrot.jpg"))

    def scaled(gain: float) -> np.ndarray:
        return np.clip(np.rint(image * gain), 0, 255).astype(np.uint8)

    for gain, why in ((0.55, "still"), (1.6, "still"), (0.4, "change"), (0.0, "change")):
        gate = MotionGate()
        assert verdicts(gate, [image, scaled(gain)]) == ["first", why], gain


def test_adapting_reference_moves_by_shifts_rounded_towards_zero():
    gate = MotionGate(GateParams(adapt_shift=2, area=0.9))
    gate.check(grey(100), 0)
    assert gate.check(grey(103), FRAME).why == "still"  # 25600 + (768 >> 2)
    assert int(gate.reference[0, 0]) == 25600 + 192
    gate = MotionGate(GateParams(adapt_shift=10, area=0.9))
    gate.check(grey(100), 0)
    gate.check(grey(90), FRAME)  # -2560 / 1024 = -2.5: -2 towards zero, not -3 (a floor)
    assert int(gate.reference[0, 0]) == 25600 - 2


@pytest.mark.parametrize("kwargs", [{"area": 0.0}, {"area": 1.0}, {"level": 1.5},
                                    {"refresh_s": -1.0}, {"grid": 33}])
def test_params_out_of_bounds_are_refused(kwargs):
    with pytest.raises(ValueError):
        GateParams(**kwargs)
