"""Embeddings: the base's int8 network cut before its classifier, and their cache.

The embedding of a view is the pooled feature vector the classifier of the int8 network
reads: uint8 codes at the pool's scale. It is computed by the int8 QDQ graph evaluated as the
ONNX standard defines it (onnxruntime with graph optimisations off: dequantize, float
operator, quantize), so it is the same on every CPU and is exactly what the trained head will
see in every engine (optimised int8 kernels differ from it by a step here and there).

The cache holds the codes by photo content (sha256) and view, one file per base network (the
hash of the cut graph: another base, or another calibration of a float base, is another
file), so re-training after adding a few photos only embeds the new ones.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge.errors import EdgeError
from edge.fileio import write_bytes_atomic
from edge.model import INPUT_NAME

log = logging.getLogger(__name__)
CLASSIFIER = "Logits"  # the classifier node of every edge graph (fp32 and QDQ)
BATCH = 8


def cut_before_classifier(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """A copy of an edge int8 graph that ends at the classifier's input (any batch size), and
    the name of that output."""
    gemm = next((n for n in model.graph.node if n.name == CLASSIFIER), None)
    if gemm is None:
        raise EdgeError("the base model has no classifier node named Logits")
    features = gemm.input[0]
    producer = {o: n for n in model.graph.node for o in n.output}
    keep, stack = set(), [features]
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in keep:
            keep.add(id(node))
            stack.extend(node.input)
    nodes = [n for n in model.graph.node if id(n) in keep]
    used = {name for n in nodes for name in n.input}
    inits = [i for i in model.graph.initializer if i.name in used]
    shape = ["batch", *(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:])]
    graph = helper.make_graph(
        nodes, "embeddings", [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, shape)],
        [helper.make_tensor_value_info(features, TensorProto.FLOAT, None)], initializer=inits)
    cut = helper.make_model(graph, opset_imports=list(model.opset_import))
    cut.ir_version = model.ir_version
    return cut, features


class Embedder:
    """uint8 pixels [n, R, R, 3] -> uint8 feature codes [n, C], by exact QDQ arithmetic."""

    def __init__(self, int8_model: onnx.ModelProto, threads: int | None = None) -> None:
        import onnxruntime as ort

        cut, self.output = cut_before_classifier(int8_model)
        pool = self._pool_params(cut)
        self.scale, self.zero_point = pool
        data = cut.SerializeToString(deterministic=True)
        self.key = hashlib.sha256(data).hexdigest()[:20]
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.size = int(int8_model.graph.input[0].type.tensor_type.shape.dim[1].dim_value)

    def _pool_params(self, cut: onnx.ModelProto) -> tuple[float, int]:
        """Scale and zero point of the DequantizeLinear that gives the features."""
        node = next(n for n in cut.graph.node if self.output in n.output)
        if node.op_type != "DequantizeLinear":
            raise EdgeError("the base model's classifier does not read quantized features")
        inits = {i.name: numpy_helper.to_array(i) for i in cut.graph.initializer}
        return float(inits[node.input[1]]), int(inits[node.input[2]])

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(pixels), BATCH):
            features = self.session.run([self.output], {INPUT_NAME: pixels[start:start + BATCH]})
            codes = np.rint(features[0].reshape(len(features[0]), -1) / np.float32(self.scale))
            out.append(np.clip(codes + self.zero_point, 0, 255).astype(np.uint8))
        return np.concatenate(out)

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        """Codes -> the float features the classifier reads."""
        return (codes.astype(np.float64) - self.zero_point) * self.scale


class EmbeddingCache:
    """Codes by ``digest:view`` for one base network, in ``folder`` (None: not cached)."""

    def __init__(self, folder: Path | None, key: str) -> None:
        self.path = Path(folder) / f"train-embeddings-{key}.npz" if folder else None
        self.entries: dict[str, np.ndarray] = {}
        self.added = 0
        if self.path is not None and self.path.is_file():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    self.entries = dict(zip(data["keys"].tolist(), data["codes"], strict=True))
            except (OSError, ValueError, KeyError) as exc:
                log.warning("%s: unreadable embedding cache, starting afresh (%s)", self.path,
                            exc)

    def get(self, key: str) -> np.ndarray | None:
        return self.entries.get(key)

    def put(self, key: str, codes: np.ndarray) -> None:
        self.entries[key] = codes
        self.added += 1

    def save(self) -> str | None:
        """Write the cache (whole or not at all); a reason when it could not be written."""
        if self.path is None or not self.added:
            return None
        keys = list(self.entries)
        buffer = io.BytesIO()
        np.savez(buffer, keys=np.array(keys), codes=np.stack([self.entries[k] for k in keys]))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(self.path, buffer.getvalue())
        except OSError as exc:
            return f"{self.path}: embedding cache not written ({exc.strerror})"
        return None
