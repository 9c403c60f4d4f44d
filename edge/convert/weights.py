"""Float weights in ONNX layout, whatever file they came from, plus batch-norm folding.

Every importer returns :class:`Weights`: 27 convolutions (stem, then depthwise and pointwise of
13 blocks) and the classifier, already folded, with what the source says about padding,
normalisation and class 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.convert.spec import BLOCKS, MobileNetSpec, Padding
from edge.errors import EdgeError

# (x - 127.5) / 127.5 per channel: the TF/Keras "tf" mode and timm's mean=std=0.5.
TF_NORMALISATION = {"mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5]}


@dataclass
class Weights:
    """Folded float32 weights. ``convs[i]`` is (OIHW weight, bias); depthwise weights are
    (C, 1, K, K) for ``group=C``; ``fc`` is (weight [classes, C], bias [classes])."""

    convs: list[tuple[np.ndarray, np.ndarray]]
    fc: tuple[np.ndarray, np.ndarray]
    padding: Padding
    background: bool  # class 0 is "background" (TF-slim's 1001-class heads)
    source: dict = field(default_factory=dict)  # kind, file, sha256, trained, note
    resolution: int | None = None  # when the file fixes it (TFLite, Keras model files)
    normalisation: dict = field(default_factory=lambda: dict(TF_NORMALISATION))
    # a quantised file's own quantization (edge.convert.quant.params.Quantization), if any
    quantization: object | None = None

    @property
    def channels(self) -> tuple[int, ...]:
        stem = self.convs[0][0].shape[0]
        return (stem, *(self.convs[2 * i][0].shape[0] for i in range(1, len(BLOCKS) + 1)))

    @property
    def classes(self) -> int:
        return int(self.fc[0].shape[0])

    @property
    def alpha(self) -> float:
        """Width multiplier implied by the last block (1024 channels at alpha 1)."""
        return self.channels[-1] / 1024

    def check(self, spec: MobileNetSpec, origin: str) -> None:
        """Raise EdgeError unless every tensor has the shape the layer table demands."""
        convs = [layer for layer in spec.layers if layer.kind != "fc"]
        if len(self.convs) != len(convs):
            raise EdgeError(f"{origin}: expected {len(convs)} convolutions, "
                            f"found {len(self.convs)}")
        for layer, (w, b) in zip(convs, self.convs, strict=True):
            want = (layer.cout, 1 if layer.kind == "dw" else layer.cin, layer.k, layer.k)
            if w.shape != want or b.shape != (layer.cout,):
                raise EdgeError(f"{origin}: layer {layer.name} has weight {w.shape} and bias "
                                f"{b.shape}, expected {want} and ({layer.cout},)")
        fc = spec.layers[-1]
        if self.fc[0].shape != (fc.cout, fc.cin) or self.fc[1].shape != (fc.cout,):
            raise EdgeError(f"{origin}: classifier is {self.fc[0].shape}, expected "
                            f"{(fc.cout, fc.cin)}")
        for w, b in [*self.convs, self.fc]:
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise EdgeError(f"{origin}: weights contain NaN or infinity")


def fold_batch_norm(
    weight: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float,
    bias: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``BN(conv(x) + bias)`` into one convolution (weight in OIHW, out channels first).

    BN(y) = gamma * (y - mean) / sqrt(var + eps) + beta, so the weight scales by
    s = gamma / sqrt(var + eps) per output channel and the bias becomes beta + s * (bias - mean).
    """
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    b0 = np.zeros_like(scale) if bias is None else bias.astype(np.float64)
    folded_w = weight.astype(np.float64) * scale.reshape(-1, *([1] * (weight.ndim - 1)))
    folded_b = beta.astype(np.float64) + scale * (b0 - mean.astype(np.float64))
    return folded_w.astype(np.float32), folded_b.astype(np.float32)


def random_weights(spec: MobileNetSpec, seed: int = 0) -> Weights:
    """He-normal initialisation with zero biases: an honest *untrained* network.

    The result is flagged untrained; its predictions mean nothing and every report says so.
    """
    rng = np.random.default_rng(seed)
    convs = []
    for layer in spec.layers[:-1]:
        fan_in = layer.k * layer.k * (1 if layer.kind == "dw" else layer.cin)
        shape = (layer.cout, 1 if layer.kind == "dw" else layer.cin, layer.k, layer.k)
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(np.float32)
        convs.append((w, np.zeros(layer.cout, np.float32)))
    fc = spec.layers[-1]
    fc_w = rng.normal(0.0, np.sqrt(1.0 / fc.cin), size=(fc.cout, fc.cin)).astype(np.float32)
    return Weights(
        convs=convs,
        fc=(fc_w, np.zeros(fc.cout, np.float32)),
        padding=spec.padding,
        background=spec.classes == 1001,
        source={"kind": "random", "file": None, "sha256": None, "trained": False,
                "note": f"random He-normal initialisation (seed {seed}): UNTRAINED, "
                        "predictions are meaningless"},
    )
