"""The int8 ONNX model of a :class:`~edge.convert.quant.params.Quantization`, as QDQ: a
quantised TFLite file's own quantization (kept) or one made by post-training quantization.

For a kept quantization no calibration: every number comes from the file. The graph is
standard QDQ, the form onnxruntime fuses into integer kernels and the microcontroller
exporter walks:

    image uint8 NHWC -> Transpose -> DequantizeLinear(input scale, zero point)
    -> 27 x [DequantizeLinear(weights), DequantizeLinear(int32 bias) -> Conv -> Clip(0, 6)
             -> QuantizeLinear(the file's activation scale, zero point) -> DequantizeLinear]
    -> GlobalAveragePool -> Q/DQ -> Flatten -> Q/DQ -> Gemm -> Q/DQ(logit scale) -> logits

Raw pixels are the input of TF's uint8 files (scale 1/128, zero point 128), so they go
straight in, and convolution padding is the input zero point, as in TFLite. The output is
float logits, each exactly a quantised logit of the file, dequantised.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge.convert.graph import finish_model
from edge.convert.quant.params import QLayer, QParams, Quantization
from edge.convert.spec import MobileNetSpec
from edge.errors import EdgeError
from edge.model import INPUT_NAME, OUTPUT_NAME, ModelInfo


def dequantized_weights(name: str, layer: QLayer) -> tuple[list[TensorProto],
                                                            list[onnx.NodeProto]]:
    """A layer's integer weights and int32 bias as initializers, and the DequantizeLinear
    nodes that give ``{name}/weights`` and ``{name}/bias`` (per channel where the layer is)."""
    per_channel = {"axis": 0} if layer.per_channel else {}
    shape = (-1,) if layer.per_channel else ()
    inits = [numpy_helper.from_array(np.asarray(v), f"{name}/{suffix}") for suffix, v in (
        ("weights_quantized", layer.weight),
        ("weights_scale", layer.weight_scale.reshape(shape)),
        ("weights_zero_point", layer.weight_zero.reshape(shape)),
        ("bias_quantized", layer.bias), ("bias_scale", layer.bias_scale.reshape(shape)),
        ("bias_zero_point", np.zeros(layer.bias_scale.shape, np.int32).reshape(shape)))]
    nodes = [helper.make_node("DequantizeLinear", [f"{name}/{part}_quantized",
                                                   f"{name}/{part}_scale",
                                                   f"{name}/{part}_zero_point"],
                              [f"{name}/{part}"], name=f"{name}/{part}/Dequantize",
                              **per_channel) for part in ("weights", "bias")]
    return inits, nodes


def build_qdq(spec: MobileNetSpec, quant: Quantization, normalisation: dict,
               info: ModelInfo, kept: bool = True) -> onnx.ModelProto:
    """Return the checked int8 QDQ model that computes what ``quant`` says.

    ``normalisation`` is only used when the file takes float input (then the pixels are
    normalised and quantised as the file's QUANTIZE does). ``kept``: a TFLite file's own
    quantization, so tied averages round half up as TFLite's do (see :func:`differences`);
    False for post-training quantization. A classifier whose output has no quantization
    gives float logits straight from the Gemm.
    """
    if len(quant.convs) != len(spec.layers) - 1:
        raise EdgeError(f"expected {len(spec.layers) - 1} convolutions, got {len(quant.convs)}")
    inits: list[TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, array) -> str:
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def qdq(x: str, q: QParams, name: str, out: str | None = None) -> str:
        """Quantize ``x`` to uint8 with ``q`` and dequantize it again: the requantization
        point where the file stores an activation."""
        s = const(f"{name}/scale", np.array(q.scale, np.float32))
        z = const(f"{name}/zero_point", np.array(q.zero_point, np.uint8))
        out = out or f"{name}/dq"
        nodes.append(helper.make_node("QuantizeLinear", [x, s, z], [f"{name}/q"],
                                      name=f"{name}/Quantize"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}/q", s, z], [out],
                                      name=f"{name}/Dequantize"))
        return out

    def weights(name: str, layer: QLayer) -> tuple[str, str]:
        layer_inits, layer_nodes = dequantized_weights(name, layer)
        inits.extend(layer_inits)
        nodes.extend(layer_nodes)
        return f"{name}/weights", f"{name}/bias"

    def activation(x: str, layer: QLayer, name: str) -> str:
        if layer.activation == "relu6":
            if not any(i.name == "relu6_min" for i in inits):
                const("relu6_min", np.array(0.0, np.float32))
                const("relu6_max", np.array(6.0, np.float32))
            nodes.append(helper.make_node("Clip", [x, "relu6_min", "relu6_max"],
                                          [f"{name}/relu6"], name=f"{name}/Relu6"))
            return f"{name}/relu6"
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [x], [f"{name}/relu"], name=f"{name}/Relu"))
            return f"{name}/relu"
        return x

    r = spec.resolution
    nodes.append(helper.make_node("Transpose", [INPUT_NAME], ["pixels/nchw"],
                                  name="pixels/Transpose", perm=[0, 3, 1, 2]))
    if quant.pixels_direct:
        s = const("input/scale", np.array(quant.input.scale, np.float32))
        z = const("input/zero_point", np.array(quant.input.zero_point, np.uint8))
        nodes.append(helper.make_node("DequantizeLinear", ["pixels/nchw", s, z], ["input/dq"],
                                      name="input/Dequantize"))
        x = "input/dq"
    else:  # float input: normalise as the float model does, then quantise as the file does
        mean = np.array(normalisation["mean"], np.float32).reshape(1, 3, 1, 1)
        std = np.array(normalisation["std"], np.float32).reshape(1, 3, 1, 1)
        nodes += [
            helper.make_node("Cast", ["pixels/nchw"], ["pixels/float"], to=TensorProto.FLOAT),
            helper.make_node("Sub", ["pixels/float", const("norm_mean", mean)], ["centred"]),
            helper.make_node("Mul", ["centred", const("norm_inv_std", 1.0 / std)],
                             ["normalised"]),
        ]
        x = qdq("normalised", quant.input, "input")

    for spec_layer, layer in zip(spec.layers[:-1], quant.convs, strict=True):
        name = spec_layer.name
        want = (spec_layer.cout, 1 if spec_layer.kind == "dw" else spec_layer.cin,
                spec_layer.k, spec_layer.k)
        if layer.weight.shape != want:
            raise EdgeError(f"layer {name}: quantised weights {layer.weight.shape}, "
                            f"expected {want}")
        w, b = weights(name, layer)
        nodes.append(helper.make_node(
            "Conv", [x, w, b], [f"{name}/conv"], name=name,
            kernel_shape=[spec_layer.k] * 2, strides=[spec_layer.stride] * 2,
            pads=list(spec_layer.pads), group=spec_layer.cin if spec_layer.kind == "dw" else 1))
        x = qdq(activation(f"{name}/conv", layer, name), layer.output, f"{name}/out")

    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="AvgPool"))
    pooled = "pooled"
    last = spec.layers[-2]
    count = last.size_out * last.size_out
    if kept and count % 2 == 0:
        # TFLite and XNNPACK round a tied average half up, onnxruntime to even. Averages of
        # n values sit on multiples of 1/n of a step, so 1/(4n) of a step moves ties up and
        # nothing else across a rounding boundary.
        nudge = const("AvgPool/half_up", np.array(quant.pool.scale / (4 * count), np.float32))
        nodes.append(helper.make_node("Add", ["pooled", nudge], ["pooled/half_up"],
                                      name="AvgPool/RoundHalfUp"))
        pooled = "pooled/half_up"
    x = qdq(pooled, quant.pool, "AvgPool/out")
    nodes.append(helper.make_node("Flatten", [x], ["features"], name="Flatten", axis=1))
    x = qdq("features", quant.pool, "Flatten/out")
    fc = quant.fc
    if fc.weight.shape[0] != spec.classes or fc.weight.shape[1:] not in ((spec.layers[-1].cin,),
                                                                      (spec.layers[-1].cin, 1, 1)):
        raise EdgeError(f"classifier: quantised weights {fc.weight.shape}, expected "
                        f"({spec.classes}, {spec.layers[-1].cin})")
    fc = QLayer(fc.weight.reshape(spec.classes, -1), fc.weight_scale, fc.weight_zero, fc.bias,
                fc.bias_scale, fc.output, fc.activation)
    w, b = weights("Logits", fc)
    if fc.output is None:
        nodes.append(helper.make_node("Gemm", [x, w, b], [OUTPUT_NAME], name="Logits",
                                      transB=1))
    else:
        nodes.append(helper.make_node("Gemm", [x, w, b], ["Logits/gemm"], name="Logits",
                                      transB=1))
        qdq(activation("Logits/gemm", fc, "Logits"), fc.output, "Logits/out", OUTPUT_NAME)

    return finish_model(
        nodes, inits, f"mobilenet_v1_{spec.alpha:g}_{r}_int8{'_kept' if kept else ''}", spec,
        info, f"MobileNetV1 {spec.alpha:g}-{r}, {spec.classes} classes, int8 " + (
            "with the quantization the TFLite file was trained with (kept, not recalibrated)"
            if kept else "post-training quantization"))


def differences(quant: Quantization, spec: MobileNetSpec) -> list[str]:
    """Where the kept model's graph differs from the file's, and why the numbers do not."""
    notes = ["no softmax in the graph: the output is the file's quantised logits, "
             "dequantised; probabilities come from a float softmax (the file's uint8 softmax "
             "has steps of 1/256)"]
    last = spec.layers[-2]
    if (last.size_out * last.size_out) % 2 == 0:
        notes.append("the average pool adds 1/(4n) of a step before requantizing, so ties "
                     "round half up as in TFLite (onnxruntime rounds them to even)")
    if not quant.pixels_direct:
        notes.append("float input: pixels are normalised in float and quantised as the file's "
                     "QUANTIZE does")
    if any(layer.weight.dtype.name == "int8" for layer in [*quant.convs, quant.fc]):
        notes.append("int8 weights: onnxruntime's u8s8 kernels on x86 without VNNI sum "
                     "pairs in 16 bits and can saturate, so results may differ by a few steps")
    return notes
