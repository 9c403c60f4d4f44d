"""MobileNetV1's layer table (Howard et al. 2017, Table 1) for any width and resolution.

The table is the single source of truth for the graph builder, the importers' shape checks,
MACs, parameters and the microcontroller footprint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

Padding = Literal["tf", "keras", "torch"]
PADDINGS: tuple[str, ...] = ("tf", "keras", "torch")

# (pointwise output channels, depthwise stride) of the 13 depthwise-separable blocks at alpha 1.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
STEM_CHANNELS = 32
MIN_RESOLUTION = 32


def slim_channels(alpha: float) -> tuple[int, ...]:
    """Channel widths of stem + 13 blocks as TF-slim rounds them: ``max(int(c * alpha), 8)``."""
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    widths = (STEM_CHANNELS, *(c for c, _ in BLOCKS))
    return tuple(max(int(c * alpha), 8) for c in widths)


def _pads(size: int, k: int, stride: int, padding: Padding, first: bool) -> tuple[int, int]:
    """(before, after) padding along one spatial axis for one convolution.

    - ``tf``: TensorFlow ``SAME``; stride 2 on an even size pads only after (bottom/right).
    - ``keras``: keras.applications: ``SAME`` for the stem and stride-1 layers, an explicit
      ``ZeroPadding2D(((0, 1), (0, 1)))`` plus ``VALID`` for the stride-2 depthwise layers.
    - ``torch``: symmetric ``k // 2`` as PyTorch/timm define it.
    """
    if padding == "torch":
        return k // 2, k // 2
    if padding == "keras" and stride == 2 and not first:
        return 0, 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Layer:
    """One convolution (or the classifier) with its shapes and costs."""

    name: str
    kind: Literal["conv", "dw", "pw", "fc"]
    cin: int
    cout: int
    k: int
    stride: int
    size_in: int
    size_out: int
    pads: tuple[int, int, int, int]  # ONNX order: top, left, bottom, right

    @property
    def weight_count(self) -> int:
        if self.kind == "dw":
            return self.k * self.k * self.cin
        return self.k * self.k * self.cin * self.cout

    @property
    def params(self) -> int:
        """Weights plus one bias per output channel (batch norm folded)."""
        return self.weight_count + self.cout

    @property
    def macs(self) -> int:
        return self.weight_count * self.size_out * self.size_out

    @property
    def activation_in(self) -> int:
        return self.size_in * self.size_in * self.cin

    @property
    def activation_out(self) -> int:
        return self.size_out * self.size_out * self.cout


@dataclass(frozen=True)
class MobileNetSpec:
    """MobileNetV1 at a width, resolution and class count; ``channels`` = stem + 13 blocks."""

    alpha: float
    resolution: int
    classes: int
    channels: tuple[int, ...]
    padding: Padding = "tf"

    @classmethod
    def create(
        cls, alpha: float, resolution: int, classes: int, padding: Padding = "tf"
    ) -> MobileNetSpec:
        return cls(alpha, resolution, classes, slim_channels(alpha), padding)

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        if self.resolution < MIN_RESOLUTION:
            raise ValueError(f"resolution must be >= {MIN_RESOLUTION}, got {self.resolution}")
        if self.classes < 1:
            raise ValueError(f"classes must be >= 1, got {self.classes}")
        if len(self.channels) != 1 + len(BLOCKS):
            raise ValueError(f"expected {1 + len(BLOCKS)} channel widths, got {len(self.channels)}")
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {self.padding!r}")

    @cached_property
    def layers(self) -> list[Layer]:
        layers: list[Layer] = []
        size = self.resolution

        def add(name: str, kind, cin: int, cout: int, k: int, stride: int) -> None:
            nonlocal size
            before, after = _pads(size, k, stride, self.padding, first=not layers)
            out = (size + before + after - k) // stride + 1
            layers.append(
                Layer(name, kind, cin, cout, k, stride, size, out, (before, before, after, after))
            )
            size = out

        add("Conv2d_0", "conv", 3, self.channels[0], 3, 2)
        for i, (_, stride) in enumerate(BLOCKS, start=1):
            cin, cout = self.channels[i - 1], self.channels[i]
            add(f"Conv2d_{i}_depthwise", "dw", cin, cin, 3, stride)
            add(f"Conv2d_{i}_pointwise", "pw", cin, cout, 1, 1)
        final = size
        layers.append(Layer("Logits", "fc", self.channels[-1], self.classes, 1, 1, 1, 1,
                            (0, 0, 0, 0)))
        assert final >= 1
        return layers

    @property
    def final_size(self) -> int:
        return self.layers[-2].size_out

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    def footprint_int8(self) -> dict[str, int]:
        """Bytes a microcontroller needs at int8: weights (int8) + biases (int32) in flash,
        and the peak of input + output activations of any one layer in SRAM (a sequential
        network only ever needs two buffers alive at once)."""
        layers = self.layers
        weight_bytes = sum(layer.weight_count + 4 * layer.cout for layer in layers)
        peak = max(layer.activation_in + layer.activation_out for layer in layers)
        # the global average pool: final map in, one vector out
        peak = max(peak, self.final_size**2 * self.channels[-1] + self.channels[-1])
        return {"weight_bytes": weight_bytes, "peak_activation_bytes": peak}


def explain(spec: MobileNetSpec) -> str:
    """Per-layer cost of each depthwise-separable block next to a standard 3x3 convolution.

    A standard KxK convolution costs K^2*Ci*Co*H*W MACs; depthwise + pointwise costs
    K^2*Ci*H*W + Ci*Co*H*W, a ratio of 1 / (1/Co + 1/K^2): about 8-9x for K=3.
    """
    layers = spec.layers
    rows = []
    header = (f"{'layer':<14}{'in':>12}{'out':>12}{'sep MACs':>14}{'std MACs':>15}"
              f"{'ratio':>8}{'params':>11}")
    rows.append(header)
    rows.append("-" * len(header))
    total_sep = total_std = 0
    stem = layers[0]
    rows.append(f"{'conv 3x3/' + str(stem.stride):<14}{_shape(stem.size_in, stem.cin):>12}"
                f"{_shape(stem.size_out, stem.cout):>12}{stem.macs:>14,}{stem.macs:>15,}"
                f"{1.0:>8.2f}{stem.params:>11,}")
    total_sep += stem.macs
    total_std += stem.macs
    for i in range(1, len(BLOCKS) + 1):
        dw, pw = layers[2 * i - 1], layers[2 * i]
        sep = dw.macs + pw.macs
        std = dw.k * dw.k * dw.cin * pw.cout * dw.size_out * dw.size_out
        total_sep += sep
        total_std += std
        rows.append(f"{f'block {i:>2} /{dw.stride}':<14}{_shape(dw.size_in, dw.cin):>12}"
                    f"{_shape(pw.size_out, pw.cout):>12}{sep:>14,}{std:>15,}"
                    f"{std / sep:>8.2f}{dw.params + pw.params:>11,}")
    fc = layers[-1]
    total_sep += fc.macs
    total_std += fc.macs
    rows.append(f"{'avgpool+fc':<14}{_shape(spec.final_size, fc.cin):>12}{fc.cout:>12}"
                f"{fc.macs:>14,}{fc.macs:>15,}{1.0:>8.2f}{fc.params:>11,}")
    rows.append("-" * len(header))
    rows.append(f"{'total':<38}{total_sep:>14,}{total_std:>15,}{total_std / total_sep:>8.2f}"
                f"{spec.params:>11,}")
    base = MobileNetSpec.create(1.0, 224, spec.classes, spec.padding)
    rows.append("")
    rows.append(
        f"MobileNetV1 {spec.alpha:g}-{spec.resolution}: {spec.macs / 1e6:.1f}M MACs, "
        f"{spec.params / 1e6:.3f}M parameters, {spec.classes} classes."
    )
    rows.append(
        f"Against 1.0-224 ({base.macs / 1e6:.1f}M MACs): x{spec.macs / base.macs:.3f}. "
        f"Width scales MACs by about alpha^2 = {spec.alpha**2:.3f}, "
        f"resolution by about rho^2 = {(spec.resolution / 224) ** 2:.3f}; "
        f"together {spec.alpha**2 * (spec.resolution / 224) ** 2:.3f}."
    )
    return "\n".join(rows)


def _shape(size: int, channels: int) -> str:
    return f"{size}x{size}x{channels}"
