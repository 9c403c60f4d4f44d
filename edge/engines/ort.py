"""onnxruntime: tuned session options, an optimised-model cache, warm-up, run()."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from edge.errors import ModelError
from edge.fileio import sha256_file
from edge.machine import cpu_fingerprint, physical_cores
from edge.model import INPUT_NAME, OUTPUT_NAME, ModelInfo

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$CACHE_DIRECTORY`` under systemd, else ``$XDG_CACHE_HOME/edge`` or ``~/.cache/edge``."""
    if os.environ.get("CACHE_DIRECTORY"):
        return Path(os.environ["CACHE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edge"


def cpu_key() -> str:
    """What the optimised graph depends on besides the model: CPU and onnxruntime version."""
    import onnxruntime as ort

    return f"ort{ort.__version__}-{cpu_fingerprint()}"


class OrtEngine:
    """One onnxruntime CPU session for an edge model.

    - ``threads``: intra-op threads, default the physical cores.
    - ``spin=False`` stops worker threads spin-waiting between runs: with a capped frame
      rate, spinning burns a core while there is nothing to do.
    - ``cache_dir``: the fully optimised graph is saved there, keyed by the model's sha256,
      the onnxruntime version and the CPU, so the next start skips optimisation.
    - ``profile_prefix``: onnxruntime's profiler on, its JSON trace written with this path
      prefix (``session.end_profiling()`` returns the file).
    - ``exact``: no graph optimisation, so a QDQ int8 model runs as the ONNX standard defines
      it (dequantize, float operator, quantize) instead of in this CPU's fused integer kernels
      (which saturate u8 x s8 products on x86 without VNNI and differ from ARM's): the same
      answers on every CPU, for verification and calibration, never for speed.
    """

    kind = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, spin: bool = True,
                 cache_dir: Path | None = None, info: ModelInfo | None = None,
                 warmup: bool = True, profile_prefix: str | None = None,
                 exact: bool = False) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.info = info
        self.threads = threads or physical_cores()
        self.spin = spin
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL if exact \
            else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if exact:
            cache_dir = None  # the cache holds optimised graphs
        if profile_prefix is not None:
            opts.enable_profiling = True
            opts.profile_file_prefix = profile_prefix
        source = self.path
        cached = tmp = None
        if cache_dir is not None:
            try:
                cached = Path(cache_dir) / f"{sha256_file(self.path)[:24]}-{cpu_key()}.ort.onnx"
            except OSError as exc:
                raise ModelError(f"{self.path}: cannot read model ({exc.strerror})") from exc
            if cached.is_file():
                source = cached
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            else:
                try:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
                    opts.optimized_model_filepath = str(tmp)
                except OSError as exc:
                    log.warning("optimised-model cache disabled: %s", exc)
                    tmp = None
        try:
            self.session = ort.InferenceSession(str(source), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise ModelError(f"{self.path}: onnxruntime cannot load this model ({first})") from exc
        if tmp is not None:
            try:
                os.replace(tmp, cached)
            except OSError as exc:
                log.warning("optimised-model cache not written: %s", exc)
                tmp.unlink(missing_ok=True)
        self._out = [OUTPUT_NAME]
        self.input_shape = check_graph(self.session, info, self.path)
        if warmup:
            self.run(np.zeros(self.input_shape, np.uint8))

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Logits for one uint8 NHWC tensor, as a 1-D float32 array."""
        return self.session.run(self._out, {INPUT_NAME: tensor})[0][0]


def check_graph(session, info: ModelInfo | None, origin: Path) -> tuple[int, ...]:
    """The graph must take what its metadata promises (uint8 NHWC [1, R, R, 3] named
    ``image``) and give one score per class (``logits`` [1, classes]); returns the input shape.
    A model with copied or stale metadata fails here with exit 3, not at the first frame."""
    inputs, outputs = session.get_inputs(), {o.name: o for o in session.get_outputs()}
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        raise ModelError(f"{origin}: the graph takes {[i.name for i in inputs]}; edge models "
                         f"take one input '{INPUT_NAME}'")
    if OUTPUT_NAME not in outputs:
        raise ModelError(f"{origin}: the graph has no output '{OUTPUT_NAME}' "
                         f"(outputs: {', '.join(outputs)})")
    shape, out_shape = list(inputs[0].shape), list(outputs[OUTPUT_NAME].shape)
    if info is not None:
        want = [1, info.resolution, info.resolution, 3]
        if shape != want or inputs[0].type != "tensor(uint8)":
            raise ModelError(f"{origin}: the metadata says input uint8 {want}, the graph takes "
                             f"{inputs[0].type.removeprefix('tensor(').rstrip(')')} {shape}")
        if out_shape != [1, info.classes]:
            raise ModelError(f"{origin}: the metadata says {info.classes} classes, the graph "
                             f"outputs {out_shape}")
    if not all(isinstance(d, int) and d > 0 for d in shape):
        raise ModelError(f"{origin}: the input shape {shape} is not fixed")
    return tuple(shape)
