"""The new classifier on the frozen backbone's embeddings, in numpy: weight imprinting,
softmax regression, the unknown answer, and the head as int8.

- Imprinting (Qi, Brown and Lowe 2018; Coral's on-device imprinting): a class's weights are
  the normalised mean of its photos' normalised embeddings. One change, measured (docs/
  train.md): the embeddings are centred first (the mean of the training embeddings goes into
  the bias). Every ReLU embedding shares a large positive common part; without centring it
  dominates the cosines. Logits are ``s * w_k . (x - mean)``: all classes share
  ``|x - mean|``, so the top class is the one with the highest cosine; ``s`` puts an
  average-length embedding on a scale of 10 per unit of cosine.
- Softmax regression: multinomial logistic regression on the embeddings (centred and scaled,
  folded back into the weights afterwards), L2-regularised, weighted as the caller says
  (edge-train: each distinct photo the same within its class, each class the same), by
  accelerated gradient descent (Nesterov, with
  adaptive restart) with the step from the Hessian's bound (Böhning: softmax curvature
  <= 1/2), deterministic.
- The unknown answer is one more class with zero weights and the threshold as bias: it wins
  exactly when no class scores above the threshold, in every engine.
- int8: weights symmetric per output channel in [-127, 127], int32 bias at feature scale x
  weight scale, as TFLM requires; :meth:`QHead.logits` computes what the int8 graph does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMPRINT_SCALE = 10.0
L2 = 1e-2
MAX_ITERATIONS = 1000
TOLERANCE = 1e-6  # gradient norm at which the regression counts as converged


@dataclass(frozen=True)
class Head:
    """A linear classifier on features: ``logits = x @ weight.T + bias``."""

    weight: np.ndarray  # [K, C] float64
    bias: np.ndarray  # [K]
    kind: str  # "imprinted" or "trained"
    iterations: int = 0

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weight.T + self.bias

    def scaled(self, factor: float) -> Head:
        """Every logit times ``factor`` (> 0): the same answers, other probabilities."""
        return Head(self.weight * factor, self.bias * factor, self.kind, self.iterations)


def imprint(x: np.ndarray, y: np.ndarray, classes: int,
            sample_weight: np.ndarray | None = None) -> Head:
    """Imprinted weights: per class the normalised (weighted) mean of the normalised, centred
    embeddings, scaled by ``IMPRINT_SCALE`` / their mean length; the centre goes into the
    bias."""
    w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    centre = w @ x / w.sum()
    z = x - centre
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    unit = z / np.maximum(norms, 1e-12)
    weight = np.zeros((classes, x.shape[1]))
    for k in range(classes):
        mean = (unit[y == k] * w[y == k, None]).sum(axis=0)
        weight[k] = mean / max(np.linalg.norm(mean), 1e-12)
    weight *= IMPRINT_SCALE / max(float(np.average(norms[:, 0], weights=w)), 1e-12)
    return Head(weight, -weight @ centre, "imprinted")


def loss_and_gradient(weight: np.ndarray, bias: np.ndarray, z: np.ndarray, onehot: np.ndarray,
                      sample_weight: np.ndarray, l2: float, with_loss: bool = True
                      ) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted mean cross-entropy of softmax(z @ weight.T + bias) plus l2/2 |weight|^2 (NaN
    unless ``with_loss``), and its gradient with respect to weight and bias.
    ``sample_weight`` sums to 1.

    The products are einsum's own loops, not BLAS: these matrices are skinny ([views, C] by
    [C, classes]) and OpenBLAS's thread pool costs more than it saves on them (ten times
    slower on a busy two-core machine; a Pi running edge-run beside it is one)."""
    logits = np.einsum("nc,kc->nk", z, weight) + bias
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = float("nan")
    if with_loss:
        loss = -float(np.einsum("n,nk,nk->", sample_weight, onehot, log_p))
        loss += 0.5 * l2 * float((weight * weight).sum())
    residual = (np.exp(log_p) - onehot) * sample_weight[:, None]
    return loss, np.einsum("nk,nc->kc", residual, z) + l2 * weight, residual.sum(axis=0)


