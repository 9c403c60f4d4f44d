"""Frame pixels -> model input tensor. The converter calibrates with these same functions.

The model takes uint8 NHWC RGB at its own resolution and normalises inside the graph, so all
that happens here is crop, resize and channel order.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.frame import Frame

CROP_MODES = ("center", "full")
DEFAULT_CROP = "center"


def center_square(image: np.ndarray) -> np.ndarray:
    """The central square of an HxWxC image (a view, no copy)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]


def shrink(image: np.ndarray, size: int) -> np.ndarray:
    """Antialiased downscale to size x size: area averaging by the whole factor (OpenCV's fast
    path), then bilinear for the rest (less than 2x, where bilinear does not alias). Close to
    Pillow's antialiased bilinear and several times faster than one non-integer INTER_AREA."""
    h, w = image.shape[:2]
    fy, fx = h // size, w // size
    if fx >= 2 and fy >= 2:
        image = cv2.resize(image, (w // fx, h // fy), interpolation=cv2.INTER_AREA)
    if image.shape[:2] == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)


def to_input(image: np.ndarray, order: str, size: int, crop: str = DEFAULT_CROP) -> np.ndarray:
    """Crop (``center`` square or ``full`` frame), resize to ``size``, return [1,size,size,3]
    uint8 RGB."""
    if image.shape == (size, size, 3) and order == "RGB" and image.dtype == np.uint8 and \
            image.flags.c_contiguous and crop in CROP_MODES:
        return image[np.newaxis]  # already the model's input (a lores stream): no copy
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")
    region = center_square(image) if crop == "center" else image
    h, w = region.shape[:2]
    if (h, w) != (size, size):
        region = shrink(region, size) if h >= size and w >= size else \
            cv2.resize(region, (size, size), interpolation=cv2.INTER_LINEAR)
    if order == "BGR":
        region = cv2.cvtColor(region, cv2.COLOR_BGR2RGB)
    elif order != "RGB":
        raise ValueError(f"unknown channel order {order!r}")
    return np.ascontiguousarray(region)[np.newaxis]


def frame_to_input(frame: Frame, size: int, crop: str = DEFAULT_CROP) -> np.ndarray:
    """Model input for a frame, from its ISP-scaled ``lores`` image when it has one."""
    if frame.lores is not None:
        return to_input(frame.lores, "RGB", size, crop)
    return to_input(frame.image, frame.order, size, crop)
