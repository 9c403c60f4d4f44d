"""int8 against fp32 on held-out frames (top-1 agreement, top-5 overlap, logit cosine), and a
kept int8 against the quantised TFLite file's own answers (LiteRT, when installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.engines import OrtEngine
from edge.engines.litert import litert_version
from edge.fileio import capture_fd2
from edge.postprocess import softmax, top_k


def compare(fp32: Path, int8: Path, cases: list[tuple[str, np.ndarray]]) -> dict:
    """Run both models on every (name, tensor) case and summarise how far int8 strays. int8
    runs as the QDQ standard defines it, not in this CPU's integer kernels, so the verdict is
    the same on every x86 and ARM CPU."""
    a = OrtEngine(fp32, threads=1, warmup=False)
    b = OrtEngine(int8, threads=1, warmup=False, exact=True)
    rows = []
    for name, tensor in cases:
        la, lb = a.run(tensor), b.run(tensor)
        ta = [i for i, _ in top_k(la, 5)]
        tb = [i for i, _ in top_k(lb, 5)]
        cos = float(np.dot(la, lb) / (np.linalg.norm(la) * np.linalg.norm(lb) + 1e-12))
        rows.append({"case": name, "fp32_top1": ta[0], "int8_top1": tb[0],
                     "top1_agree": ta[0] == tb[0],
                     # with five classes or fewer every top-5 holds them all: nothing to say
                     "top5_overlap": len(set(ta) & set(tb)) / 5 if la.size > 5 else None,
                     "cosine": round(cos, 6)})
    n = len(rows)
    agree = sum(r["top1_agree"] for r in rows)
    return {
        "cases": n,
        "top1_agree": agree,
        "top1_agreement": agree / n if n else None,
        "top5_overlap": float(np.mean([r["top5_overlap"] for r in rows]))
        if n and rows[0]["top5_overlap"] is not None else None,
        "cosine_mean": float(np.mean([r["cosine"] for r in rows])) if n else None,
        "cosine_min": float(np.min([r["cosine"] for r in rows])) if n else None,
        "per_case": rows,
    }


def tflite_runner(path: Path, normalisation: dict, softmax_output: bool):
    """A function from a uint8 NHWC pixel tensor to the TFLite file's probabilities as LiteRT
    computes them with XNNPACK (the kernels a quantized file was made for: integer products,
    float requantization rounded to nearest even, the same on x86 and ARM; TFLite's reference
    kernels round uint8 differently): raw pixels into a uint8 input, normalised floats into a
    float one; a quantised output dequantised; logits through a softmax."""
    from ai_edge_litert.interpreter import Interpreter

    with capture_fd2():  # LiteRT announces its XNNPACK delegate on fd 2
        interp = Interpreter(model_path=str(path), num_threads=1)
        interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    mean = np.array(normalisation["mean"], np.float32)
    std = np.array(normalisation["std"], np.float32)

    def run(pixels: np.ndarray) -> np.ndarray:
        x = pixels
        if inp["dtype"] == np.float32:
            x = (pixels.astype(np.float32) - mean) / std
        elif inp["dtype"] == np.int8:
            x = (pixels.astype(np.int16) - 128).astype(np.int8)
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        raw = interp.get_tensor(out["index"])[0]
        scale, zero = out["quantization"]
        values = (raw.astype(np.float64) - zero) * scale if scale else raw.astype(np.float64)
        return values if softmax_output else softmax(values)

    return run


def compare_with_tflite(tflite: Path, normalisation: dict, softmax_output: bool, int8: Path,
                        cases: list[tuple[str, np.ndarray]], integer: bool = False) -> dict | None:
    """The kept int8 against the file it was built from, run by LiteRT: top-1 agreement and
    the largest probability difference. None when LiteRT is not installed.

    ``integer``: run ours in onnxruntime's integer kernels, as edge-run does. Only for uint8
    weights (TF's QAT files): uint8 x uint8 products saturate no kernel, and the kernels
    requantize in float with rounding to nearest even as LiteRT does, so the answer is the same
    on every x86 and ARM CPU. int8 weights run as the QDQ standard defines them instead (the
    uint8 x int8 kernels of x86 CPUs without VNNI saturate; ARM's and VNNI's do not)."""
    version = litert_version()
    if version is None:
        return None
    reference = tflite_runner(tflite, normalisation, softmax_output)
    ours = OrtEngine(int8, threads=1, warmup=False, exact=not integer)
    rows = []
    for name, tensor in cases:
        want = reference(tensor)
        got = softmax(ours.run(tensor))
        top1 = int(np.argmax(got))
        # a uint8 softmax often ties: agreeing is having the file's highest probability
        rows.append({"case": name, "litert_top1": int(np.argmax(want)), "int8_top1": top1,
                     "top1_agree": bool(want[top1] == want.max()),
                     "max_prob_diff": round(float(np.abs(want - got).max()), 6)})
    n = len(rows)
    agree = sum(r["top1_agree"] for r in rows)
    return {"runtime": f"LiteRT {version} (XNNPACK)", "file": Path(tflite).name, "cases": n,
            "ours": "onnxruntime's integer kernels" if integer else "exact QDQ arithmetic",
            "top1_agree": agree, "top1_agreement": agree / n if n else None,
            "max_prob_diff": max((r["max_prob_diff"] for r in rows), default=None),
            "per_case": rows}