def softmax_regression(x: np.ndarray, y: np.ndarray, classes: int,
                       sample_weight: np.ndarray | None = None, l2: float = L2,
                       iterations: int = MAX_ITERATIONS) -> Head:
    """Multinomial logistic regression on ``x`` (rows) with labels ``y`` in [0, classes):
    accelerated gradient descent, its momentum restarted whenever it points uphill
    (O'Donoghue and Candès 2015), until the gradient's norm is below ``TOLERANCE``."""
    w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    w = w / w.sum()
    mean = w @ x
    spread = float(np.sqrt(w @ ((x - mean) ** 2).sum(axis=1))) or 1.0
    z = (x - mean) / spread
    onehot = np.eye(classes)[y]
    # Steps from the curvature's bound, per block: softmax curvature <= 1/2 (Böhning) times
    # the weighted second moment of the inputs. z is centred and scaled to unit mean square,
    # so the bias block's moment is exactly 1 and the weights' largest eigenvalue is at most 1
    # (its trace), usually far less: measured, with a quarter to spare
    moment = min(1.0, 1.25 * largest_eigenvalue(z, w))
    step_w, step_b = 1.0 / (0.5 * moment + l2), 1.0 / 0.5
    weight = np.zeros((classes, x.shape[1]))
    bias = np.zeros(classes)
    ahead_w, ahead_b, t = weight, bias, 1.0
    done = iterations
    for i in range(iterations):
        _, gw, gb = loss_and_gradient(ahead_w, ahead_b, z, onehot, w, l2, False)
        if np.sqrt((gw * gw).sum() + (gb * gb).sum()) < TOLERANCE:
            weight, bias, done = ahead_w, ahead_b, i
            break
        new_w, new_b = ahead_w - step_w * gw, ahead_b - step_b * gb
        if (gw * (new_w - weight)).sum() + (gb * (new_b - bias)).sum() > 0:
            t = 1.0  # the momentum carries it uphill: start it again from here
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        momentum = (t - 1.0) / t_next
        ahead_w = new_w + momentum * (new_w - weight)
        ahead_b = new_b + momentum * (new_b - bias)
        weight, bias, t = new_w, new_b, t_next
    weight = weight / spread
    return Head(weight, bias - weight @ mean, "trained", done)


def largest_eigenvalue(a: np.ndarray, w: np.ndarray, steps: int = 30) -> float:
    """The largest eigenvalue of ``a.T @ diag(w) @ a``, estimated by power iteration from a
    fixed start (a full eigendecomposition costs more than the whole regression). It is
    approached from below: eigenvalues under 0.8 of the largest keep 0.8^60 of their share."""
    v = np.random.default_rng(0).normal(size=a.shape[1])
    value = 0.0
    for _ in range(steps):
        u = np.einsum("nc,n->c", a, w * np.einsum("nc,c->n", a, v))
        value = float(np.linalg.norm(u))
        if value == 0.0:
            return 0.0
        v = u / value
    return value


def with_unknown(head: Head, threshold: float) -> Head:
    """``head`` plus a last class with zero weights and bias ``threshold``."""
    return Head(np.vstack([head.weight, np.zeros((1, head.weight.shape[1]))]),
                np.append(head.bias, threshold), head.kind, head.iterations)


@dataclass(frozen=True)
class QHead:
    """A head as the int8 network holds it: int8 weights per output channel (symmetric),
    int32 bias at ``feature_scale * weight_scale``."""

    weight: np.ndarray  # int8 [K, C]
    weight_scale: np.ndarray  # float32 [K]
    bias: np.ndarray  # int32 [K]
    feature_scale: float
    feature_zero: int

    @property
    def bias_scale(self) -> np.ndarray:
        return (np.float32(self.feature_scale) * self.weight_scale).astype(np.float32)

    def logits(self, codes: np.ndarray) -> np.ndarray:
        """Float logits from uint8 feature codes, with the integer accumulation the int8
        kernels do (exact: no rounding before the output's own quantization)."""
        acc = (codes.astype(np.int64) - self.feature_zero) @ self.weight.T.astype(np.int64)
        return (acc + self.bias) * self.bias_scale.astype(np.float64)


def quantize_head(head: Head, feature_scale: float, feature_zero: int) -> QHead:
    """``head`` in int8: each output channel's weights scaled to [-127, 127]; a zero channel
    (the unknown class) gets the median scale of the others so its bias keeps the same
    resolution."""
    peak = np.abs(head.weight).max(axis=1)
    nonzero = peak[peak > 0]
    fallback = float(np.median(nonzero)) / 127 if nonzero.size else 1.0
    scale = np.where(peak > 0, peak / 127, fallback).astype(np.float32)
    q = np.clip(np.rint(head.weight / scale[:, None]), -127, 127).astype(np.int8)
    # the weights' zero point moves the bias: sum_c w (x_c - zero) = sum_c w x_c - zero sum_c w
    # the features enter as (code - zero) * feature_scale, so the bias is in those units too
    bias = head.bias / (np.float64(feature_scale) * scale.astype(np.float64))
    limit = 2**31 - 1
    return QHead(q, scale, np.clip(np.rint(bias), -limit, limit).astype(np.int32),
                 float(feature_scale), int(feature_zero))


def output_range(logits: np.ndarray, margin: float = 0.25) -> tuple[float, int]:
    """(scale, zero point) of uint8 logits covering ``logits`` with ``margin`` of their span
    to spare on each side, and 0."""
    lo, hi = float(min(logits.min(), 0.0)), float(max(logits.max(), 0.0))
    span = max(hi - lo, 1e-6)
    lo, hi = min(lo - margin * span, 0.0), hi + margin * span
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(np.rint(-lo / scale), 0, 255))
