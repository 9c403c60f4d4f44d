"""Post-training int8 for float checkpoints, in the same graph form as a kept quantization.

Calibration runs the fp32 model on real frames and records, for every activation the int8
model stores, a histogram (ReLU6 outputs and the pooled features lie in [0, 6]) and the
per-channel mean, and for every layer the second moments of its inputs. From them:

- activation ranges: per tensor, the clipping point that minimises the expected squared error
  (rounding inside the range, clipping outside) over the histogram;
- weights: int8 symmetric per output channel, rounded by GPTQ (Frantar et al. 2023): one
  input at a time, each rounding error compensated on the inputs not yet rounded, so the
  layer's output on the calibration frames moves least;
- x86 without VNNI: onnxruntime's uint8 x int8 kernels add pairs of products in 16 bits,
  which saturates when two neighbouring weights of one output are both large (255 x 127 x 2
  > 32767). Scales are chosen so that no two neighbouring same-sign weights sum past 128, and
  the stem, which reads raw pixels in an order we do not control, gets 7-bit weights;
- bias correction: the error the quantized weights make on average, (W_q - W) . E[input],
  comes off each bias (Nagel et al. 2019); then, layer by layer, the int8 layers run on the
  calibration frames and each bias moves so the output's per-channel mean is fp32's, which
  also takes out what rounding and clipping of activations add on average;
- the classifier's output stays float: a 1001-way logit range of 30 in 255 steps is 0.12 a
  step, and steps decide close calls.

The result is a :class:`~edge.convert.quant.params.Quantization`, built into ONNX by
:func:`~edge.convert.quant.qdq.build_qdq` like a kept one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import onnx

from edge.convert.quant.layers import gram, layer_runner, pair_bound
from edge.convert.quant.params import QLayer, QParams, Quantization
from edge.convert.spec import MobileNetSpec
from edge.convert.weights import Weights
from edge.errors import EdgeError
from edge.model import INPUT_NAME

BINS = 4096
TOP = 6.0  # ReLU6: every stored activation lies in [0, 6]
STEM_LEVELS = 63  # 7-bit stem weights: no 16-bit pair saturation whatever the tap order
PAIR_LIMIT = 128  # |w_k| + |w_k+1| <= 128: 255 x 128 = 32640 fits a signed 16-bit sum


@dataclass
class Stats:
    """What calibration saw, per stored activation (27 convolution outputs, then the pooled
    features): a histogram over [0, 6] and the per-channel mean; per layer: the per-channel
    mean before the activation and the input second moments (27 convolutions and the
    classifier); and the frames' mean pixel."""

    histograms: list[np.ndarray]
    means: list[np.ndarray]
    conv_means: list[np.ndarray]
    grams: list[np.ndarray]
    pixel_mean: np.ndarray


def calibrate(fp32: onnx.ModelProto, spec: MobileNetSpec, tensors: list[np.ndarray],
              zero: int) -> Stats:
    """Run the fp32 model (build.py's graph) on ``tensors`` and collect :class:`Stats`;
    ``zero`` is the pixel value the int8 stem takes as 0."""
    import onnxruntime as ort

    if not tensors:
        raise EdgeError("no calibration frames: int8 needs real frames (--calibration)")
    names = [f"{layer.name}/relu6" for layer in spec.layers[:-1]] + ["pooled"]
    convs = [f"{layer.name}/conv" for layer in spec.layers[:-1]]
    model = onnx.ModelProto()
    model.CopyFrom(fp32)
    known = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names + convs
                              if n not in known)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    histograms = [np.zeros(BINS, np.int64) for _ in names]
    means: list = [0.0] * len(names)
    conv_means: list = [0.0] * len(convs)
    grams: list = [0.0] * len(spec.layers)
    pixel_sum = np.zeros(3, np.float64)
    for tensor in tensors:
        outputs = session.run(names + convs, {INPUT_NAME: tensor})
        stored, pre = outputs[:len(names)], outputs[len(names):]
        pixel_sum += tensor.reshape(-1, 3).mean(axis=0)
        for i, out in enumerate(stored):
            histograms[i] += np.histogram(out, bins=BINS, range=(0.0, TOP))[0]
            means[i] = means[i] + out.reshape(out.shape[1], -1).mean(axis=1)
        for i, out in enumerate(pre):
            conv_means[i] = conv_means[i] + out.reshape(out.shape[1], -1).mean(axis=1)
        pixels = tensor[0].transpose(2, 0, 1).astype(np.float64) - zero
        inputs = [pixels, *(out[0] for out in stored[:-2]), stored[-1][0]]
        for i, (layer, x) in enumerate(zip(spec.layers, inputs, strict=True)):
            grams[i] = grams[i] + gram(layer, x)
    n = len(tensors)
    return Stats(histograms, [m / n for m in means], [m / n for m in conv_means],
                 [g / n for g in grams], pixel_sum / n)


