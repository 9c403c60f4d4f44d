"""The layer table's arithmetic against the published figures."""

import pytest

from edge.convert.spec import MobileNetSpec, explain, slim_channels

# TF-slim's table (mobilenet_v1.md), 1001 classes: (alpha, resolution, million MACs).
PUBLISHED_MACS = [
    (1.0, 224, 569), (0.5, 224, 150), (0.25, 224, 41), (1.0, 192, 418),
    (1.0, 160, 291), (1.0, 128, 186), (0.5, 128, 49),
    # The paper's Table 6 gives 325M for 0.75-224; the slim README's 317M cannot come from this
    # architecture (every 0.75 width is an integer, so no rounding rule changes the count).
    (0.75, 224, 325),
]


@pytest.mark.parametrize(("alpha", "res", "macs"), PUBLISHED_MACS)
def test_macs_match_published_within_1_percent(alpha, res, macs):
    spec = MobileNetSpec.create(alpha, res, 1001)
    assert spec.macs / 1e6 == pytest.approx(macs, rel=0.01)


def test_smallest_model_rounds_to_published_14m_macs_and_047m_params():
    spec = MobileNetSpec.create(0.25, 128, 1001)
    # published with two significant figures: 14 M MACs, 0.47 M parameters
    assert round(spec.macs / 1e6) == 14
    assert spec.params / 1e6 == pytest.approx(0.47, rel=0.01)


def test_params_of_the_full_model():
    assert MobileNetSpec.create(1.0, 224, 1001).params / 1e6 == pytest.approx(4.24, rel=0.01)


def test_params_do_not_depend_on_resolution_and_macs_scale_with_rho_squared():
    a, b = MobileNetSpec.create(1.0, 448, 1001), MobileNetSpec.create(1.0, 224, 1001)
    assert a.params == b.params
    conv_a = a.macs - a.layers[-1].macs
    conv_b = b.macs - b.layers[-1].macs
    assert conv_a / conv_b == pytest.approx(4.0, rel=0.01)


def test_width_scales_macs_by_about_alpha_squared():
    a, b = MobileNetSpec.create(1.0, 224, 1001), MobileNetSpec.create(0.5, 224, 1001)
    assert b.macs / a.macs == pytest.approx(0.25, rel=0.06)


def test_slim_channel_rounding_has_a_floor_of_8():
    assert slim_channels(0.25)[:3] == (8, 16, 32)
    assert slim_channels(0.1)[:2] == (8, 8)
    assert slim_channels(1.0)[-1] == 1024


@pytest.mark.parametrize("res", [32, 33, 100, 129, 224, 300])
def test_any_resolution_gives_a_valid_table(res):
    for padding in ("tf", "keras", "torch"):
        spec = MobileNetSpec.create(0.35, res, 10, padding)
        assert spec.final_size >= 1
        for layer in spec.layers[:-1]:
            t, _, b, _ = layer.pads
            assert (layer.size_in + t + b - layer.k) // layer.stride + 1 == layer.size_out


def test_tf_same_pads_bottom_right_only_at_stride_2_on_even_sizes():
    layers = MobileNetSpec.create(1.0, 224, 1001, "tf").layers
    assert layers[0].pads == (0, 0, 1, 1)  # 224 -> 112
    assert layers[1].pads == (1, 1, 1, 1)  # stride 1
    torch_layers = MobileNetSpec.create(1.0, 224, 1001, "torch").layers
    assert torch_layers[0].pads == (1, 1, 1, 1)


def test_tf_same_on_odd_size_is_symmetric_and_keras_is_not():
    # 136 -> 68 -> 34 -> 17: block 6's depthwise (layer 11) sees 17 pixels at stride 2
    tf = MobileNetSpec.create(1.0, 136, 1001, "tf").layers[11]
    keras = MobileNetSpec.create(1.0, 136, 1001, "keras").layers[11]
    assert tf.size_in == keras.size_in == 17
    assert (tf.pads, tf.size_out) == ((1, 1, 1, 1), 9)
    assert (keras.pads, keras.size_out) == ((0, 0, 1, 1), 8)


def test_footprint_of_the_smallest_model_fits_a_microcontroller():
    foot = MobileNetSpec.create(0.25, 128, 1001).footprint_int8()
    assert foot["peak_activation_bytes"] == 64 * 64 * 8 + 64 * 64 * 16  # block 1 pointwise
    assert foot["weight_bytes"] < 1024 * 1024


def test_explain_compares_separable_with_standard_convolution():
    text = explain(MobileNetSpec.create(1.0, 224, 1001))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["layer", "in", "out"]
    block13 = next(line for line in lines if line.startswith("block 13"))
    # 7x7x1024 -> 1024: std 9*1024*1024*49 vs sep 9*1024*49 + 1024*1024*49
    std, sep = 9 * 1024 * 1024 * 49, 9 * 1024 * 49 + 1024 * 1024 * 49
    assert f"{sep:,}" in block13 and f"{std:,}" in block13
    assert f"{std / sep:.2f}" in block13
    assert "568.7M MACs" in text and "alpha^2" in text and "rho^2" in text


@pytest.mark.parametrize(("alpha", "res", "classes"), [(0, 224, 10), (1.0, 31, 10), (1, 224, 0)])
def test_invalid_specs_are_refused(alpha, res, classes):
    with pytest.raises(ValueError):
        MobileNetSpec.create(alpha, res, classes)
