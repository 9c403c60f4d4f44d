"""Per-layer helpers of post-training quantization: what a layer reads, the second moments
of its inputs, weight pairs that could saturate, and one int8 layer run as onnxruntime runs
it."""

from __future__ import annotations

import numpy as np

from edge.convert.quant.params import QLayer, QParams
from edge.convert.quant.qdq import dequantized_weights


def patches(x: np.ndarray, k: int, stride: int, pads: tuple[int, ...]) -> np.ndarray:
    """[C, H, W] -> [C, k*k, positions]: what each output of a KxK convolution reads."""
    t, left, b, r = pads
    x = np.pad(x, ((0, 0), (t, b), (left, r)))
    _, h, w = x.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    cols = [x[:, i:i + stride * ho:stride, j:j + stride * wo:stride]
            for i in range(k) for j in range(k)]
    return np.stack(cols, axis=1).reshape(x.shape[0], k * k, -1)


def gram(layer, x: np.ndarray) -> np.ndarray:
    """The second moments of a layer's inputs over its output positions (the Hessian of its
    squared output error in its weights): [C, K*K, K*K] per depthwise channel, else
    [inputs, inputs] in the order of the flattened OIHW (or [out, in]) weights."""
    if layer.kind == "fc":
        v = x.reshape(-1, 1).astype(np.float64)
        return v @ v.T
    p = patches(x.astype(np.float64), layer.k, layer.stride, layer.pads)
    if layer.kind == "dw":
        return p @ np.swapaxes(p, 1, 2)
    p = p.reshape(-1, p.shape[-1])
    return p @ p.T


def pair_bound(w: np.ndarray) -> np.ndarray:
    """Per output channel of a 1x1 convolution or a classifier, the largest |w_k| + |w_k+1|
    over neighbouring inputs of the same sign (zero for other layers): times the largest
    uint8 activation, what one 16-bit pair sum of onnxruntime's x86 kernels must hold."""
    if w.ndim != 2 and not (w.ndim == 4 and w.shape[2:] == (1, 1)):
        return np.zeros(w.shape[0])
    m = w.reshape(w.shape[0], -1)
    k = m.shape[1] - m.shape[1] % 2
    a, b = m[:, 0:k:2], m[:, 1:k:2]
    return np.where(np.sign(a) == np.sign(b), np.abs(a) + np.abs(b), 0).max(axis=1,
                                                                         initial=0.0)


def layer_runner(layer, q: QLayer, in_q: QParams, input_shape: tuple[int, ...]):
    """A function from uint8 inputs [N, C, H, W] to one quantized convolution's float output
    before its activation: onnxruntime running the layer's QDQ graph unfused."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    layer_inits, layer_nodes = dequantized_weights("l", q)
    inits = [numpy_helper.from_array(np.array(in_q.scale, np.float32), "xs"),
             numpy_helper.from_array(np.array(in_q.zero_point, np.uint8), "xz"), *layer_inits]
    nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"]), *layer_nodes,
             helper.make_node("Conv", ["xf", "l/weights", "l/bias"], ["y"],
                              kernel_shape=[layer.k] * 2,
                              strides=[layer.stride] * 2, pads=list(layer.pads),
                              group=layer.cin if layer.kind == "dw" else 1)]
    graph = helper.make_graph(
        nodes, "layer", [helper.make_tensor_value_info("x", TensorProto.UINT8,
                                                       ["n", *input_shape[1:]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]
