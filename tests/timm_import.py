"""Import timm where torchvision cannot load.

timm imports torchvision at start-up for data transforms and a frozen batch-norm class that
MobileNetV1 never uses. PyPI has no CPU torchvision build matching the CPU torch this project
tests with (its CUDA build fails with "operator torchvision::nms does not exist"), so when the
real one is unusable these tests register an inert stand-in *for the import only*; the network
itself is timm's own code.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

_MODULES = ("torchvision", "torchvision.ops", "torchvision.ops.misc", "torchvision.models",
            "torchvision.models.feature_extraction", "torchvision.transforms",
            "torchvision.transforms.functional", "torchvision.datasets", "torchvision.utils")


class _Names(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return f"{cls.__name__}.{name}"


class _Module(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Names(name, (), {})


def import_timm():
    torch = pytest.importorskip("torch", reason="parity extra: pip install torch==2.13.0")
    if importlib.util.find_spec("timm") is None:
        pytest.skip("parity extra: pip install --no-deps timm")
    try:
        import torchvision  # noqa: F401
    except Exception:
        for name in _MODULES:
            sys.modules.pop(name, None)
            sys.modules[name] = _Module(name)
        for name in _MODULES[1:]:
            parent, _, child = name.rpartition(".")
            setattr(sys.modules[parent], child, sys.modules[name])
        sys.modules["torchvision.ops.misc"].FrozenBatchNorm2d = torch.nn.BatchNorm2d
    import timm

    return torch, timm
