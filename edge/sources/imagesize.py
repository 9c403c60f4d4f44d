"""Image dimensions from the file header, before anything is decoded: a 1 MB PNG can hold
20000x20000 pixels (1.2 GB decoded). JPEG, PNG, BMP, WebP and PPM/PGM are read here; other
formats rely on OpenCV's own limit (``OPENCV_IO_MAX_IMAGE_PIXELS``, set by the CLI)."""

from __future__ import annotations

import struct
from pathlib import Path

MAX_PIXELS = 50_000_000  # a 48 MP photo passes; its decoded form is 144 MB


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
            if head[:2] in (b"P5", b"P6"):
                fields = head[2:].split()
                return (int(fields[0]), int(fields[1])) if len(fields) >= 2 else None
            if head.startswith(b"\xff\xd8"):
                fh.seek(2)
                return _jpeg(fh)
    except (OSError, ValueError, struct.error):
        return None
    return None


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
