"""Verdicts for arm_check.py: each engine's outputs against the exact arithmetic, in output
quantization steps, and edge-run's per-photo answers against x86's. No times: none are kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

NEAR = 2  # a near-tie: the exact runner-up within this many output steps of the top-1
ALLOWED = {"onnxruntime": 3, "LiteRT": 4, "tflite-runtime": 4}  # output steps from exact
FP32_ALLOWED = 1e-4


@dataclass
class Row:
    """One verdict line: a model (or edge-run) on a platform and engine."""

    model: str
    where: str
    engine: str
    text: str
    ok: bool
    counted: bool = True


def output_step(model: Path) -> float | None:
    """The scale of the last DequantizeLinear before the logits, or None for a float model."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model)).graph
    inits = {i.name: i for i in graph.initializer}
    steps = [float(numpy_helper.to_array(inits[n.input[1]]).max()) for n in graph.node
             if n.op_type == "DequantizeLinear" and n.input[1] in inits
             and n.input[0] not in inits]
    return steps[-1] if steps else None


def int8_verdict(got: np.ndarray, want: np.ndarray, allowed: float) -> tuple[bool, str]:
    """Logits in output steps: within ``allowed`` of the exact ones, and the same top-1 except
    near-ties (the engine's top-1 within NEAR steps of the exact maximum)."""
    n = len(want)
    diff = float(np.abs(got - want).max())
    top_got = got.argmax(1)
    flips = np.flatnonzero(top_got != want.argmax(1))
    near = [i for i in flips if want[i, top_got[i]] >= want[i].max() - NEAR]
    ok = diff <= allowed + 1e-6 and len(near) == len(flips)
    text = (f"max |diff| {diff:.1f} output steps (allowed {allowed:g}), same top-1 on "
            f"{n - len(flips)}/{n}")
    if near:
        text += f" (other {len(near)}: near-ties, exact runner-up within {NEAR} steps)"
    if len(near) < len(flips):
        text += f", {len(flips) - len(near)} top-1 changed on clear winners"
    return ok, text


def engine_name(model: Path, how: str) -> str:
    """A short engine label from the runner's description of how the model ran."""
    if model.suffix == ".onnx":
        return "onnxruntime"
    package = "LiteRT" if how.startswith("ai-edge-litert") else "tflite-runtime"
    if how.endswith("reference"):
        return f"{package} reference"
    return f"{package} XNNPACK" if "XNNPACK (whole graph)" in how else f"{package} builtin"


def compare_runs(models: list[Path], where: str, got: dict | str, exact: dict,
                 x86: dict | None, reference: bool = False, counted: bool = True,
                 exact_match: bool = True) -> list[Row]:
    """Rows for one platform's outputs. ``reference``: these are the reference kernels, which
    must be bit-identical to x86's (or, ``exact_match`` False, within the allowed steps)."""
    rows = []
    for model in models:
        key = f"{model.parent.name}/{model.name}"  # as arm_runner saves it
        if isinstance(got, str):  # the run crashed: one row per model says how
            engine = "LiteRT reference" if reference else engine_name(model, "")
            rows.append(Row(key, where, engine, got, False, counted))
            continue
        engine = engine_name(model, str(got[f"{key}:how"]))
        mine, want = got[key].astype(np.float64), exact[key].astype(np.float64)
        if reference and exact_match:
            differ = int(np.count_nonzero(mine != want))
            ok = differ == 0
            text = ("bit-identical to x86's reference kernels" if ok else
                    f"{differ} logits differ from x86's reference kernels, by up to "
                    f"{np.abs(mine - want).max():.0f} steps")
            rows.append(Row(key, where, engine, f"{len(want)} inputs: {text}", ok, counted))
            continue
        step = 1.0 if model.suffix == ".tflite" else output_step(model)
        if step is None:
            diff = float(np.abs(mine - want).max())
            ok = diff <= FP32_ALLOWED and bool(np.all(mine.argmax(1) == want.argmax(1)))
            text = f"max |diff| {diff:.1e} (allowed {FP32_ALLOWED:g}), same top-1 on " \
                   f"{int(np.sum(mine.argmax(1) == want.argmax(1)))}/{len(want)}"
        else:
            ok, text = int8_verdict(np.round(mine / step), np.round(want / step),
                                    ALLOWED[engine.split()[0]])
            if reference:
                text += f"; {int(np.count_nonzero(mine != want))} logits differ from " \
                        "x86's reference kernels"
        if x86 is not None and not isinstance(x86, str) and np.array_equal(got[key], x86[key]):
            text += "; bit-identical to x86"
        rows.append(Row(key, where, engine, f"{len(want)} inputs: {text}", ok, counted))
    return rows


def _top1(run: dict) -> dict[str, int | None]:
    """{photo stem: top-1 class index} of an edge-run's results (PNG copies map to their
    photo)."""
    return {Path(name).stem: (top or [{}])[0].get("index") for name, top in run["top"].items()}


def _scores(top: list[dict] | None) -> list[float]:
    """The scores of an answer's top-k (the order of tied classes is the sort's, which
    differs between CPUs)."""
    return [t["score"] for t in top or []]


