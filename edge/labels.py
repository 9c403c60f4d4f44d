"""Class names: the standard ImageNet names ship inside the package (``edge/data``)."""

from __future__ import annotations

import functools
from importlib import resources

IMAGENET_FILE = "imagenet_labels.txt"  # 1001 lines: "background", then the 1000 classes


@functools.lru_cache(maxsize=1)
def _imagenet_1001() -> tuple[str, ...]:
    text = resources.files("edge.data").joinpath(IMAGENET_FILE).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def imagenet_labels(classes: int) -> list[str] | None:
    """ImageNet's names for a 1001-class head (index 0 = background) or a 1000-class head;
    None for any other class count."""
    names = _imagenet_1001()
    if classes == len(names):
        return list(names)
    if classes == len(names) - 1:
        return list(names[1:])
    return None
