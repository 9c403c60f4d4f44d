"""ModelInfo: everything the runtime needs, carried in the ONNX metadata under the key ``edge``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge.errors import EdgeError, ModelError
from edge.fileio import read_bounded

META_KEY = "edge"
FORMAT = 1
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
REQUIRED = ("arch", "alpha", "resolution", "classes", "background", "channel_order",
            "precision", "weights")


def alpha_text(alpha: float) -> str:
    """1.0 -> "1.0", 0.25 -> "0.25": how TensorFlow names MobileNet widths."""
    text = f"{alpha:g}"
    return text if "." in text else text + ".0"


@dataclass(frozen=True)
class ModelInfo:
    """What an edge model is and how to feed it. Input: uint8 NHWC [1, R, R, 3]; the
    normalisation is inside the graph and recorded here for reference."""

    arch: str
    alpha: float
    resolution: int
    classes: int
    background: bool  # class 0 is "background" (1001-class TF-slim heads)
    channel_order: str  # "RGB"
    precision: str  # "fp32" or "int8"
    weights: dict  # kind, file, sha256, trained, note
    labels: list[str] | None = None
    macs: int = 0
    params: int = 0
    padding: str = "tf"
    normalisation: dict = field(default_factory=dict)
    layout: str = "NHWC"
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    quantization: dict | None = None
    format: int = FORMAT
    producer: str = ""

    @property
    def trained(self) -> bool:
        return bool(self.weights.get("trained"))

    @property
    def name(self) -> str:
        """TF's naming: mobilenet_v1_1.0_224_int8, mobilenet_v1_0.25_128_fp32."""
        return f"mobilenet_v1_{alpha_text(self.alpha)}_{self.resolution}_{self.precision}"

    def label(self, index: int) -> str:
        """Human-readable class name, or ``class N`` when the model carries no labels."""
        if self.labels is not None and 0 <= index < len(self.labels):
            return self.labels[index]
        return f"class {index}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], origin: str) -> ModelInfo:
        raw = metadata.get(META_KEY)
        if raw is None:
            raise ModelError(f"{origin}: not an edge model (no '{META_KEY}' metadata; convert it "
                            "with edge-convert)")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{origin}: '{META_KEY}' metadata is not JSON ({exc})") from exc
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise ModelError(f"{origin}: edge metadata lacks {', '.join(missing)}")
        known = set(cls.__dataclass_fields__)
        info = cls(**{k: v for k, v in data.items() if k in known})
        if not (isinstance(info.resolution, int) and isinstance(info.classes, int)
                and 0 < info.resolution <= 4096 and 0 < info.classes <= 100_000):
            raise ModelError(f"{origin}: edge metadata has resolution {info.resolution!r} and "
                             f"classes {info.classes!r}; not a plausible model")
        if info.labels is not None and len(info.labels) != info.classes:
            raise ModelError(f"{origin}: edge metadata has {len(info.labels)} labels for "
                             f"{info.classes} classes")
        return info


def read_model_info(path: Path) -> ModelInfo:
    """Read ModelInfo from an edge model (ONNX, or the int8 .tflite edge-convert writes)
    without building an inference session."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    try:
        data = read_bounded(path, "model", "")
    except EdgeError as exc:
        raise ModelError(str(exc)) from None
    if path.suffix.lower() == ".tflite":
        return ModelInfo.from_metadata(_tflite_metadata(path, data), str(path))
    import onnx

    try:
        model = onnx.load_from_string(data)
    except Exception as exc:
        raise ModelError(f"{path}: not an ONNX model ({exc.__class__.__name__})") from exc
    return ModelInfo.from_metadata({p.key: p.value for p in model.metadata_props}, str(path))


def _tflite_metadata(path: Path, data: bytes) -> dict[str, str]:
    """The text metadata entries of a TFLite flatbuffer. Labels are not stored in the file
    when they are ImageNet's (``labels_builtin``): a microcontroller's flash has better uses."""
    import tflite

    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{path}: not a TFLite file (no TFL3 identifier)")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        entries = {}
        for i in range(model.MetadataLength()):
            meta = model.Metadata(i)
            buffer = model.Buffers(meta.Buffer())
            if buffer is not None and buffer.DataLength():
                entries[meta.Name().decode()] = buffer.DataAsNumpy().tobytes().decode(
                    "utf-8", "replace")
    except Exception as exc:  # flatbuffers raises assorted errors on damaged files
        raise ModelError(f"{path}: damaged TFLite file ({exc.__class__.__name__})") from exc
    raw = entries.get(META_KEY)
    if raw is not None:
        try:
            data_json = json.loads(raw)
        except json.JSONDecodeError:
            return entries
        if data_json.get("labels") is None and data_json.get("labels_builtin") == "imagenet":
            from edge.labels import imagenet_labels

            data_json["labels"] = imagenet_labels(int(data_json.get("classes", 0)))
            entries[META_KEY] = json.dumps(data_json)
    return entries