def _near_tie(top: list[dict], index: int | None, step: float | None) -> bool:
    """``index`` is a class within NEAR output steps of this answer's top-1 (from the softmax
    scores: ln(p1 / p2) / step is the logit gap in steps)."""
    return bool(step) and any(t["index"] == index and np.log(top[0]["score"] / t["score"])
                              / step <= NEAR + 1e-3 for t in top)


def edge_run_row(where: str, label: str, arm: dict, x86: dict, same_pixels: dict,
                 frames: int, step: float | None) -> Row:
    """edge-run on an emulated CPU against x86. Passes with exit 0, the JSON summary, N frames,
    and per-photo top-1 equal to x86's edge-run fed the very pixels ARM's preprocessing made
    (``same_pixels``: a replay of them as PNGs at the model's size) on every photo; against
    x86's run on the photos themselves, equal except near-ties (x86's own runner-up within
    NEAR steps), whose names are given: OpenCV's bilinear resize rounds differently on ARM."""
    summary = arm["summary"] or {}
    processed = (summary.get("frames") or {}).get("processed")
    picked = arm["note"].split(":")[0].removeprefix("model ") if arm["note"] else \
        label.split("/")[-1]
    mine, theirs, x86_top = _top1(arm), _top1(same_pixels), {
        Path(n).stem: t for n, t in x86["top"].items()}
    equal = sum(mine.get(stem) == index for stem, index in theirs.items())
    identical = sum(_scores(top) == _scores(same_pixels["top"].get(f"{Path(name).stem}.png"))
                    for name, top in arm["top"].items())
    differ = [stem for stem, top in x86_top.items() if mine.get(stem) != top[0]["index"]]
    near = [stem for stem in differ if _near_tie(x86_top[stem], mine.get(stem), step)]
    codes = [arm["code"], x86["code"], same_pixels["code"]]
    ok = (codes == [0, 0, 0] and processed == frames and len(theirs) == frames
          and equal == frames and len(x86_top) == frames and len(near) == len(differ))
    text = (f"exit {arm['code']}, ran {picked} on {summary.get('engine')}, {processed} frames, "
            f"top-1 = x86's on the same pixels on {equal}/{len(theirs)} photos (top-5 scores "
            f"identical on {identical}), = x86's on the photos on "
            f"{len(x86_top) - len(differ)}/{len(x86_top)}")
    if near:
        text += f" (near-ties, x86's runner-up within {NEAR} steps: {', '.join(near)})"
    if len(near) < len(differ):
        text += f", top-1 changed on clear winners: {', '.join(sorted(set(differ) - set(near)))}"
    failed = next((r for r in (arm, x86, same_pixels) if r["code"] != 0), None)
    if failed is not None:
        text += f" ({failed['stderr'].strip().splitlines()[-1:]})"
    return Row(label, where, "edge-run", text, ok)


def pixel_note(where: str, arm: dict | str, x86: dict) -> str:
    """How ARM's preprocessing (edge.preprocess.to_input, both crops) differs from x86's."""
    if isinstance(arm, str):
        return f"{where:<24} preprocessing: {arm}"
    parts = []
    for key in sorted(x86, key=lambda k: int(k.removeprefix("size"))):
        diff = np.abs(arm[key].astype(np.int16) - x86[key].astype(np.int16))
        parts.append(f"{key.removeprefix('size')}px {100 * np.count_nonzero(diff) / diff.size:.1f}%"
                     f" of values differ (max {int(diff.max())})")
    return f"{where:<24} preprocessing against x86's: " + "; ".join(parts)


def print_rows(rows: list[Row], run_rows: list[Row], exact: dict, photos: int,
               notes: list[str] = ()) -> int:
    """The table, per-platform verdicts and the number of failed counted rows."""
    hows = sorted({str(v) for k, v in exact.items() if k.endswith(":how")})
    print(f"Each model's outputs against its exact arithmetic ({'; '.join(hows)} on x86_64); "
          f"{photos} photos x 2 crops; no timings: emulation says nothing about a Pi's speed")
    for row in rows:
        mark = "OK" if row.ok else ("DIFFERS" if row.counted else "differs (x86, not counted)")
        print(f"{row.model:<46} {row.where:<24} {row.engine:<26} {row.text}: {mark}")
    if run_rows:
        print("\nedge-run --model M --replay data/photos --json as a whole process, against "
              "the same command on x86_64 fed ARM's pixels, and on the photos")
    for row in run_rows:
        print(f"{row.model:<46} {row.where:<24} {row.text}: {'OK' if row.ok else 'DIFFERS'}")
    for note in notes:
        print(note)
    print()
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in [*rows, *run_rows]:
        if row.counted:
            groups.setdefault((row.where, row.engine), []).append(row)
    for (where, engine), members in groups.items():
        passed = sum(r.ok for r in members)
        verdict = "OK" if passed == len(members) else "FAIL"
        print(f"verdict {where} {engine}: {passed}/{len(members)} {verdict}")
    return sum(not r.ok for r in [*rows, *run_rows] if r.counted)
