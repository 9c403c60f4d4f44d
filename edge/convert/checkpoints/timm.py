"""Import timm ``mobilenetv1_*`` state dicts (safetensors; .pth when torch is installed).

timm's layout: ``conv_stem`` + ``bn1``, then ``blocks.<stage>.<block>.{conv_dw,bn1,conv_pw,bn2}``,
then a linear ``classifier``. PyTorch pads symmetrically and timm's batch norms use eps 1e-5.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edge.convert.weights import Weights, fold_batch_norm
from edge.errors import EdgeError

BN_EPS = 1e-5
_BLOCK = re.compile(r"^blocks\.(\d+)\.(\d+)\.(conv_dw|conv_pw|bn1|bn2)\.(.+)$")


def _read_state_dict(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise EdgeError(f"{path}: not a readable safetensors file ({exc})") from exc
    try:
        import torch
    except ImportError as exc:
        raise EdgeError(f"{path}: .pth/.pt/.bin state dicts need torch to read; convert to "
                        ".safetensors or install torch") from exc
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EdgeError(f"{path}: not a readable PyTorch state dict ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return {k: v.float().numpy() for k, v in state.items() if hasattr(v, "numpy")}


def _strip_prefix(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    for prefix in ("module.", "model."):
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_state_dict(path: Path) -> Weights:
    """Read a timm MobileNetV1 state dict and fold its batch norms."""
    origin = str(path)
    state = _strip_prefix(_read_state_dict(path))

    def get(key: str) -> np.ndarray:
        if key not in state:
            raise EdgeError(f"{origin}: key '{key}' missing: not a timm mobilenetv1 state dict")
        return np.asarray(state[key], dtype=np.float32)

    def bn(prefix: str) -> list[np.ndarray]:
        return [get(f"{prefix}.{k}") for k in ("weight", "bias", "running_mean", "running_var")]

    convs = [fold_batch_norm(get("conv_stem.weight"), *bn("bn1"), eps=BN_EPS)]
    blocks = sorted({(int(m[1]), int(m[2])) for k in state if (m := _BLOCK.match(k))})
    for stage, block in blocks:
        p = f"blocks.{stage}.{block}"
        convs.append(fold_batch_norm(get(f"{p}.conv_dw.weight"), *bn(f"{p}.bn1"), eps=BN_EPS))
        convs.append(fold_batch_norm(get(f"{p}.conv_pw.weight"), *bn(f"{p}.bn2"), eps=BN_EPS))
    if len(convs) != 27:
        raise EdgeError(f"{origin}: found {len(blocks)} depthwise-separable blocks, "
                        "MobileNetV1 has 13")
    return Weights(
        convs=convs,
        fc=(get("classifier.weight"), get("classifier.bias")),
        padding="torch",
        background=False,
        source={"kind": "torch", "trained": True,
                "note": f"timm/PyTorch state dict, batch norm folded (eps {BN_EPS})"},
    )
