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
        key = model.name
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


def edge_run_row(where: str, label: str, arm: dict, x86: dict, frames: int,
                 step: float | None) -> Row:
    """edge-run on an emulated CPU: exit 0, the JSON summary, and per-photo top-1 equal to
    x86's, except near-ties: x86's own top-2 within NEAR output steps (``step``: the logits'
    quantization step; from softmax scores, ln(p1 / p2) / step) and the ARM top-1 among them."""
    summary = arm["summary"] or {}
    processed = (summary.get("frames") or {}).get("processed")
    picked = arm["note"].split(":")[0].removeprefix("model ") if arm["note"] else \
        label.split("/")[-1]
    same, near = 0, 0
    for name, top in x86["top"].items():
        mine = (arm["top"].get(name) or [{}])[0].get("index")
        if mine == top[0]["index"]:
            same += 1
        elif step and any(t["index"] == mine and np.log(top[0]["score"] / t["score"]) / step
                          <= NEAR + 1e-3 for t in top):
            near += 1
    ok = (arm["code"] == 0 and x86["code"] == 0 and processed == frames
          and len(x86["top"]) == frames and same + near == frames)
    text = (f"exit {arm['code']}, ran {picked} on {summary.get('engine')}, {processed} frames, "
            f"top-1 = x86's on {same}/{len(x86['top'])} photos")
    if near:
        text += f" (other {near}: near-ties, x86's runner-up within {NEAR} steps)"
    if arm["code"] != 0 or x86["code"] != 0:
        text += f" ({(arm['stderr'] or x86['stderr']).strip().splitlines()[-1:]})"
    return Row(label, where, "edge-run", text, ok)


def print_rows(rows: list[Row], run_rows: list[Row], exact: dict, photos: int) -> int:
    """The table, per-platform verdicts and the number of failed counted rows."""
    hows = sorted({str(v) for k, v in exact.items() if k.endswith(":how")})
    print(f"Each model's outputs against its exact arithmetic ({'; '.join(hows)} on x86_64); "
          f"{photos} photos x 2 crops; no timings: emulation says nothing about a Pi's speed")
    for row in rows:
        mark = "OK" if row.ok else ("DIFFERS" if row.counted else "differs (x86, not counted)")
        print(f"{row.model:<36} {row.where:<24} {row.engine:<26} {row.text}: {mark}")
    if run_rows:
        print("\nedge-run --model M --replay data/photos --json as a whole process, against "
              "the same command on x86_64")
    for row in run_rows:
        print(f"{row.model:<48} {row.where:<24} {row.text}: {'OK' if row.ok else 'DIFFERS'}")
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
