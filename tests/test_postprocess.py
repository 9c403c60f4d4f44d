"""Postprocessing math: the batched top-k softmax against the plain definition."""

import numpy as np

from edge.postprocess import softmax, top_k, top_k_softmax, top_k_softmax_batch


def test_batched_top_k_softmax_is_softmax_then_top_k():
    rng = np.random.default_rng(7)
    logits = (rng.normal(size=(64, 1001)) * rng.uniform(0.1, 40, size=(64, 1))).astype(
        np.float32)
    logits[0, [3, 900]] = logits[0].max() + 1  # a tie: the lower index comes first
    batch = top_k_softmax_batch(logits, 5)
    for row, got in zip(logits, batch, strict=True):
        want = top_k(softmax(row), 5)
        assert [i for i, _ in got] == [i for i, _ in want]
        np.testing.assert_allclose([p for _, p in got], [p for _, p in want], rtol=1e-5,
                                   atol=1e-12)
        single = top_k_softmax(row, 5)  # the one-frame path: same classes and order
        assert [i for i, _ in single] == [i for i, _ in got]
        np.testing.assert_allclose([p for _, p in single], [p for _, p in got], rtol=1e-6)
    assert [i for i, _ in batch[0][:2]] == [3, 900]


def test_k_larger_than_the_classes():
    assert [i for i, _ in top_k_softmax(np.array([0.0, 2.0, 1.0]), 5)] == [1, 2, 0]
