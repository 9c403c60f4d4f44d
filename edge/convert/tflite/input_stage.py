"""The TFLite input: what the ONNX model does to the pixels before its first convolution.

That part (cast, transpose, pad, normalisation, quantize) differs between weight sources and
int8 forms, so it is measured rather than pattern-matched: onnxruntime runs it on three probe
images (all 0, all 255, a ramp through every value), which gives the padding (positions that
do not depend on the image), the fill value, and each channel's pixel -> integer map.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from edge.convert.tflite.write import Graph, Tensor
from edge.errors import EdgeError
from edge.model import INPUT_NAME


@dataclass
class Adapted:
    """The graph input, the int8 tensor the stem reads, and what the stem must add.

    ``pads`` (top, left, bottom, right) are padding the ONNX model applied before its stem;
    ``shift`` is the real value the TFLite stem input lies below the ONNX one (it goes into the
    stem's bias as shift x sum of weights).
    """

    graph_input: int
    tensor: int
    pads: tuple[int, int, int, int]
    shift: float
    info: dict
    notes: list[str] = field(default_factory=list)


@dataclass
class Probe:
    """The ONNX pixel path in the int8 domain: ``lut[c, p]``, the padding and its fill; and
    ``real[c, p]``, the float values it quantizes, where a QuantizeLinear makes it."""

    lut: np.ndarray
    pads: tuple[int, int, int, int]
    fill: np.ndarray
    real: np.ndarray | None = None


def _subgraph(model: onnx.ModelProto, outputs: dict[str, np.dtype]) -> onnx.ModelProto:
    """The nodes that compute ``outputs`` (name: dtype) from the image, as a model."""
    producer = {o: n for n in model.graph.node for o in n.output}
    needed: set[int] = set()
    stack = list(outputs)
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            stack.extend(node.input)
    nodes = [n for n in model.graph.node if id(n) in needed]
    used = {i for n in nodes for i in n.input}
    graph = onnx.helper.make_graph(
        nodes, "pixels", list(model.graph.input),
        [onnx.helper.make_tensor_value_info(name, onnx.helper.np_dtype_to_tensor_dtype(
            np.dtype(dtype)), None) for name, dtype in outputs.items()],
        initializer=[i for i in model.graph.initializer if i.name in used])
    sub = onnx.helper.make_model(graph, opset_imports=model.opset_import)
    sub.ir_version = model.ir_version
    return sub


def probe_pixels(model: onnx.ModelProto, name: str, dtype: np.dtype) -> Probe:
    """Run the subgraph image -> ``name`` (the stem's quantized NCHW input, of ``dtype``) on
    probe images."""
    import onnxruntime as ort

    producer = next((n for n in model.graph.node if name in n.output), None)
    outputs = {name: dtype}
    if producer is not None and producer.op_type == "QuantizeLinear":
        outputs[producer.input[0]] = np.float32
    sub = _subgraph(model, outputs)
    sess = ort.InferenceSession(sub.SerializeToString(), providers=["CPUExecutionProvider"])
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[0] != 1 or dims[3] != 3 or dims[1] * dims[2] < 256:
        raise EdgeError(f"int8 ONNX -> TFLite: input shape {dims} is not [1, H, W, 3]")
    _, h, w, _ = dims
    ramp = (np.arange(h * w) % 256).reshape(1, h, w, 1).repeat(3, axis=3).astype(np.uint8)
    probes = [np.zeros_like(ramp), np.full_like(ramp, 255), ramp]
    outs, floats = [], []
    for image in probes:
        out, *real = sess.run(None, {INPUT_NAME: image})
        floats += real
        if out.dtype not in (np.uint8, np.int8) or out.ndim != 4 or out.shape[1] != 3:
            raise EdgeError("int8 ONNX -> TFLite: the stem's input is not a quantized NCHW "
                            f"image ({out.dtype} {list(out.shape)})")
        outs.append(out.astype(np.int32) - (128 if out.dtype == np.uint8 else 0))
    interior = np.all(outs[0] != outs[1], axis=(0, 1))
    rows, cols = np.flatnonzero(interior.any(axis=1)), np.flatnonzero(interior.any(axis=0))
    top, left = (int(rows[0]), int(cols[0])) if rows.size and cols.size else (0, 0)
    if rows.size != h or cols.size != w or not interior[top:top + h, left:left + w].all():
        raise EdgeError("int8 ONNX -> TFLite: the preprocessing before the first convolution "
                        "is not a per-pixel map plus padding")
    pads = (top, left, interior.shape[0] - top - h, interior.shape[1] - left - w)
    border = ~interior
    fill = np.zeros(3, np.int32)
    if border.any():
        values = np.stack([o[0][:, border] for o in outs])  # probe, channel, position
        if not np.all(values == values[0, :, :1]):
            raise EdgeError("int8 ONNX -> TFLite: the padding depends on the image")
        fill = values[0, :, 0]
    pixel = ramp[0, :, :, 0].reshape(-1)
    lut = _per_pixel(outs[2], pixel, (top, left, h, w))
    real = _per_pixel(floats[2], pixel, (top, left, h, w)) if floats else None
    return Probe(lut.astype(np.int32), pads, fill, real)


def _per_pixel(out: np.ndarray, pixel: np.ndarray, box: tuple[int, int, int, int]):
    """[channel, pixel value] from a probe output, checking every position agrees."""
    top, left, h, w = box
    inner = out[0][:, top:top + h, left:left + w].reshape(3, -1)
    table = np.zeros((3, 256), inner.dtype)
    for p in range(256):
        vals = inner[:, pixel == p]
        if not np.all(vals == vals[:, :1]):
            raise EdgeError("int8 ONNX -> TFLite: the preprocessing is not the same map for "
                            "every pixel position")
        table[:, p] = vals[:, 0]
    return table


def adapt_input(model: onnx.ModelProto, name: str, dtype: np.dtype, scale: float, zp8: int,
                g: Graph, input_type: str, stem_pads: tuple[int, ...]) -> Adapted:
    """Add the TFLite input (and any op it needs) to ``g`` for the ONNX stem input ``name``
    (of ``dtype``, quantized with ``scale`` and int8-domain zero point ``zp8``)."""
    probe = probe_pixels(model, name, dtype)
    h, w = (d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:3])
    padded_before = any(probe.pads)
    if padded_before and any(stem_pads):
        raise EdgeError("int8 ONNX -> TFLite: the image is padded both before and inside the "
                        "first convolution")
    k = probe.lut[0, 0] + 128
    identity = np.array_equal(probe.lut, np.arange(256)[None, :].repeat(3, 0) - 128 + k)
    fills_equal = not padded_before or np.all(probe.fill == probe.fill[0])
    pixel = {"shape": [1, h, w, 3], "layout": "NHWC", "order": "RGB"}
    if identity and fills_equal:
        # the stem reads the pixels themselves: relabel them, pick the zero point that pads
        # with the ONNX fill, and move the constant difference into the stem's bias
        fill = int(probe.fill[0]) if padded_before else zp8
        z = int(fill - k)
        if not -128 <= z <= 127:
            raise EdgeError(f"int8 ONNX -> TFLite: pad value {fill} is out of the int8 range")
        graph_input, tensor = _pixels(g, input_type, (1, h, w, 3), scale, z)
        info = {**pixel, "dtype": input_type, "scale": scale,
                "zero_point": z + (128 if input_type == "uint8" else 0),
                "feed": "pixel - 128 (the RGB byte with its top bit flipped)"
                if input_type == "int8" else "the RGB bytes as they are"}
        return Adapted(graph_input, tensor, probe.pads, scale * (fill - zp8), info)
    if padded_before and not np.all(probe.fill == zp8):
        raise EdgeError("int8 ONNX -> TFLite: the image is padded with a value that is not "
                        "zero after normalisation")
    return _normalise(g, input_type, probe, scale, zp8, pixel)


def _pixels(g: Graph, input_type: str, shape: tuple[int, ...], scale: float,
            z: int) -> tuple[int, int]:
    """The graph input and the int8 pixel tensor (one tensor unless the input is uint8)."""
    int8 = g.add(Tensor("image", shape, "int8", (scale,), (z,)))
    if input_type == "int8":
        return int8, int8
    g.tensors[int8].name = "image_int8"
    raw = g.add(Tensor("image", g.tensors[int8].shape, "uint8", (scale,), (z + 128,)))
    g.op("QUANTIZE", [raw], [int8])
    return raw, int8


def _normalise(g: Graph, input_type: str, probe: Probe, scale: float, zp8: int,
               pixel: dict) -> Adapted:
    """A per-channel affine map (mean and std per channel) as a 1x1 depthwise convolution
    from pixels (scale 1) to the stem's input quantization."""
    p = np.arange(256, dtype=np.float64)
    a = np.zeros(3)
    b = np.zeros(3)
    for c in range(3):
        if probe.real is not None:  # the float values before quantization: exact
            a[c], b[c] = np.polyfit(p, probe.real[c].astype(np.float64), 1)
            continue
        inside = (probe.lut[c] > -128) & (probe.lut[c] < 127)
        if inside.sum() < 2:
            raise EdgeError("int8 ONNX -> TFLite: the input map saturates (no usable range)")
        slope, offset = np.polyfit(p[inside], probe.lut[c, inside], 1)
        a[c], b[c] = scale * slope, scale * (offset - zp8)  # int8 domain -> real values
    if np.any(a <= 0):
        raise EdgeError("int8 ONNX -> TFLite: the input map is not increasing in the pixel")
    # real = a p + b: weight a (127 at scale a / 127), bias b, input pixels at scale 1
    w_scale = a / 127.0
    bias_q = np.round(b / w_scale).astype(np.int32)
    emulated = np.clip(np.round((127 * p[None] + bias_q[:, None]) * (w_scale / scale)[:, None])
                       + zp8, -128, 127)
    if np.abs(emulated - probe.lut).max() > 1:
        raise EdgeError("int8 ONNX -> TFLite: the input map is not affine per channel")
    graph_input, pixels = _pixels(g, input_type, tuple(pixel["shape"]), 1.0, -128)
    weights = g.const("normalise/weights", np.full((1, 1, 1, 3), 127, np.int8), w_scale,
                      [0] * 3, axis=3)
    bias = g.const("normalise/bias", bias_q, w_scale, [0] * 3)
    out = g.add(Tensor("normalised", g.tensors[pixels].shape, "int8", (scale,), (zp8,)))
    g.op("DEPTHWISE_CONV_2D", [pixels, weights, bias], [out], padding="valid", stride=1,
         depth_multiplier=1, activation=None)
    info = {**pixel, "dtype": input_type, "scale": 1.0,
            "zero_point": -128 + (128 if input_type == "uint8" else 0),
            "feed": "pixel - 128 (the RGB byte with its top bit flipped)"
            if input_type == "int8" else "the RGB bytes as they are"}
    note = ("the per-channel input normalisation runs as a 1x1 depthwise convolution "
            f"(+{int(np.prod(g.tensors[pixels].shape))} bytes of arena)")
    return Adapted(graph_input, out, probe.pads, 0.0, info, [note])
