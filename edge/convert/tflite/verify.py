"""Proof that the .tflite is the int8 ONNX model: run both on the verification frames.

The reference is the int8 ONNX with onnxruntime's graph optimisations off, which evaluates
the QDQ graph as the ONNX standard defines it (dequantize, float operator, quantize). Its
optimised x86 kernels are not the reference: on CPUs without VNNI (AVX2 only), their u8 x s8
products saturate in 16 bits when a layer reads the full 0-255 pixel range, which the stem
does; ARM and VNNI kernels do not.

The .tflite runs in TFLM's own interpreter (its reference kernels: what an MCU without
CMSIS-NN runs; x86-64 wheels only) with exactly the arena that was measured, and in LiteRT
(stricter about the schema) with XNNPACK, where every op must be delegated. Logits are
compared in output quantization steps; top-1 must be the ONNX top-1 (or one of the classes
tied with it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import install_hint
from edge.fileio import capture_fd2


def _reference(onnx_path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda tensor: session.run(None, {name: tensor})[0].reshape(-1)


def _litert(tflite: bytes, reference: bool):
    """LiteRT's reference kernels (plain integer code: the same answers on every CPU), or its
    default XNNPACK delegate (what the Pi runs; its kernels differ between CPUs): (run, all ops
    delegated) or None without LiteRT."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        return None
    kernels = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    with capture_fd2():  # LiteRT announces its XNNPACK delegate on fd 2
        interp = Interpreter(model_content=tflite, num_threads=1,
                             experimental_op_resolver_type=kernels)
        interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    # One DELEGATE node that reads the model input and writes its output holds every op of
    # a chain: an op left out would split it or sit before or after it.
    nodes = interp._get_ops_details()
    delegates = [n for n in nodes if n["op_name"] == "DELEGATE"]
    delegated = (len(delegates) == 1 and inp["index"] in delegates[0]["inputs"]
                 and out["index"] in delegates[0]["outputs"])

    def run(x: np.ndarray) -> np.ndarray:
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        return interp.get_tensor(out["index"]).reshape(-1).astype(np.int32)

    return run, delegated


def compare(runs: dict, reference, cases: list[tuple[str, np.ndarray]], input_dtype: str,
            out_scale: float, out_zero: int) -> dict:
    """Per runtime: top-1 agreement with the ONNX int8 and logit differences in steps."""
    rows: dict[str, list[dict]] = {name: [] for name in runs}
    for case, tensor in cases:
        ref_q = np.round(reference(tensor) / out_scale).astype(np.int32) + out_zero
        ties = np.flatnonzero(ref_q == ref_q.max())
        runner_up = np.partition(ref_q, -2)[-2]
        x = tensor if input_dtype == "uint8" else (tensor.astype(np.int16) - 128).astype(np.int8)
        for name, run in runs.items():
            q = run(x)
            rows[name].append({"case": case, "onnx_top1": int(ties[0]), "top1": int(q.argmax()),
                               "agree": bool(q.argmax() in ties),
                               "onnx_margin_steps": int(ref_q.max() - runner_up),
                               "max_steps": int(np.abs(q - ref_q).max())})
    summary = {}
    for name, per_case in rows.items():
        n = len(per_case)
        summary[name] = {
            "cases": n, "top1_agree": sum(r["agree"] for r in per_case),
            "max_steps": max((r["max_steps"] for r in per_case), default=0),
            "mean_max_steps": float(np.mean([r["max_steps"] for r in per_case])) if n else 0.0,
            "disagreements": [r for r in per_case if not r["agree"]],
        }
    return summary


def verify_tflite(tflite: bytes, onnx_path: Path, cases: list[tuple[str, np.ndarray]],
                  input_dtype: str, output: dict, runners: dict | None = None,
                  details: dict | None = None, unavailable: list[str] = ()) -> dict:
    """Run the .tflite in LiteRT's reference kernels, and in any other ``runners`` (name ->
    run(int8 or uint8 input) -> integer logits; TFLM's for the MCU export), against the ONNX
    int8 model on ``cases``; these are the verdicts, the same on every CPU. LiteRT with XNNPACK
    (what the Pi runs) is run too and reported apart (``litert_xnnpack``): its kernels differ
    between CPUs, so it is not judged. Says which interpreters were not available."""
    runs: dict = dict(runners or {})
    result: dict = {"reference": "int8 ONNX, onnxruntime without graph optimisations",
                    "unavailable": list(unavailable), **(details or {})}
    reference = _reference(onnx_path)
    litert, xnnpack = _litert(tflite, reference=True), _litert(tflite, reference=False)
    if litert is not None:
        runs["litert"] = litert[0]
        fast = compare({"x": xnnpack[0]}, reference, cases, input_dtype, output["scale"],
                       output["zero_point"])["x"]
        result["litert_xnnpack"] = {k: fast[k] for k in ("cases", "top1_agree", "max_steps")}
        result["litert_all_ops_delegated"] = xnnpack[1]
    else:
        result["unavailable"].append(f"litert ({install_hint('litert')})")
    result["runtimes"] = compare(runs, reference, cases, input_dtype, output["scale"],
                                 output["zero_point"])
    return result