def choose_range(histogram: np.ndarray) -> float:
    """The upper end of a [0, top] uint8 range for one activation's histogram over [0, 6]:
    the one with the least expected squared error."""
    edges = np.linspace(0.0, TOP, BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    total = histogram.sum()
    if total == 0:
        return TOP
    seen = np.nonzero(histogram)[0]
    best, best_err = TOP, np.inf
    for top_bin in range(max(seen[-1] - BINS // 2, 8), seen[-1] + 2, 4):
        top = float(edges[min(top_bin, BINS)])
        step = top / 255
        inside = centres <= top
        err = (histogram[inside].sum() * step * step / 12
               + (histogram[~inside] * (centres[~inside] - top) ** 2).sum())
        if err < best_err:
            best, best_err = top, err
    return best


def _gptq(w: np.ndarray, scale: np.ndarray, hessian: np.ndarray, levels: int) -> np.ndarray:
    """Round [rows, cols] weights one column at a time, moving each column's rounding error
    onto the columns not yet rounded (GPTQ). ``hessian``: [cols, cols] shared, or
    [rows, cols, cols] per row (depthwise)."""
    w = w.copy()
    h = hessian if hessian.ndim == 3 else hessian[np.newaxis]
    damp = 0.01 * np.diagonal(h, axis1=1, axis2=2).mean(axis=1) + 1e-12
    h = h + damp[:, None, None] * np.eye(h.shape[-1])
    # upper Cholesky factor of the inverse: row i says how column i's error moves the rest
    u = np.swapaxes(np.linalg.cholesky(np.linalg.inv(h)), 1, 2)
    u = np.broadcast_to(u, (w.shape[0], *u.shape[1:]))
    q = np.zeros_like(w)
    for i in range(w.shape[1]):
        q[:, i] = np.clip(np.round(w[:, i] / scale), -levels, levels)
        err = (w[:, i] - q[:, i] * scale) / u[:, i, i]
        w[:, i + 1:] -= err[:, None] * u[:, i, i + 1:]
    return q


def quantize_weights(w: np.ndarray, levels: int = 127, pair_safe: bool = False,
                     hessian: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 (values, scales); GPTQ rounding given the input
    second moments; ``pair_safe`` keeps neighbouring same-sign weights within 128."""
    peak = np.abs(w.reshape(w.shape[0], -1)).max(axis=1).astype(np.float64)
    if pair_safe:
        peak = np.maximum(peak, pair_bound(w) * levels / PAIR_LIMIT)
    scale = np.where(peak > 0, peak / levels, 1.0)
    if hessian is not None:
        q = _gptq(w.reshape(w.shape[0], -1), scale, hessian, levels).reshape(w.shape)
    else:
        q = np.clip(np.round(w / scale.reshape(-1, *([1] * (w.ndim - 1)))), -levels, levels)
    if pair_safe:  # rounding, and GPTQ's compensation, can push a pair past the limit again
        m = q.reshape(q.shape[0], -1)
        k = m.shape[1] - m.shape[1] % 2
        a, b = m[:, 0:k:2], m[:, 1:k:2]
        excess = np.where(np.sign(a) == np.sign(b), np.abs(a) + np.abs(b) - PAIR_LIMIT, 0)
        excess = excess.clip(0)
        bigger = np.abs(a) >= np.abs(b)
        a -= np.sign(a) * np.where(bigger, excess, 0)
        b -= np.sign(b) * np.where(bigger, 0, excess)
    return q.astype(np.int8), scale.astype(np.float32)


def _layer(w: np.ndarray, b: np.ndarray, input_mean: np.ndarray, in_scale: float,
           output: QParams | None, depthwise: bool, levels: int,
           hessian: np.ndarray | None, bias_correction: bool) -> QLayer:
    q, scale = quantize_weights(w, levels, pair_safe=not depthwise, hessian=hessian)
    bias = b.astype(np.float64)
    if bias_correction:
        error = q.astype(np.float64) * scale.reshape(-1, *([1] * (w.ndim - 1))) - w
        if depthwise:  # (C, 1, K, K): channel c reads input channel c
            bias = bias - error.reshape(error.shape[0], -1).sum(axis=1) * input_mean
        else:  # (O, I, K, K) or (O, I)
            bias = bias - error.reshape(error.shape[0], error.shape[1], -1).sum(axis=2) \
                @ input_mean
    bias_scale = (in_scale * scale.astype(np.float64)).astype(np.float32)
    return QLayer(q, scale, np.zeros(scale.shape, np.int8),
                  np.round(bias / bias_scale).astype(np.int32), bias_scale, output,
                  "relu6" if output is not None else "none")


def post_training(weights: Weights, spec: MobileNetSpec, stats: Stats, gptq: bool = True,
                  bias_correction: bool = True) -> Quantization:
    """The int8 quantization of float ``weights`` from calibration ``stats``."""
    mean = np.array(weights.normalisation["mean"], np.float64)
    std = np.array(weights.normalisation["std"], np.float64)
    zero = pixel_zero(weights)
    # the stem reads raw pixels (scale 1, zero point ~ the mean): 1/std goes into its
    # weights, the rest of the mean into its bias; only padded border taps see the
    # difference between the mean and the zero point (half a grey level for TF weights)
    w0, b0 = weights.convs[0]
    w0 = w0.astype(np.float64) / std.reshape(1, 3, 1, 1)
    b0 = b0.astype(np.float64) + (w0 * (zero - mean).reshape(1, 3, 1, 1)).sum(axis=(1, 2, 3))
    outputs = [QParams(choose_range(h) / 255, 0) for h in stats.histograms]
    convs = []
    in_scale, in_mean = 1.0, stats.pixel_mean - zero
    for i, (layer, (w, b)) in enumerate(zip(spec.layers[:-1], [(w0, b0), *weights.convs[1:]],
                                            strict=True)):
        convs.append(_layer(w.astype(np.float64), b, in_mean, in_scale, outputs[i],
                            layer.kind == "dw", STEM_LEVELS if i == 0 else 127,
                            stats.grams[i] if gptq else None, bias_correction))
        in_scale, in_mean = outputs[i].scale, stats.means[i]
    fc_w, fc_b = weights.fc
    fc = _layer(fc_w.astype(np.float64), fc_b, stats.means[-1], outputs[-1].scale, None,
                False, 127, stats.grams[-1] if gptq else None, bias_correction)
    return Quantization(QParams(1.0, zero), True, convs, outputs[-1], fc)


def pixel_zero(weights: Weights) -> int:
    """The pixel value the int8 stem takes as 0: the normalisation mean, rounded."""
    return round(float(np.mean(weights.normalisation["mean"])))


def correct_biases(quant: Quantization, spec: MobileNetSpec, stats: Stats,
                   tensors: list[np.ndarray], chunk: int = 16) -> Quantization:
    """Empirical bias correction, layer by layer: run each int8 layer on the calibration
    frames as onnxruntime computes it, on the inputs the corrected layers before it give, and
    move its int32 bias so its output's per-channel mean (before the activation) is fp32's.
    Activations are kept as uint8 between layers; float outputs ``chunk`` frames at a time."""
    x = np.concatenate([t.transpose(0, 3, 1, 2) for t in tensors])
    in_q = quant.input
    convs = []
    for layer, q, want in zip(spec.layers[:-1], quant.convs, stats.conv_means, strict=True):
        run = layer_runner(layer, q, in_q, x.shape)
        parts = range(0, len(x), chunk)
        total = sum(run(x[i:i + chunk]).sum(axis=(0, 2, 3), dtype=np.float64) for i in parts)
        got = total / (len(x) * layer.size_out * layer.size_out)
        steps = np.round((want - got) / q.bias_scale).astype(np.int64)
        q = replace(q, bias=(q.bias + steps).astype(np.int32))
        shift = (steps * q.bias_scale).reshape(1, -1, 1, 1).astype(np.float32)
        out = np.empty((len(x), layer.cout, layer.size_out, layer.size_out), np.uint8)
        for i in parts:
            y = run(x[i:i + chunk]) + shift
            if q.activation == "relu6":
                y = np.clip(y, 0.0, TOP)
            out[i:i + chunk] = np.clip(np.round(y / np.float32(q.output.scale))
                                       + q.output.zero_point, 0, 255)
        x, in_q = out, q.output
        convs.append(q)
    return replace(quant, convs=convs)
