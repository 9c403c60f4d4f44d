"""Run models on saved inputs and save their outputs: the part of arm_check.py that runs under
emulation. Needs only numpy and the engines (no edge package on the emulated side).

    python arm_runner.py [--exact] [--reference] INPUTS.npz OUT.npz MODEL.onnx|MODEL.tflite ...

``.onnx`` runs on onnxruntime's CPU provider and gives float logits. ``.tflite`` runs on LiteRT
(``ai_edge_litert``, or the older ``tflite_runtime`` where only that exists: 32-bit ARM) with
its default XNNPACK delegate and gives the raw integer output. Outputs are saved as
``FOLDER/FILE`` (files of different model folders may share a name). ``--exact`` asks each
engine for the arithmetic the model defines whatever the CPU: onnxruntime with graph
optimisation off (a QDQ model runs as DequantizeLinear -> float op -> QuantizeLinear) and
LiteRT's reference kernels (OpResolverType.BUILTIN_REF: portable integer C++, no XNNPACK, no
optimised kernels). ``--reference`` also runs each .tflite on the reference kernels, saved as
``FOLDER/FILE:reference`` (one emulated start instead of two).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def litert_interpreter(path: str, exact: bool):
    """(interpreter, package name) from ai_edge_litert, else tflite_runtime."""
    try:
        from ai_edge_litert import interpreter as lite
        package = "ai-edge-litert"
    except ImportError:
        from tflite_runtime import interpreter as lite
        package = "tflite-runtime"
    kind = lite.OpResolverType.BUILTIN_REF if exact else lite.OpResolverType.AUTO
    interp = lite.Interpreter(model_path=path, num_threads=1,
                              experimental_op_resolver_type=kind)
    interp.allocate_tensors()
    return interp, package


def run_tflite(path: str, data, exact: bool) -> tuple[np.ndarray, dict]:
    """Raw integer outputs for each uint8 NHWC input of the model's size, and how it ran."""
    interp, package = litert_interpreter(path, exact)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    batch = data[f"size{inp['shape'][1]}"]
    ops = [n["op_name"] for n in interp._get_ops_details()]
    delegates = [n for n in interp._get_ops_details() if n["op_name"] == "DELEGATE"]
    # XNNPACK took the whole graph when one DELEGATE node reads the input and writes the output
    whole = (len(delegates) == 1 and inp["index"] in delegates[0]["inputs"]
             and out["index"] in delegates[0]["outputs"])
    rows = []
    for x in batch:
        pixels = x[np.newaxis]
        if inp["dtype"] == np.int8:  # int8 pixels: the camera byte minus 128
            pixels = (pixels ^ 0x80).view(np.int8)
        interp.set_tensor(inp["index"], pixels)
        interp.invoke()
        rows.append(interp.get_tensor(out["index"]).reshape(-1).astype(np.int32))
    from importlib.metadata import version

    how = {"package": f"{package} {version(package)}", "kernels": "reference" if exact else
           ("XNNPACK (whole graph)" if whole else f"{len(delegates)} XNNPACK parts, "
            f"{len(ops) - len(delegates)} ops on LiteRT's own kernels")}
    return np.stack(rows), how


def run_onnx(path: str, data, exact: bool) -> tuple[np.ndarray, dict]:
    """Float logits for each uint8 NHWC input of the model's size."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    if exact:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    name, shape = session.get_inputs()[0].name, session.get_inputs()[0].shape
    batch = data[f"size{shape[1]}"]
    logits = np.stack([session.run(None, {name: x[np.newaxis]})[0].reshape(-1) for x in batch])
    return logits, {"package": f"onnxruntime {ort.__version__}",
                    "kernels": "graph optimisation off" if exact else "optimised"}


def main() -> int:
    flags = [a for a in sys.argv[1:] if a in ("--exact", "--reference")]
    inputs, out, *models = [a for a in sys.argv[1:] if a not in flags]
    exact = "--exact" in flags
    data = np.load(inputs)
    results: dict[str, np.ndarray] = {}
    for model in models:
        runner = run_tflite if model.endswith(".tflite") else run_onnx
        logits, how = runner(model, data, exact)
        name = f"{Path(model).parent.name}/{Path(model).name}"  # FOLDER/FILE, as arm_models
        results[name] = logits
        results[f"{name}:how"] = np.array(f"{how['package']}, {how['kernels']}")
        if "--reference" in flags and runner is run_tflite:
            logits, how = run_tflite(model, data, exact=True)
            key = f"{name}:reference"
            results[key] = logits
            results[f"{key}:how"] = np.array(f"{how['package']}, {how['kernels']}")
    np.savez(out, **results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
