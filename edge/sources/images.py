"""Image files read safely: any file name (read as bytes, so a name that is not UTF-8 never
reaches OpenCV, which crashes on one), the size from the header before anything is decoded (a
1 MB PNG can hold 20000x20000 pixels: 1.2 GB decoded), large JPEGs decoded at a reduced scale
(the model sees at most a few hundred pixels), and a reason for every file that is skipped.

JPEG, PNG, BMP, WebP and PNM (P1-P6, comments allowed) headers are read here; other formats rely
on OpenCV's own pixel limit (``OPENCV_IO_MAX_IMAGE_PIXELS``, set by the CLI) and the byte bound.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from edge.fileio import MAX_PIXELS

# decoded in full up to this; a larger JPEG is decoded at 1/2, 1/4 or 1/8 scale by libjpeg
# itself, other formats are skipped (decoding them whole would take 3 bytes a pixel and more)
FULL_DECODE_PIXELS = 16_000_000
MAX_FILE_BYTES = 100 * 2**20
_REDUCED = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4),
            (8, cv2.IMREAD_REDUCED_COLOR_8))


def display_name(name: str) -> str:
    """A file name as text that any output can carry: bytes that are not UTF-8 (kept by
    Python as surrogates) shown as U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) read from the header, or None when the format is not known here or
    the header is damaged (decoding then decides)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head.startswith(b"BM") and len(head) >= 26:
                w, h = struct.unpack("<ii", head[18:26])
                return abs(w), abs(h)
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _webp(head + fh.read(32))
            if head[:1] == b"P" and head[1:2] in b"123456" and len(head) > 2:
                return _pnm(head + fh.read(4064))
            if head.startswith(b"\xff\xd8"):
                fh.seek(2)
                return _jpeg(fh)
    except (OSError, ValueError, struct.error):
        return None
    return None


def _pnm(head: bytes) -> tuple[int, int] | None:
    """Netpbm: magic, width, height, separated by whitespace and ``#`` comments."""
    fields: list[int] = []
    text = head[2:]
    i = 0
    while len(fields) < 2 and i < len(text):
        c = text[i:i + 1]
        if c == b"#":
            end = text.find(b"\n", i)
            if end < 0:
                return None
            i = end + 1
        elif c.isspace():
            i += 1
        elif c.isdigit():
            j = i
            while j < len(text) and text[j:j + 1].isdigit():
                j += 1
            fields.append(int(text[i:j]))
            i = j
        else:
            return None
    return (fields[0], fields[1]) if len(fields) == 2 else None


def _jpeg(fh) -> tuple[int, int] | None:
    """Walk the markers to the first start-of-frame (SOF0-15 but DHT, JPG and DAC)."""
    for _ in range(1000):
        marker = fh.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            fh.seek(-1, 1)
            continue
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
            continue
        (length,) = struct.unpack(">H", fh.read(2))
        if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">xHH", fh.read(5))
            return w, h
        fh.seek(length - 2, 1)
    return None


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def too_large(path: Path, limit: int = MAX_PIXELS) -> str | None:
    """A reason to skip ``path`` without decoding it, or None."""
    size = header_size(path)
    if size is not None and size[0] * size[1] > limit:
        return f"{size[0]}x{size[1]} pixels, over the {limit / 1e6:g} MP limit"
    return None


def read_image(path: Path) -> tuple[np.ndarray | None, str]:
    """(BGR image, "") or (None, why it was skipped), for any file and any file name. The
    memory it takes is bounded: files over ``MAX_FILE_BYTES`` and images over ``MAX_PIXELS`` are
    not read; JPEGs over ``FULL_DECODE_PIXELS`` are decoded at a reduced scale, other such
    formats are skipped."""
    path = Path(path)
    try:
        nbytes = path.stat().st_size
    except OSError as exc:
        return None, f"cannot read ({exc.strerror})"
    if nbytes > MAX_FILE_BYTES:
        return None, f"{nbytes / 2**20:.0f} MB, over the {MAX_FILE_BYTES / 2**20:.0f} MB limit"
    if (why := too_large(path)) is not None:
        return None, why
    size = header_size(path)
    flag = cv2.IMREAD_COLOR
    if size is not None and size[0] * size[1] > FULL_DECODE_PIXELS:
        with open(path, "rb") as fh:
            is_jpeg = fh.read(2) == b"\xff\xd8"
        if not is_jpeg:
            return None, (f"{size[0]}x{size[1]} pixels: only JPEGs are decoded beyond "
                          f"{FULL_DECODE_PIXELS / 1e6:g} MP (at a reduced scale); downscale it")
        pixels = size[0] * size[1]
        flag = next((f for scale, f in _REDUCED if pixels / scale**2 <= FULL_DECODE_PIXELS),
                    _REDUCED[-1][1])
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as exc:
        return None, f"cannot read ({exc.strerror})"
    try:
        image = cv2.imdecode(data, flag) if data.size else None
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        return None, "not an image OpenCV can decode"
    return image, ""
