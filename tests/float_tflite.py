"""A float32 TFLite file in TOCO's MobileNetV1 layout, written from real weights, so the float
import path is tested in a fresh clone (the float checkpoint itself is too large to bundle).

The weights are the bundled quantization-aware-trained 0.25-128's, dequantised: real trained
float weights. The file is what TensorFlow's float export holds: NHWC float input normalised
to [-1, 1], OHWI convolution and 1HWC depthwise weights, TF SAME padding, fused ReLU6, a mean
over the final map and a fully connected classifier giving the logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.convert.checkpoints.tflite import load_tflite
from edge.convert.spec import MobileNetSpec
from edge.convert.tflite.write import Graph, Tensor, write_tflite


def float_tflite_from(quantized: Path) -> bytes:
    """The dequantised weights of ``quantized`` (a uint8 MobileNetV1) as a float32 TFLite."""
    weights = load_tflite(quantized, quantized.read_bytes())
    spec = MobileNetSpec.create(0.25, weights.resolution, weights.fc[0].shape[0])
    g = Graph()
    size = weights.resolution
    x = g.add(Tensor("input", (1, size, size, 3), "float32"))
    g.inputs.append(x)
    convs = [layer for layer in spec.layers if layer.kind != "fc"]
    for layer, (w, b) in zip(convs, weights.convs, strict=True):
        if layer.kind == "dw":  # C1HW -> 1HWC
            w_t, kind = w.transpose(1, 2, 3, 0), "DEPTHWISE_CONV_2D"
        else:  # OIHW -> OHWI
            w_t, kind = w.transpose(0, 2, 3, 1), "CONV_2D"
        wi = g.const(f"{layer.name}/weights", w_t.astype(np.float32))
        bi = g.const(f"{layer.name}/bias", b.astype(np.float32))
        y = g.add(Tensor(f"{layer.name}/out", (1, layer.size_out, layer.size_out, layer.cout),
                         "float32"))
        g.op(kind, (x, wi, bi), (y,), padding="same", stride=layer.stride, activation="relu6")
        x = y
    axes = g.const("pool/axes", np.array([1, 2], np.int32))
    pooled = g.add(Tensor("pool/out", (1, convs[-1].cout), "float32"))
    g.op("MEAN", (x, axes), (pooled,), keep_dims=False)
    fc_w, fc_b = weights.fc
    wi, bi = g.const("logits/weights", fc_w.astype(np.float32)), g.const(
        "logits/bias", fc_b.astype(np.float32))
    logits = g.add(Tensor("logits", (1, fc_w.shape[0]), "float32"))
    g.op("FULLY_CONNECTED", (pooled, wi, bi), (logits,))
    g.outputs.append(logits)
    return write_tflite(g, "MobileNetV1 0.25 float (dequantised QAT weights), test fixture", {})
