"""edge-train's numbers: imprinting, the softmax regression's gradient and optimum, the int8
head, the unknown threshold, the temperature, and how photos are held out."""

import numpy as np
import pytest

from edge.train import evaluate, heads


def _blobs(seed=0, per_class=30, dims=16, classes=3, spread=0.6):
    """Non-negative features around one centre per class (like ReLU embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 3, (classes, dims))
    y = np.repeat(np.arange(classes), per_class)
    x = np.abs(centres[y] + rng.normal(0, spread, (len(y), dims)))
    return x, y


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(20, 5)), rng.integers(0, 3, 20)
    onehot, w = np.eye(3)[y], rng.uniform(0.5, 1.5, 20)
    w /= w.sum()
    weight, bias = rng.normal(size=(3, 5)), rng.normal(size=3)
    _, gw, gb = heads.loss_and_gradient(weight, bias, z, onehot, w, 0.1)
    eps = 1e-6
    for i, j in [(0, 0), (1, 3), (2, 4)]:
        d = np.zeros_like(weight)
        d[i, j] = eps
        up = heads.loss_and_gradient(weight + d, bias, z, onehot, w, 0.1)[0]
        down = heads.loss_and_gradient(weight - d, bias, z, onehot, w, 0.1)[0]
        assert (up - down) / (2 * eps) == pytest.approx(gw[i, j], rel=1e-5)
    for k in range(3):
        d = np.zeros(3)
        d[k] = eps
        up = heads.loss_and_gradient(weight, bias + d, z, onehot, w, 0.1)[0]
        down = heads.loss_and_gradient(weight, bias - d, z, onehot, w, 0.1)[0]
        assert (up - down) / (2 * eps) == pytest.approx(gb[k], rel=1e-5)


def test_softmax_regression_reaches_the_optimum_of_plain_gradient_descent():
    x, y = _blobs(spread=2.0)  # overlapping: a finite optimum that is not trivially found
    head = heads.softmax_regression(x, y, 3, l2=0.05)
    assert head.iterations < heads.MAX_ITERATIONS  # converged
    # the same objective by slow, plain gradient descent in the original coordinates
    w = np.full(len(x), 1 / len(x))
    mean = w @ x
    spread = np.sqrt(w @ ((x - mean) ** 2).sum(axis=1))
    z, onehot = (x - mean) / spread, np.eye(3)[y]
    weight, bias = np.zeros((3, x.shape[1])), np.zeros(3)
    for _ in range(20000):
        _, gw, gb = heads.loss_and_gradient(weight, bias, z, onehot, w, 0.05)
        weight, bias = weight - 0.5 * gw, bias - 0.5 * gb
    plain = heads.Head(weight / spread, bias - (weight / spread) @ mean, "trained")
    np.testing.assert_allclose(head.logits(x), plain.logits(x), atol=1e-4)


def test_softmax_regression_weighs_classes_equally():
    x, y = _blobs(spread=2.5)
    keep = (y != 0) | (np.arange(len(y)) % 10 == 0)  # class 0: 3 photos against 30 and 30
    x, y = x[keep], y[keep]
    plain = heads.softmax_regression(x, y, 3)
    balanced = evaluate.Examples(np.zeros((len(y), 1)), np.arange(len(y)), np.zeros(len(y), int),
                                 y, np.arange(len(y)), 1.0, 0).weights(np.ones(len(y), bool))
    assert [balanced[y == k].sum() for k in range(3)] == pytest.approx([1, 1, 1])
    fair = heads.softmax_regression(x, y, 3, balanced)
    recall = [(fair.logits(x)[y == 0].argmax(1) == 0).mean(),
              (plain.logits(x)[y == 0].argmax(1) == 0).mean()]
    assert recall[0] >= recall[1]


def test_near_duplicates_weigh_as_one_photo_and_classes_the_same():
    # class 0: photo 0, and photos 1-3 near-copies of one scene; class 1: photos 4 and 5
    labels, groups = np.array([0, 0, 0, 0, 1, 1]), np.array([0, 1, 1, 1, 2, 3])
    photo = np.repeat(np.arange(6), 2)
    ex = evaluate.Examples(np.zeros((12, 1)), photo, np.tile([0, 1], 6), labels, groups, 1.0, 0)
    w = ex.weights(np.ones(6, bool))
    per_photo = np.bincount(photo, weights=w)
    np.testing.assert_allclose(per_photo, [0.5, 1 / 6, 1 / 6, 1 / 6, 0.5, 0.5])
    held_out = np.array([True, True, True, True, True, False])  # photo 5 held out
    w = ex.weights(held_out)
    np.testing.assert_allclose(np.bincount(photo[held_out[photo]], weights=w, minlength=5),
                               [0.5, 1 / 6, 1 / 6, 1 / 6, 1.0])


def test_imprinting_is_the_normalised_centred_class_mean():
    x, y = _blobs()
    head = heads.imprint(x, y, 3)
    centre = x.mean(axis=0)
    unit = (x - centre) / np.linalg.norm(x - centre, axis=1, keepdims=True)
    for k in range(3):
        direction = unit[y == k].mean(axis=0)
        direction /= np.linalg.norm(direction)
        np.testing.assert_allclose(head.weight[k] / np.linalg.norm(head.weight[k]), direction,
                                   atol=1e-12)
    np.testing.assert_allclose(head.bias, -head.weight @ centre)
    # the answer is the class of highest cosine with the centred photo, whatever its length
    logits = head.logits(x)
    cosines = ((x - centre) / np.linalg.norm(x - centre, axis=1, keepdims=True)) @ \
        (head.weight / np.linalg.norm(head.weight, axis=1, keepdims=True)).T
    assert (logits.argmax(1) == cosines.argmax(1)).all()
    assert (logits.argmax(1) == y).mean() > 0.95


def test_imprinting_from_one_photo_per_class_answers_with_that_photo():
    x, y = _blobs(per_class=1)
    head = heads.imprint(x, y, 3)
    assert (head.logits(x).argmax(1) == y).all()


def test_int8_head_computes_the_float_head_and_the_unknown_row_is_exact():
    x, y = _blobs()
    scale = 0.0235
    codes = np.clip(np.rint(x / scale), 0, 255).astype(np.uint8)
    head = heads.with_unknown(heads.softmax_regression(codes * scale, y, 3), 1.25)
    q = heads.quantize_head(head, scale, 0)
    assert q.weight.dtype == np.int8 and np.abs(q.weight).max() == 127
    assert q.bias.dtype == np.int32 and (q.weight[-1] == 0).all()
    assert q.weight_scale[-1] == pytest.approx(np.median(q.weight_scale[:-1]))
    assert q.bias[-1] * q.bias_scale[-1] == pytest.approx(1.25, abs=float(q.bias_scale[-1]) / 2)
    float_logits = head.logits(codes * scale)
    np.testing.assert_allclose(q.logits(codes), float_logits, atol=0.01 * np.ptp(float_logits))


def test_output_range_holds_every_logit_and_zero():
    scale, zero = heads.output_range(np.array([[1.0, 3.0], [2.0, 5.0]]))
    lo, hi = (0 - zero) * scale, (255 - zero) * scale
    assert lo <= 0 and hi >= 5 + 0.2 * 5
    scale, zero = heads.output_range(np.array([[-4.0, 2.0]]))
    assert (0 - zero) * scale <= -4 - 0.25 * 6 + scale and (255 - zero) * scale >= 2 + 1.5 - scale


def test_threshold_between_separated_known_and_novel_scores():
    known, novel = np.array([5.0, 6.0, 7.0, 8.0]), np.array([1.0, 2.0, 3.0])
    t = evaluate.choose_threshold(known, novel)
    assert t.value == pytest.approx(4.0)
    assert (t.known_kept, t.novel_rejected) == (4, 3)


def test_threshold_keeps_at_least_ninety_percent_of_known_photos():
    known = np.arange(20, dtype=float)  # 0..19; novel photos score like the known ones
    novel = np.arange(5, 25, dtype=float) + 0.5
    t = evaluate.choose_threshold(known, novel)
    assert t.known_kept >= 18 and (known >= t.value).sum() == t.known_kept
    # without the floor the best balanced accuracy would reject far more known photos
    assert t.novel_rejected == (novel < t.value).sum()


def test_threshold_without_novel_classes_keeps_95_percent():
    known = np.arange(40, dtype=float)
    t = evaluate.choose_threshold(known, None)
    assert (t.known_kept, t.novel) == (38, 0) and 1.0 < t.value <= 2.0
    t = evaluate.choose_threshold(np.array([3.0, 4.0, 5.0]), None)
    assert t.known_kept == 3 and t.value < 3.0


def test_temperature_is_finite_when_every_photo_is_right_and_lower_when_some_are_wrong():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    logits = rng.normal(0, 0.3, (60, 3))
    logits[np.arange(60), labels] += 1.0
    confident = evaluate.temperature(logits, labels)
    assert 1.0 < confident < 50.0
    wrong = labels.copy()
    wrong[:20] = (wrong[:20] + 1) % 3
    assert evaluate.temperature(logits, wrong) < confident


def test_near_duplicates_share_a_group_and_folds_keep_groups_and_classes():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, (12, 8))
    centre = np.vstack([base, base[:3] * 1.001 + 1e-4])  # three near-copies
    labels = np.array([0] * 6 + [1] * 6 + [0] * 3)
    groups = evaluate.near_duplicate_groups(centre, labels)
    assert len(np.unique(groups)) == 12 and (groups[12:] == groups[:3]).all()
    folds = evaluate.photo_folds(labels, groups, 3, seed=0)
    for g in np.unique(groups):
        assert len(np.unique(folds[groups == g])) == 1
    for f in range(3):
        assert set(labels[folds != f]) == {0, 1}  # every class trains in every fold
    assert (evaluate.photo_folds(labels, groups, 3, seed=0) == folds).all()


def test_most_confused_pairs_in_order():
    matrix = np.array([[5, 2, 0], [1, 6, 3], [0, 0, 4]])
    pairs = evaluate.most_confused(matrix, ["a", "b", "c"])
    assert [(p["true"], p["predicted"], p["photos"]) for p in pairs] == \
        [("b", "c", 3), ("a", "b", 2), ("b", "a", 1)]
