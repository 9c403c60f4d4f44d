"""Where weights come from: a local file (by content), or a published checkpoint by name.

Published names (downloaded once into ``$XDG_CACHE_HOME/edge``, or ``~/.cache/edge``):
- ``keras:<alpha>_<res>``   keras.applications ``mobilenet_<a>_<r>_tf.h5`` (alpha 1.0/0.75/0.5/0.25,
                            res 128/160/192/224)
- ``tflite:<alpha>_<res>[_quant]`` TensorFlow's hosted ``mobilenet_v1_2018_08_02`` TFLite files
- ``timm:mobilenetv1_100``  timm's ImageNet weights (safetensors)

``EDGE_DOWNLOAD_MIRROR=http://host:port`` fetches the same paths from a mirror instead.
"""

from __future__ import annotations

import io
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from edge.convert.import_keras import load_keras_h5
from edge.convert.import_tflite import load_tflite
from edge.convert.import_torch import load_state_dict
from edge.convert.weights import Weights
from edge.errors import EdgeError
from edge.fileio import sha256_file, write_bytes_atomic

_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
_TFLITE = "https://storage.googleapis.com/download.tensorflow.org/models/mobilenet_v1_2018_08_02/"
_TIMM = ("https://huggingface.co/timm/mobilenetv1_100.ra4_e3600_r224_in1k/resolve/main/"
         "model.safetensors")
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


def fetch_published(name: str, timeout: float = 30.0) -> Path:
    """Download a published checkpoint into the cache (once) and return its path."""
    url, fname = published_url(name)
    mirror = os.environ.get("EDGE_DOWNLOAD_MIRROR")
    if mirror:
        url = mirror.rstrip("/") + urllib.parse.urlsplit(url).path
    target = cache_dir() / fname
    if target.is_file():
        return target
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EdgeError(f"--weights {name}: cannot download {url} ({reason}); offline, download "
                        "it on a connected machine and pass the file with --weights FILE") from exc
    if url.endswith(".tgz"):
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = next(m for m in tar.getmembers() if m.name.endswith(".tflite"))
                data = tar.extractfile(member).read()
        except (tarfile.TarError, StopIteration) as exc:
            raise EdgeError(f"--weights {name}: {url} is not the expected archive") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(target, data)
    return target


def load_weights(spec: str) -> Weights:
    """Load weights from a file path or a published name; records file name and sha256."""
    path = Path(spec)
    if not path.exists() and ":" in spec and not spec.startswith(("/", ".")):
        path = fetch_published(spec)
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
        weights = load_tflite(path, path.read_bytes())
    elif head.startswith(b"\x89HDF\r\n\x1a\n") or suffix in (".h5", ".hdf5"):
        weights = load_keras_h5(path)
    elif suffix in (".safetensors", ".pth", ".pt", ".bin"):
        weights = load_state_dict(path)
    else:
        raise EdgeError(f"{path}: unrecognised weights file; expected .tflite, Keras .h5, or a "
                        "timm state dict (.safetensors)")
    weights.source.update({"file": path.name, "sha256": sha256_file(path)})
    return weights
