"""The int8 parameter types every int8 path shares: an activation's scale and zero point
(:class:`QParams`), one layer as integers (:class:`QLayer`) and a whole network's quantization
(:class:`Quantization`), whether read from a quantised file or made by post-training
quantization. Types only: nothing here reads files or runs models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QParams:
    """Scale and zero point of a uint8 activation: real = (q - zero_point) * scale."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class QLayer:
    """One convolution (or the classifier) as integers, weights in ONNX layout (OIHW, C1HW
    for depthwise, [classes, C] for the classifier)."""

    weight: np.ndarray  # uint8 or int8, as the file stores them
    weight_scale: np.ndarray  # float32, [1] per tensor or [cout] per output channel
    weight_zero: np.ndarray  # weight's dtype, same length as weight_scale
    bias: np.ndarray  # int32 [cout]
    bias_scale: np.ndarray  # float32, input scale x weight scale
    output: QParams | None  # the activation after the layer (and its fused ReLU/ReLU6);
    # None: the layer's output stays float (a post-training classifier's logits)
    activation: str  # "relu6", "relu" or "none"

    @property
    def per_channel(self) -> bool:
        return self.weight_scale.size > 1


@dataclass(frozen=True)
class Quantization:
    """Everything an int8 model needs to compute what the quantised file computes."""

    input: QParams  # of the first convolution's input
    pixels_direct: bool  # raw uint8 pixels are that input (True for TF's uint8 files)
    convs: list[QLayer]  # 27: stem, then depthwise and pointwise of 13 blocks
    pool: QParams  # the global average pool's output
    fc: QLayer  # classifier; its output are the quantised logits
    file: str = ""  # the TFLite file it was read from, for checking against LiteRT
    softmax_output: bool = False  # the file ends in SOFTMAX (probabilities, not logits)

    def describe(self) -> dict:
        """What the file's quantization is, in words, for metadata and report."""
        layers = [*self.convs, self.fc]
        kinds = {f"{layer.weight.dtype.name} per-"
                 f"{'channel' if layer.per_channel else 'tensor'}"
                 f"{' symmetric' if not layer.weight_zero.any() else ' asymmetric'}"
                 for layer in layers}
        return {"weights": ", ".join(sorted(kinds)),
                "activations": "uint8 asymmetric per-tensor, the file's trained ranges",
                "input": {"scale": self.input.scale, "zero_point": self.input.zero_point,
                          "raw_pixels": self.pixels_direct},
                "logits": {"scale": self.fc.output.scale,
                           "zero_point": self.fc.output.zero_point}}
