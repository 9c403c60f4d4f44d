"""Where weights come from: a local file (by content), or a published checkpoint by name.

Published names (downloaded once into ``$XDG_CACHE_HOME/edge``, or ``~/.cache/edge``):
- ``keras:<alpha>_<res>``   keras.applications ``mobilenet_<a>_<r>_tf.h5`` (alpha 1.0/0.75/0.5/0.25,
                            res 128/160/192/224)
- ``tflite:<alpha>_<res>[_quant]`` TensorFlow's hosted ``mobilenet_v1_2018_08_02`` TFLite files
- ``timm:mobilenetv1_100``  timm's ImageNet weights (safetensors)

- ``https://...`` any other file, with ``--sha256``

Every download is checked against a sha256 before it is cached: the pinned one of a published
name (edge/convert/pins.py), or the user's ``--sha256``. A mismatch is refused and nothing is
cached, so a proxy or mirror (``EDGE_DOWNLOAD_MIRROR=http://host:port`` fetches the same paths
from a mirror) cannot substitute weights.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from edge.convert.checkpoints.keras import load_keras_h5
from edge.convert.checkpoints.pins import PINNED
from edge.convert.checkpoints.tflite import load_tflite
from edge.convert.checkpoints.timm import load_state_dict
from edge.convert.weights import Weights
from edge.errors import EdgeError
from edge.fileio import read_bounded, sha256_file, write_bytes_atomic

_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
_TFLITE = "https://storage.googleapis.com/download.tensorflow.org/models/mobilenet_v1_2018_08_02/"
_TIMM = ("https://huggingface.co/timm/mobilenetv1_100.ra4_e3600_r224_in1k/resolve/"
         "6e88b523abded44469eafcd52f7832d5e0300b1b/model.safetensors")
_ALPHAS = {"1.0": "1_0", "0.75": "7_5", "0.5": "5_0", "0.25": "2_5"}
_RESOLUTIONS = ("128", "160", "192", "224")


def published_url(name: str) -> tuple[str, str]:
    """(url, cache file name) of a published checkpoint name, or EdgeError listing the forms."""
    kind, _, rest = name.partition(":")
    parts = rest.split("_")
    if kind == "keras" and len(parts) == 2 and parts[0] in _ALPHAS and parts[1] in _RESOLUTIONS:
        fname = f"mobilenet_{_ALPHAS[parts[0]]}_{parts[1]}_tf.h5"
        return _KERAS + fname, fname
    if (kind == "tflite" and len(parts) in (2, 3) and parts[0] in _ALPHAS
            and parts[1] in _RESOLUTIONS and parts[2:] in ([], ["quant"])):
        stem = f"mobilenet_v1_{parts[0]}_{parts[1]}" + ("_quant" if parts[2:] else "")
        return _TFLITE + stem + ".tgz", stem + ".tflite"
    if name == "timm:mobilenetv1_100":
        return _TIMM, "timm_mobilenetv1_100.safetensors"
    raise EdgeError(f"--weights {name}: unknown published checkpoint; use keras:<alpha>_<res>, "
                    "tflite:<alpha>_<res>[_quant] or timm:mobilenetv1_100 (alpha 1.0/0.75/0.5/"
                    "0.25, res 128/160/192/224), or a file path")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edge"


def _check_sha256(want: str | None) -> str | None:
    if want is None:
        return None
    want = want.lower()
    if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
        raise EdgeError(f"--sha256 {want}: expected 64 hexadecimal digits")
    return want


def fetch(name: str, sha256: str | None = None, timeout: float = 30.0) -> Path:
    """Download a published name or an https URL into the cache (once), verified against its
    pinned sha256 (or ``sha256``), and return the path of the weights file."""
    sha256 = _check_sha256(sha256)
    if name.startswith(("https://", "http://")):
        if sha256 is None:
            raise EdgeError(f"--weights {name}: a download by URL needs --sha256 HEX (the "
                            "file's checksum from a source you trust)")
        url = name
        fname = f"url-{sha256[:16]}-{Path(urllib.parse.urlsplit(url).path).name or 'weights'}"
    else:
        url, fname = published_url(name)
        pinned = PINNED.get(name)
        if pinned is not None and sha256 is not None and sha256 != pinned:
            raise EdgeError(f"--weights {name}: --sha256 {sha256} differs from the checksum "
                            f"edge pins for it ({pinned})")
        sha256 = sha256 or pinned
        if sha256 is None:
            raise EdgeError(f"--weights {name}: its publisher gives no checksum and none is "
                            "pinned; add --sha256 HEX of the file you trust, or download it "
                            "yourself and pass --weights FILE")
        mirror = os.environ.get("EDGE_DOWNLOAD_MIRROR")
        if mirror:
            url = mirror.rstrip("/") + urllib.parse.urlsplit(url).path
    target = cache_dir() / fname
    stamp = target.with_name(target.name + ".sha256")  # the verified download it came from
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == sha256:
        return target
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EdgeError(f"--weights {name}: cannot download {url} ({reason}); offline, download "
                        "it on a connected machine and pass the file with --weights FILE") from exc
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise EdgeError(f"--weights {name}: {url} has sha256 {got}, expected {sha256}; refused "
                        "(nothing cached)")
    if url.endswith(".tgz"):
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = next(m for m in tar.getmembers() if m.name.endswith(".tflite"))
                data = tar.extractfile(member).read()
        except (tarfile.TarError, StopIteration) as exc:
            raise EdgeError(f"--weights {name}: {url} is not the expected archive") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(target, data)
    write_bytes_atomic(stamp, (sha256 + "\n").encode())
    return target


def load_weights(spec: str, sha256: str | None = None) -> Weights:
    """Load weights from a file path, a published name or an https URL; records file name and
    sha256. ``sha256`` must match the file (for names and URLs: the download)."""
    path = Path(spec)
    if not path.exists() and ":" in spec and not spec.startswith(("/", ".")):
        path = fetch(spec, sha256)
    elif (want := _check_sha256(sha256)) is not None and path.is_file() \
            and (got := sha256_file(path)) != want:
        raise EdgeError(f"{path}: sha256 {got}, expected {want} (--sha256)")
    if not path.exists():
        raise EdgeError(f"{path}: weights file not found")
    if not path.is_file():
        raise EdgeError(f"{path}: not a file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise EdgeError(f"{path}: cannot read ({exc.strerror})") from exc
    suffix = path.suffix.lower()
    if head[4:8] == b"TFL3" or suffix == ".tflite":
        weights = load_tflite(path, read_bounded(path, "model", "--weights"))
    elif head.startswith(b"\x89HDF\r\n\x1a\n") or suffix in (".h5", ".hdf5"):
        weights = load_keras_h5(path)
    elif suffix in (".safetensors", ".pth", ".pt", ".bin"):
        weights = load_state_dict(path)
    else:
        raise EdgeError(f"{path}: unrecognised weights file; expected .tflite, Keras .h5, or a "
                        "timm state dict (.safetensors)")
    weights.source.update({"file": path.name, "sha256": sha256_file(path)})
    return weights
