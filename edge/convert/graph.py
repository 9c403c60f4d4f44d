"""Build the MobileNetV1 ONNX graph directly with onnx.helper (no torch needed).

Graph: image uint8 NHWC -> Cast -> Transpose(NCHW) -> Pad(with the mean) -> conv 3x3/2 + ReLU6
-> 13 x (depthwise 3x3 + ReLU6, pointwise 1x1 + ReLU6) -> GlobalAveragePool -> Flatten -> Gemm
-> logits. Batch norm is already folded into the weights; padding comes from the weight source.

The normalisation (x - mean) / std is folded into the stem convolution: weights / std, bias
minus their sum times mean / std. That is exact because the stem's padding is done first, in
pixel space, with the mean (which normalises to 0, as the original zero padding did). A
broadcast Sub and Mul over the full-size input cost more than the stem itself.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge import __version__
from edge.convert.spec import MobileNetSpec
from edge.convert.weights import Weights
from edge.model import INPUT_NAME, META_KEY, OUTPUT_NAME, ModelInfo

OPSET = 17
IR_VERSION = 8  # readable by onnxruntime >= 1.10, which older Pi OS images still carry


def build_model(spec: MobileNetSpec, weights: Weights, info: ModelInfo,
                fold_normalisation: bool = True) -> onnx.ModelProto:
    """Return a checked fp32 ONNX model of ``spec`` with ``weights`` and ``info`` as metadata."""
    weights.check(spec, weights.source.get("file") or "weights")
    r = spec.resolution
    inits: list[TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    norm = weights.normalisation
    mean = np.array(norm["mean"], np.float64)
    std = np.array(norm["std"], np.float64)
    nodes += [
        helper.make_node("Cast", [INPUT_NAME], ["image_f32"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["image_f32"], ["image_nchw"], perm=[0, 3, 1, 2]),
    ]
    convs = list(weights.convs)
    stem = spec.layers[0]
    stem_pads = list(stem.pads)
    # a Pad can fill only one value, so folding needs the same mean for every channel
    if fold_normalisation and np.all(mean == mean[0]):
        w, b = convs[0]
        w64 = w.astype(np.float64) / std.reshape(1, 3, 1, 1)
        b64 = b.astype(np.float64) - (w64 * mean.reshape(1, 3, 1, 1)).sum(axis=(1, 2, 3))
        convs[0] = (w64.astype(np.float32), b64.astype(np.float32))
        t, left, bottom, right = stem.pads
        nodes.append(helper.make_node(
            "Pad", ["image_nchw", const("stem_pads", np.array([0, 0, t, left, 0, 0, bottom, right],
                                                              np.int64)),
                    const("pad_value", np.array(mean[0], np.float32))], ["normalised"],
            mode="constant"))
        stem_pads = [0, 0, 0, 0]
    else:
        nodes += [
            helper.make_node("Sub", ["image_nchw", const("norm_mean", mean.reshape(1, 3, 1, 1)
                                                         .astype(np.float32))], ["centred"]),
            helper.make_node("Mul", ["centred", const("norm_inv_std", (1.0 / std).reshape(
                1, 3, 1, 1).astype(np.float32))], ["normalised"]),
        ]
    relu_lo = const("relu6_min", np.array(0.0, np.float32))
    relu_hi = const("relu6_max", np.array(6.0, np.float32))

    x = "normalised"
    conv_layers = spec.layers[:-1]
    for index, (layer, (w, b)) in enumerate(zip(conv_layers, convs, strict=True)):
        name = layer.name
        nodes.append(helper.make_node(
            "Conv", [x, const(f"{name}/weights", w), const(f"{name}/bias", b)], [f"{name}/conv"],
            name=name, kernel_shape=[layer.k, layer.k], strides=[layer.stride] * 2,
            pads=stem_pads if index == 0 else list(layer.pads),
            group=layer.cin if layer.kind == "dw" else 1,
        ))
        nodes.append(helper.make_node("Clip", [f"{name}/conv", relu_lo, relu_hi],
                                      [f"{name}/relu6"], name=f"{name}/Relu6"))
        x = f"{name}/relu6"
    fc_w, fc_b = weights.fc
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["pooled"], name="AvgPool"),
        helper.make_node("Flatten", ["pooled"], ["features"], axis=1),
        helper.make_node("Gemm", ["features", const("Logits/weights", fc_w),
                                  const("Logits/bias", fc_b)], [OUTPUT_NAME],
                         name="Logits", transB=1),
    ]
    return finish_model(nodes, inits, f"mobilenet_v1_{spec.alpha:g}_{r}", spec, info,
                        f"MobileNetV1 {spec.alpha:g}-{r}, {spec.classes} classes, weights: "
                        f"{weights.source.get('note', weights.source.get('kind'))}")


def finish_model(nodes: list[onnx.NodeProto], inits: list[TensorProto], name: str,
                 spec: MobileNetSpec, info: ModelInfo, doc: str) -> onnx.ModelProto:
    """The edge contract around a graph's nodes (uint8 ``image`` in, float ``logits`` out),
    opset and IR version, metadata, and onnx's full check."""
    r = spec.resolution
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, [1, r, r, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, spec.classes])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="edge", producer_version=__version__)
    model.ir_version = IR_VERSION
    model.doc_string = doc
    set_metadata(model, info)
    onnx.checker.check_model(model, full_check=True)
    return model


def set_metadata(model: onnx.ModelProto, info: ModelInfo) -> None:
    """Replace the ``edge`` metadata entry of ``model`` with ``info``, keeping the others."""
    props = {p.key: p.value for p in model.metadata_props}
    helper.set_model_props(model, {**props, META_KEY: info.to_json()})
