"""int8 QDQ ONNX -> full-integer int8 .tflite, for TensorFlow Lite Micro and LiteRT.

The walk reads any QDQ int8 ONNX of this network, not one layout of it: each
``DequantizeLinear(weights) -> Conv/Gemm -> [Clip] -> QuantizeLinear`` becomes one TFLite op
with a fused activation, each QuantizeLinear output one int8 tensor (uint8 activations become
int8 with the zero point minus 128: the same numbers). TFLM requires int8 weights symmetric
per output channel (zero point 0): ours are copied bit for bit; others (uint8, per-tensor, a
non-zero zero point) keep their integers minus the zero point in every channel where those fit
[-127, 127], and only the remaining channels are re-quantized (the export lists them). Biases
become int32 with scale input x weight.

The part in front of the first convolution (cast, transpose, pad, normalisation, quantize) is
not pattern-matched: it is run with onnxruntime on probe images, which yields each channel's
pixel -> integer map and the padding. When that map is the pixels themselves (our calibrated
model, and the QAT files' scale 1/128 zero point 128), the TFLite input is the pixels as int8
(pixel - 128) with the stem's scale, and its zero point is chosen so that TFLite's padding
fills the value the ONNX model pads with; the constant difference goes into the stem's bias
(exact in integers). Otherwise (a per-channel mean and std) a 1x1 depthwise convolution
applies the normalisation.

Padding: TF ``SAME`` where the ONNX pads are SAME's (TF weights), explicit PAD + ``VALID``
where they are not (Keras stride-2 layers on odd sizes, PyTorch's symmetric padding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import onnx
from onnx import numpy_helper

from edge.convert.settings import MCU_INPUTS as INPUT_TYPES
from edge.convert.tflite.constants import QConst, int8_domain, int8_per_channel, tf_same
from edge.convert.tflite.input_stage import adapt_input
from edge.convert.tflite.write import Graph, Tensor, chain_plan, write_tflite
from edge.errors import EdgeError
from edge.model import INPUT_NAME


@dataclass
class Export:
    """The .tflite bytes and what a user of the file needs to know about it."""

    tflite: bytes
    input: dict
    output: dict
    ops: list[str]
    requantized: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Pending:
    """A float result (convolution, pool) waiting for the QuantizeLinear that fixes its scale."""

    node: onnx.NodeProto
    x: int
    clip: tuple[float, float] | None = None


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class _Exporter:
    def __init__(self, model: onnx.ModelProto, input_type: str,
                 logit_scale: float | None = None) -> None:
        self.model = model
        self.input_type = input_type
        self.logit_scale = logit_scale
        self.inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.producer = {o: n for n in model.graph.node for o in n.output}
        self.consts: dict[str, QConst] = {}
        self.acts: dict[str, int] = {}  # float name (a DequantizeLinear output) -> tensor
        self.qs: dict[str, int] = {}  # quantized name (a QuantizeLinear output) -> tensor
        self.pending: dict[str, _Pending] = {}
        self.stem_extra: dict[str, tuple[tuple[int, int, int, int], float]] = {}
        self.g = Graph()
        self.requantized: list[str] = []
        self.notes: list[str] = []
        self.input_info: dict = {}

    # ---- helpers ---------------------------------------------------------------------------
    def fail(self, message: str) -> EdgeError:
        return EdgeError(f"int8 ONNX -> TFLite: {message}")

    def scalar(self, name: str) -> np.ndarray:
        if name not in self.inits:
            raise self.fail(f"{name} is not a constant")
        return self.inits[name]

    def qparams(self, node: onnx.NodeProto) -> tuple[float, int, np.ndarray]:
        scale = self.scalar(node.input[1])
        has_zero = len(node.input) > 2 and node.input[2]
        zero = self.scalar(node.input[2]) if has_zero else np.array(0, np.uint8)
        if scale.size != 1 or zero.size != 1:
            raise self.fail(f"{node.name or node.output[0]}: activations must be per-tensor")
        return float(scale), int(int8_domain(zero, zero.reshape(()))), zero

    def activation(self, shape, scale: float, zero: int, name: str) -> int:
        return self.g.add(Tensor(name, tuple(shape), "int8", (scale,), (zero,)))

    def tensor(self, index: int) -> Tensor:
        return self.g.tensors[index]

    # ---- the walk --------------------------------------------------------------------------
    def run(self) -> Graph:
        graph = self.model.graph
        stem = next((n for n in graph.node if n.op_type == "Conv"), None)
        dq = self.producer.get(stem.input[0]) if stem is not None else None
        if dq is None or dq.op_type != "DequantizeLinear":
            raise self.fail("no quantized convolution found (is this the int8 model?)")
        region = self._ancestors(dq.input[0])
        self.acts[dq.output[0]] = self._input(stem, dq)
        for node in graph.node:
            if id(node) in region or node is dq:
                continue
            self._node(node)
        if len(graph.output) != 1:
            raise self.fail(f"expected one output, found {len(graph.output)}")
        out = graph.output[0].name
        if out in self.pending:  # float logits (post-training int8): quantize them here
            if self.logit_scale is None:
                raise self.fail(f"the output {out} is float; the int8 logits need a scale "
                                "(chosen from verification frames)")
            self.qs[out] = self._emit(self.pending.pop(out), self.logit_scale, 0, out)
            self.notes.append(f"the ONNX model's float logits are int8 here at scale "
                              f"{self.logit_scale:.4g} (from the verification frames)")
        index = self.acts.get(out, self.qs.get(out))
        if index is None:
            raise self.fail(f"the output {out} is not a quantized tensor")
        self.g.outputs = [index]
        return self.g

    def _ancestors(self, name: str) -> set[int]:
        seen: set[int] = set()
        stack = [name]
        while stack:
            node = self.producer.get(stack.pop())
            if node is not None and id(node) not in seen:
                seen.add(id(node))
                stack.extend(node.input)
        return seen

    def _node(self, node: onnx.NodeProto) -> None:
        op, ins, out = node.op_type, node.input, node.output[0]
        if op == "DequantizeLinear":
            if ins[0] in self.inits:
                a = _attrs(node)
                self.consts[out] = QConst(self.inits[ins[0]], self.scalar(ins[1]),
                                           self.inits.get(ins[2], np.zeros(1, np.int8))
                                           if len(ins) > 2 else np.zeros(1, np.int8),
                                           a.get("axis", 1))
            elif ins[0] in self.qs:
                t = self.tensor(self.qs[ins[0]])
                scale, zero, _ = self.qparams(node)
                if not math.isclose(t.scale[0], scale, rel_tol=1e-6) or t.zero_point[0] != zero:
                    raise self.fail(f"{node.name}: dequantizes {ins[0]} with other parameters "
                                    "than it was quantized with")
                self.acts[out] = self.qs[ins[0]]
            else:
                raise self.fail(f"{node.name}: dequantizes {ins[0]}, which is no quantized tensor")
        elif op in ("Conv", "Gemm", "GlobalAveragePool", "ReduceMean"):
            if ins[0] not in self.acts:
                raise self.fail(f"{node.name or op}: input {ins[0]} is not quantized")
            self.pending[out] = _Pending(node, self.acts[ins[0]])
        elif op in ("Clip", "Relu"):
            if ins[0] not in self.pending:
                raise self.fail(f"{node.name or op}: only an activation fused into the layer "
                                "before it is supported")
            self.pending[out] = replace(self.pending[ins[0]], clip=self._clip(node))
        elif op in ("Flatten", "Reshape", "Squeeze"):
            # only the flatten before the classifier: FULLY_CONNECTED flattens by itself
            shape = self.tensor(self.acts[ins[0]]).shape if ins[0] in self.acts else ()
            if math.prod(shape[:-1]) != 1:
                raise self.fail(f"{node.name or op}: only flattening a 1x1 map is supported")
            self.acts[out] = self.acts[ins[0]]
        elif op == "QuantizeLinear":
            self._quantize(node)
        elif op == "Add" and ins[0] in self.pending and ins[1] in self.inits \
                and self.inits[ins[1]].size == 1:
            # a kept model's nudge so onnxruntime rounds pooled ties half up, as TFLite's
            # kernels do by themselves
            self.pending[out] = self.pending[ins[0]]
            self.notes.append(f"{node.name or out}: rounding nudge dropped (TFLite rounds "
                              "half up itself)")
        else:
            raise self.fail(f"unsupported operator {op} ({node.name or out})")

    def _clip(self, node: onnx.NodeProto) -> tuple[float, float]:
        if node.op_type == "Relu":
            return 0.0, math.inf
        a = _attrs(node)
        lo = float(self.scalar(node.input[1])) if len(node.input) > 1 and node.input[1] \
            else a.get("min", -math.inf)
        hi = float(self.scalar(node.input[2])) if len(node.input) > 2 and node.input[2] \
            else a.get("max", math.inf)
        return lo, hi

    def _quantize(self, node: onnx.NodeProto) -> None:
        scale, zero, _ = self.qparams(node)
        src, out = node.input[0], node.output[0]
        name = out.removesuffix("_QuantizeLinear_Output")
        if src in self.pending:
            self.qs[out] = self._emit(self.pending.pop(src), scale, zero, name)
        elif src in self.acts:
            x = self.tensor(self.acts[src])
            if math.isclose(x.scale[0], scale, rel_tol=1e-6) and x.zero_point[0] == zero:
                self.qs[out] = self.acts[src]
            else:
                index = self.activation(x.shape, scale, zero, name)
                self.g.op("QUANTIZE", [self.acts[src]], [index])
                self.qs[out] = index
        else:
            raise self.fail(f"{node.name}: quantizes {src}, which no supported layer produced")

    def _fused(self, clip, scale: float, zero: int, name: str) -> str | None:
        lo_q, hi_q = scale * (-128 - zero), scale * (127 - zero)
        tol = 1e-6 * max(1.0, abs(hi_q))
        within_relu6 = lo_q >= -tol and hi_q <= 6 + tol
        if clip is None or (clip[0] <= lo_q + tol and clip[1] >= hi_q - tol):
            # the int8 range saturates anyway; RELU6 is the same clamp when it lies inside it
            return "relu6" if within_relu6 else None
        if clip == (0.0, 6.0):
            return "relu6"
        if clip[0] == 0.0 and clip[1] == math.inf:
            return "relu"
        raise self.fail(f"{name}: activation Clip{clip} has no TFLite fused form")

    def _emit(self, p: _Pending, scale: float, zero: int, name: str) -> int:
        op = p.node.op_type
        if op == "Conv":
            return self._conv(p, scale, zero, name)
        if op == "Gemm":
            return self._gemm(p, scale, zero, name)
        return self._pool(p, scale, zero, name)

    # ---- layers ----------------------------------------------------------------------------
    def _weights(self, node: onnx.NodeProto) -> QConst:
        if node.input[1] not in self.consts:
            raise self.fail(f"{node.name}: weights are not a quantized constant")
        return self.consts[node.input[1]]

    def _bias(self, node: onnx.NodeProto, n: int) -> np.ndarray:
        if len(node.input) < 3 or not node.input[2]:
            return np.zeros(n)
        name = node.input[2]
        if name in self.consts:
            return self.consts[name].real().reshape(n)
        if name in self.inits:
            return self.inits[name].astype(np.float64).reshape(n)
        raise self.fail(f"{node.name}: bias {name} is not a constant")

    def _bias_q(self, node, bias: np.ndarray, x_scale: float, w_scale: np.ndarray) -> int:
        q = np.round(bias / (np.float64(x_scale) * w_scale.astype(np.float64)))
        q = np.clip(q, -(2**31), 2**31 - 1).astype(np.int32)
        return self.g.const(f"{node.name}/bias", q, x_scale * w_scale.astype(np.float64),
                            [0] * len(q))

    def _conv(self, p: _Pending, scale: float, zero: int, name: str) -> int:
        node, a = p.node, _attrs(p.node)
        x = self.tensor(p.x)
        _, h, w_, c = x.shape
        wc = self._weights(node)
        o, _, kh, kw = wc.q.shape
        group = a.get("group", 1)
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise self.fail(f"{node.name}: dilated convolutions are not supported")
        depthwise = group == c and group > 1 and wc.q.shape[1] == 1
        if group != 1 and not depthwise:
            raise self.fail(f"{node.name}: grouped convolution (group {group}) is not supported")
        stride_h, stride_w = a.get("strides", [1, 1])
        if stride_h != stride_w:
            raise self.fail(f"{node.name}: unequal strides are not supported")
        t, left, b, r = a.get("pads", [0, 0, 0, 0])
        extra, shift = self.stem_extra.get(node.name, ((0, 0, 0, 0), 0.0))
        t, left, b, r = t + extra[0], left + extra[1], b + extra[2], r + extra[3]
        bias = self._bias(node, o)
        if shift:
            bias = bias + shift * wc.real().reshape(o, -1).sum(axis=1)
        wq, ws, changed = int8_per_channel(wc, 0)
        if changed:
            self.requantized.append(f"{node.name} ({changed}/{o} channels)")
        if (t, b) == tf_same(h, kh, stride_h) and (left, r) == tf_same(w_, kw, stride_w):
            padding = "same"
        elif t == b == left == r == 0:
            padding = "valid"
        else:
            pads = self.g.const(f"{node.name}/pads", np.array(
                [[0, 0], [t, b], [left, r], [0, 0]], np.int32))
            padded = self.g.add(replace(x, name=f"{node.name}/padded",
                                        shape=(1, h + t + b, w_ + left + r, c)))
            self.g.op("PAD", [p.x, pads], [padded])
            p = replace(p, x=padded)
            padding, h, w_, t, b, left, r = "valid", h + t + b, w_ + left + r, 0, 0, 0, 0
        oh = (h + t + b - kh) // stride_h + 1
        ow = (w_ + left + r - kw) // stride_w + 1
        if depthwise:
            weights = self.g.const(f"{node.name}/weights", wq[:, 0].transpose(1, 2, 0)[None],
                                   ws, [0] * o, axis=3)
        else:
            weights = self.g.const(f"{node.name}/weights", wq.transpose(0, 2, 3, 1), ws,
                                   [0] * o)
        bias_t = self._bias_q(node, bias, x.scale[0], ws)
        out = self.activation((1, oh, ow, o), scale, zero, name)
        options = {"padding": padding, "stride": stride_h,
                   "activation": self._fused(p.clip, scale, zero, node.name)}
        if depthwise:
            self.g.op("DEPTHWISE_CONV_2D", [p.x, weights, bias_t], [out],
                      depth_multiplier=o // c, **options)
        else:
            self.g.op("CONV_2D", [p.x, weights, bias_t], [out], **options)
        return out

    def _gemm(self, p: _Pending, scale: float, zero: int, name: str) -> int:
        node, a = p.node, _attrs(p.node)
        if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise self.fail(f"{node.name}: only Gemm(x, W, b) with transA=0 is supported")
        wc = self._weights(node)
        axis = 0 if a.get("transB", 0) else 1
        wq, ws, changed = int8_per_channel(wc, axis)
        if changed:
            self.requantized.append(f"{node.name} ({changed}/{wq.shape[axis]} channels)")
        if axis == 1:
            wq = wq.T
        n = wq.shape[0]
        x = self.tensor(p.x)
        if math.prod(x.shape) != wq.shape[1]:
            raise self.fail(f"{node.name}: input has {math.prod(x.shape)} values, weights "
                            f"expect {wq.shape[1]}")
        weights = self.g.const(f"{node.name}/weights", np.ascontiguousarray(wq), ws, [0] * n)
        bias_t = self._bias_q(node, self._bias(node, n), x.scale[0], ws)
        out = self.activation((1, n), scale, zero, name)
        self.g.op("FULLY_CONNECTED", [p.x, weights, bias_t], [out],
                  activation=self._fused(p.clip, scale, zero, node.name))
        return out

    def _pool(self, p: _Pending, scale: float, zero: int, name: str) -> int:
        node = p.node
        x = self.tensor(p.x)
        c = x.shape[-1]
        if node.op_type == "ReduceMean":
            axes = _attrs(node).get("axes") or (
                list(self.scalar(node.input[1])) if len(node.input) > 1 else None)
            if sorted(int(v) for v in axes or []) != [2, 3]:
                raise self.fail(f"{node.name}: only a mean over the spatial axes is supported")
        out = self.activation((1, 1, 1, c), scale, zero, name)
        # MEAN, not AVERAGE_POOL_2D: it can rescale, and XNNPACK delegates it in int8
        axes = self.g.const(f"{node.name}/axes", np.array([1, 2], np.int32))
        self.g.op("MEAN", [p.x, axes], [out], keep_dims=True)
        return out

    # ---- the input -------------------------------------------------------------------------
    def _input(self, stem: onnx.NodeProto, dq: onnx.NodeProto) -> int:
        s, zp8, zero = self.qparams(dq)
        adapted = adapt_input(self.model, dq.input[0], zero.dtype, s, zp8, self.g,
                              self.input_type,
                              tuple(_attrs(stem).get("pads", [0, 0, 0, 0])))
        self.stem_extra[stem.name] = (adapted.pads, adapted.shift)
        self.input_info = adapted.info
        self.notes += adapted.notes
        self.g.inputs = [adapted.graph_input]
        return adapted.tensor


def export_tflite(model: onnx.ModelProto, input_type: str = "int8", description: str = "",
                  metadata: dict | None = None, logit_scale: float | None = None) -> Export:
    """Convert a QDQ int8 ONNX classifier (image -> logits) to a full-integer int8 .tflite.

    ``input_type`` "int8" takes pixels as int8 (pixel - 128); "uint8" takes the camera's bytes
    and adds a QUANTIZE op (and its input tensor to the arena). The output is the int8 logits;
    ``logit_scale`` is their scale when the ONNX model's logits are float (post-training
    int8 ends in a float classifier).
    """
    import json

    if input_type not in INPUT_TYPES:
        raise EdgeError(f"input type must be one of {INPUT_TYPES}, got {input_type!r}")
    if [i.name for i in model.graph.input] != [INPUT_NAME]:
        raise EdgeError(f"int8 ONNX -> TFLite: expected one input named {INPUT_NAME}")
    ex = _Exporter(model, input_type, logit_scale)
    graph = ex.run()
    out = graph.tensors[graph.outputs[0]]
    output = {"name": out.name, "shape": list(out.shape), "dtype": "int8",
              "scale": float(out.scale[0]), "zero_point": int(out.zero_point[0])}
    info = {"input": ex.input_info, "output": output, "requantized_weights": ex.requantized}
    meta = {"edge": json.dumps({**(metadata or {}), **info}, separators=(",", ":")).encode()}
    plan = chain_plan(graph)
    if plan is not None:
        meta["OfflineMemoryAllocation"] = plan
    data = write_tflite(graph, description, meta)
    return Export(data, ex.input_info, output, list(dict.fromkeys(op.kind for op in graph.ops)),
                  ex.requantized, ex.notes)
