"""A thin onnxruntime wrapper: tuned session options, one warm-up, run()."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.model import INPUT_NAME, OUTPUT_NAME


def physical_cores() -> int:
    """Physical cores (what onnxruntime's own default counts), from sysfs where it exists."""
    cores = set()
    base = Path("/sys/devices/system/cpu")
    for topo in base.glob("cpu[0-9]*/topology"):
        try:
            package = (topo / "physical_package_id").read_text().strip()
            core = (topo / "core_id").read_text().strip()
        except OSError:
            continue
        cores.add((package, core))
    return len(cores) or os.cpu_count() or 1


class Engine:
    """One onnxruntime CPU session for an edge model.

    ``spin=False`` stops worker threads from spin-waiting between runs, which matters when the
    frame rate is capped: spinning burns a core while there is nothing to do.
    """

    def __init__(self, path: Path, threads: int | None = None, spin: bool = True) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.threads = threads or physical_cores()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise EdgeError(f"{self.path}: onnxruntime cannot load this model "
                            f"({str(exc).splitlines()[0][:200]})") from exc
        self._out = [OUTPUT_NAME]

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Logits for one uint8 NHWC tensor, as a 1-D float32 array."""
        return self.session.run(self._out, {INPUT_NAME: tensor})[0][0]
