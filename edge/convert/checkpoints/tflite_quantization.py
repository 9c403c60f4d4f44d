"""Read the quantization a quantised TFLite MobileNetV1 was trained (or calibrated) with.

TensorFlow's ``_quant`` files are quantization-aware trained: their uint8 weights with one
scale and zero point per tensor, int32 biases, and the activation ranges learned in training
(ReLU6 outputs at 6/255, zero point 0) are the model. LiteRT's own int8 files carry int8
weights per output channel and int8 activations. :class:`Quantization` holds all of it in ONNX
layout, so :mod:`edge.convert.quant.qdq` can build an int8 ONNX model that computes what the
file computes, with no calibration.

int8 activations are stored shifted to uint8 (q + 128, zero point + 128): the same real
values and the same clamping, in the form onnxruntime's x86 and ARM kernels run fastest.
"""

from __future__ import annotations

import numpy as np

from edge.convert.quant.params import QLayer, QParams, Quantization
from edge.convert.tflite.read import RawTensor, raw_tensor
from edge.errors import EdgeError

ACTIVATIONS = {0: "none", 1: "relu", 3: "relu6"}


def _activation_qparams(tensor: RawTensor, origin: str) -> QParams:
    if tensor.scale is None or tensor.scale.size != 1:
        raise EdgeError(f"{origin}: activation {tensor.name} is not quantised per tensor")
    if tensor.dtype not in (np.uint8, np.int8):
        raise EdgeError(f"{origin}: activation {tensor.name} is {tensor.dtype.__name__}; "
                        "only uint8 and int8 activations are supported")
    shift = 128 if tensor.dtype == np.int8 else 0
    return QParams(float(np.float32(tensor.scale[0])), int(tensor.zero_point[0]) + shift)


def _fused_activation(op, origin: str, name: str) -> str:
    table = op.BuiltinOptions()
    if table is None:
        return "none"
    from tflite.Conv2DOptions import Conv2DOptions
    from tflite.DepthwiseConv2DOptions import DepthwiseConv2DOptions
    from tflite.FullyConnectedOptions import FullyConnectedOptions

    kind = {1: Conv2DOptions, 2: DepthwiseConv2DOptions, 8: FullyConnectedOptions}.get(
        op.BuiltinOptionsType())
    if kind is None:
        return "none"
    options = kind()
    options.Init(table.Bytes, table.Pos)
    code = options.FusedActivationFunction()
    if code not in ACTIVATIONS:
        raise EdgeError(f"{origin}: layer {name} has fused activation {code}; only none, "
                        "ReLU and ReLU6 are supported")
    return ACTIVATIONS[code]


def _layer(model, graph, op, code: int, input_q: QParams, origin: str) -> QLayer:
    import tflite

    w = raw_tensor(model, graph, op.Inputs(1), origin)
    b = raw_tensor(model, graph, op.Inputs(2), origin)
    out = _activation_qparams(raw_tensor(model, graph, op.Outputs(0), origin, data=False),
                              origin)
    if w.scale is None or w.dtype not in (np.uint8, np.int8):
        raise EdgeError(f"{origin}: layer {w.name} has {w.dtype.__name__} weights in a "
                        "quantised model; only uint8 and int8 are supported")
    if b.dtype != np.int32:
        raise EdgeError(f"{origin}: bias {b.name} is {b.dtype.__name__}, expected int32")
    values = w.values
    depthwise = code == tflite.BuiltinOperator.DEPTHWISE_CONV_2D
    if depthwise:  # 1HWC -> C1HW
        values = values.transpose(3, 0, 1, 2)
    elif values.ndim == 4:  # OHWI -> OIHW
        values = values.transpose(0, 3, 1, 2)
    cout = values.shape[0]
    per_channel = w.scale.size > 1
    if per_channel and (w.scale.size != cout or w.axis != (3 if depthwise else 0)):
        raise EdgeError(f"{origin}: weights {w.name} are quantised along dimension {w.axis}, "
                        "not per output channel")
    zero = np.broadcast_to(w.zero_point, w.scale.shape).astype(w.dtype)
    bias_scale = (b.scale if b.scale.size == cout else
                  np.broadcast_to(b.scale, w.scale.shape)).astype(np.float32)
    expected = input_q.scale * w.scale
    if not np.allclose(bias_scale, expected, rtol=1e-3):
        raise EdgeError(f"{origin}: bias {b.name} has scale {bias_scale[:3]}, not input x "
                        f"weight scale {expected[:3]}")
    if b.zero_point.any():
        raise EdgeError(f"{origin}: bias {b.name} has a non-zero zero point")
    return QLayer(np.ascontiguousarray(values), w.scale.astype(np.float32), zero,
                  b.values.astype(np.int32), bias_scale, out,
                  _fused_activation(op, origin, w.name))


def read_quantization(model, graph, ops, layer_ops, origin: str) -> Quantization:
    """The quantization of a MobileNetV1 TFLite file whose layers are ``layer_ops`` (27
    convolutions and the classifier, in order), checked to form one chain."""
    import tflite

    codes = tflite.BuiltinOperator
    producer = {op.Outputs(0): (code, op) for code, op in ops}
    first = layer_ops[0][1]
    x = raw_tensor(model, graph, first.Inputs(0), origin, data=False)
    pixels_direct = first.Inputs(0) == graph.Inputs(0)
    if not pixels_direct:
        code, op = producer.get(first.Inputs(0), (None, None))
        if code != codes.QUANTIZE or op.Inputs(0) != graph.Inputs(0):
            raise EdgeError(f"{origin}: the first convolution does not read the model's input")
    input_q = _activation_qparams(x, origin)
    current = first.Inputs(0)
    q = input_q
    layers: list[QLayer] = []
    pool = None
    for code, op in layer_ops:
        source = op.Inputs(0)
        if source != current:
            pool_code, pool_op = producer.get(source, (None, None))
            if pool_code == codes.RESHAPE:  # pool -> reshape -> fully connected
                source = pool_op.Inputs(0)
                pool_code, pool_op = producer.get(source, (None, None))
            if pool is not None or pool_code != codes.AVERAGE_POOL_2D or \
                    pool_op.Inputs(0) != current:
                raise EdgeError(f"{origin}: layers do not form MobileNetV1's chain "
                                "(convolutions, average pool, classifier)")
            pool_in = _activation_qparams(raw_tensor(model, graph, pool_op.Inputs(0), origin,
                                                     data=False), origin)
            pool = _activation_qparams(raw_tensor(model, graph, pool_op.Outputs(0), origin,
                                                  data=False), origin)
            pool_x = raw_tensor(model, graph, pool_op.Inputs(0), origin, data=False)
            if pool_x.shape[1:3] != _pool_filter(pool_op):
                raise EdgeError(f"{origin}: the average pool does not cover the whole map")
            if pool_in != q:
                raise EdgeError(f"{origin}: average pool input quantization mismatch")
            q = pool
        layer = _layer(model, graph, op, code, q, origin)
        layers.append(layer)
        q = layer.output
        current = op.Outputs(0)
    if pool is None:
        raise EdgeError(f"{origin}: no average pool before the classifier")
    final = producer.get(graph.Outputs(0), (None, None))[0]
    return Quantization(input_q, pixels_direct, layers[:-1], pool, layers[-1], origin,
                        final == codes.SOFTMAX)


def _pool_filter(op) -> tuple[int, int]:
    from tflite.Pool2DOptions import Pool2DOptions

    table = op.BuiltinOptions()
    options = Pool2DOptions()
    options.Init(table.Bytes, table.Pos)
    return (options.FilterHeight(), options.FilterWidth())
