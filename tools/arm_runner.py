"""Run ONNX models on saved inputs and save the logits: the part of arm_check.py that runs
under emulation. Needs only onnxruntime and numpy (no edge package on the emulated side).

    python arm_runner.py [--exact] INPUTS.npz OUT.npz MODEL.onnx [MODEL.onnx ...]

``--exact`` turns graph optimisation off, so a QDQ model runs as its float reference ops
(DequantizeLinear -> float Conv -> QuantizeLinear): the exact arithmetic the int8 model
defines, whatever integer kernels a CPU has.
"""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort


def main() -> int:
    args = sys.argv[1:]
    exact = args[0] == "--exact"
    if exact:
        args = args[1:]
    inputs, out, *models = args
    data = np.load(inputs)
    results = {"onnxruntime": np.array(ort.__version__)}
    for model in models:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        if exact:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        size = session.get_inputs()[0].shape[1]
        batch = data[f"size{size}"]
        logits = np.stack([session.run(None, {"image": x[np.newaxis]})[0][0] for x in batch])
        results[Path(model).stem] = logits
    np.savez(out, **results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
