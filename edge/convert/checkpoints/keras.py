"""Import keras.applications MobileNet weights from HDF5 and fold their batch norms.

Three layouts exist in the wild, all handled here:
- the published ``mobilenet_<a>_<r>_tf.h5`` downloads: layer groups at the root, datasets named
  ``conv1/kernel:0`` (Keras 2);
- ``model.save('x.h5')``: the same groups under ``model_weights/``, plus the model config;
- Keras 3 ``model.save_weights('x.weights.h5')``: ``layers/<class name>_<n>/vars/<i>`` in layer
  creation order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from edge.convert.spec import BLOCKS
from edge.convert.weights import Weights, fold_batch_norm
from edge.errors import EdgeError, install_hint

BN_EPS = 1e-3  # keras.layers.BatchNormalization's default, used by keras.applications.MobileNet
_BN_VARS = ("gamma", "beta", "moving_mean", "moving_variance")


def _layer_names() -> list[tuple[str, str]]:
    """(conv layer, its batch-norm layer) in network order."""
    names = [("conv1", "conv1_bn")]
    for i in range(1, len(BLOCKS) + 1):
        names += [(f"conv_dw_{i}", f"conv_dw_{i}_bn"), (f"conv_pw_{i}", f"conv_pw_{i}_bn")]
    return names


def _named_group_vars(group) -> dict[str, np.ndarray]:
    """Datasets below an HDF5 group keyed by their bare name (``kernel:0`` -> ``kernel``)."""
    found: dict[str, np.ndarray] = {}

    def visit(name, obj):
        if hasattr(obj, "shape"):
            key = name.rsplit("/", 1)[-1].split(":")[0]
            found["kernel" if key == "depthwise_kernel" else key] = np.asarray(obj)

    group.visititems(visit)
    return found


def _from_named(root, origin: str) -> list[dict[str, np.ndarray]]:
    layers = []
    for conv, bn in [*_layer_names(), ("conv_preds", None)]:
        if conv not in root:
            if conv == "conv_preds":
                raise EdgeError(f"{origin}: no classifier layer 'conv_preds' (saved with "
                                "include_top=False?); a classifier is required")
            raise EdgeError(f"{origin}: layer '{conv}' missing: not a keras.applications "
                            "MobileNet weight file")
        entry = _named_group_vars(root[conv])
        if bn is not None:
            if bn not in root:
                raise EdgeError(f"{origin}: batch-norm layer '{bn}' missing")
            entry.update({f"bn_{k}": v for k, v in _named_group_vars(root[bn]).items()})
        layers.append(entry)
    return layers


def _suffix(name: str) -> int:
    match = re.search(r"_(\d+)$", name)
    return int(match.group(1)) if match else 0


def _from_keras3(root, origin: str) -> list[dict[str, np.ndarray]]:
    groups = root["layers"]
    by_class: dict[str, list[str]] = {}
    for name in groups:
        base = re.sub(r"_\d+$", "", name)
        by_class.setdefault(base, []).append(name)
    for names in by_class.values():
        names.sort(key=_suffix)

    def take(cls: str) -> list[np.ndarray]:
        if not by_class.get(cls):
            raise EdgeError(f"{origin}: fewer '{cls}' layers than a MobileNet has")
        group = groups[by_class[cls].pop(0)]
        if "vars" not in group:
            raise EdgeError(f"{origin}: layer group without variables")
        return [np.asarray(group["vars"][str(i)]) for i in range(len(group["vars"]))]

    layers = []
    for conv, _ in _layer_names():
        conv_vars = take("depthwise_conv2d" if conv.startswith("conv_dw") else "conv2d")
        bn_vars = take("batch_normalization")
        entry = {"kernel": conv_vars[0]}
        if len(conv_vars) > 1:
            entry["bias"] = conv_vars[1]
        entry.update({f"bn_{k}": v for k, v in zip(_BN_VARS, bn_vars, strict=True)})
        layers.append(entry)
    preds = take("conv2d")
    layers.append({"kernel": preds[0], "bias": preds[1]})
    return layers


def _resolution_from_config(h5) -> int | None:
    raw = h5.attrs.get("model_config")
    if raw is None:
        return None
    try:
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "InputLayer":
                cfg = layer["config"]
                shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
                return int(shape[1]) if shape and shape[1] else None
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return None


def load_keras_h5(path: Path) -> Weights:
    """Read a keras.applications MobileNet HDF5 weight or model file."""
    try:
        import h5py
    except ImportError as exc:
        raise EdgeError("reading Keras .h5 files needs h5py: " + install_hint("keras")) from exc
    origin = str(path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise EdgeError(f"{origin}: not a readable HDF5 file ({exc})") from exc
    with h5:
        try:
            if "layers" in h5 and "conv1" not in h5:
                layers = _from_keras3(h5, origin)
            else:
                layers = _from_named(h5.get("model_weights", h5), origin)
        except KeyError as exc:
            raise EdgeError(f"{origin}: unexpected HDF5 layout ({exc})") from exc
        resolution = _resolution_from_config(h5)

    convs = []
    for index, entry in enumerate(layers[:-1]):
        kernel = entry["kernel"]
        if kernel.ndim != 4:
            raise EdgeError(f"{origin}: convolution kernel of rank {kernel.ndim}, expected 4")
        depthwise = index % 2 == 1  # stem, then (depthwise, pointwise) pairs
        # HWC1 -> C1HW for depthwise kernels; HWIO -> OIHW for the others
        w = kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(3, 2, 0, 1)
        try:
            bn = [entry[f"bn_{k}"] for k in _BN_VARS]
        except KeyError as exc:
            raise EdgeError(f"{origin}: batch norm without {exc.args[0][3:]}") from exc
        convs.append(fold_batch_norm(w, *bn, eps=BN_EPS, bias=entry.get("bias")))
    preds = layers[-1]
    fc_w = preds["kernel"].reshape(-1, preds["kernel"].shape[-1]).T
    return Weights(
        convs=convs,
        fc=(np.ascontiguousarray(fc_w, dtype=np.float32), preds["bias"].astype(np.float32)),
        padding="keras",
        background=False,
        resolution=resolution,
        source={"kind": "keras", "trained": True,
                "note": f"keras.applications MobileNet, batch norm folded (eps {BN_EPS})"},
    )
