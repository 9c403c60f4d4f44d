"""Independent implementations of the architecture agree with our ONNX graph.

timm (PyTorch family: symmetric padding, 1000 classes) and keras.applications (TF family:
SAME / explicit bottom-right padding), each with its own random initialisation and randomised
batch-norm statistics so that folding is exercised, imported through our importers.
"""

import os

import numpy as np
import onnxruntime as ort
import pytest

from edge.convert import ConvertOptions, convert

from .timm_import import import_timm

pytestmark = pytest.mark.parity


def _ours(report, image):
    session = ort.InferenceSession(report["files"]["fp32"]["path"],
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"image": image})[0][0]


def _images(res, n=2, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(1, res, res, 3), dtype=np.uint8) for _ in range(n)]


def _randomise_bn(torch, model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            c = module.num_features
            module.weight.data = torch.rand(c, generator=gen) + 0.5
            module.bias.data = torch.randn(c, generator=gen) * 0.1
            module.running_mean.data = torch.randn(c, generator=gen) * 0.1
            module.running_var.data = torch.rand(c, generator=gen) + 0.5


def test_timm_mobilenetv1_100_state_dict_matches_within_1e_4(tmp_path):
    torch, timm = import_timm()
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model("mobilenetv1_100", pretrained=False).eval()
    _randomise_bn(torch, model)
    path = tmp_path / "mobilenetv1_100.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    report = convert(ConvertOptions(output=tmp_path / "out", weights=str(path), resolution=224),
                     log=lambda _: None)
    assert report["model"]["padding"] == "torch" and report["model"]["classes"] == 1000
    assert report["model"]["background_class"] is False
    for image in _images(224):
        # timm's mobilenetv1_100 normalises with mean = std = 0.5 on [0, 1] pixels
        x = torch.from_numpy(image).permute(0, 3, 1, 2).float() / 255.0
        with torch.no_grad():
            expected = model((x - 0.5) / 0.5)[0].numpy()
        got = _ours(report, image)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def _keras():
    pytest.importorskip("torch", reason="parity extra: pip install torch==2.13.0")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="parity extra: pip install keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras is on the {keras.backend.backend()} backend, tests need torch")
    return keras


def _published_layout(legacy, target):
    """Rewrite model.save('x.h5') as the published downloads are laid out: layer groups at
    the root and Keras 2 dataset names (``conv1/kernel:0``)."""
    import h5py

    with h5py.File(legacy, "r") as src, h5py.File(target, "w") as dst:
        weights = src["model_weights"]
        for layer in weights:
            if layer not in weights[layer]:  # layers without weights (ReLU, padding, ...)
                continue
            group = dst.create_group(layer)
            for name, ds in weights[layer][layer].items():
                key = "depthwise_kernel" if layer.startswith("conv_dw") and name == "kernel" \
                    else name
                group.create_dataset(f"{layer}/{key}:0", data=ds[()])


@pytest.mark.parametrize(("alpha", "res"), [(0.5, 160), (0.25, 136)])
def test_keras_applications_weights_match_in_all_three_layouts(tmp_path, alpha, res):
    keras = _keras()
    keras.utils.set_random_seed(1)
    model = keras.applications.MobileNet(weights=None, alpha=alpha, input_shape=(res, res, 3))
    rng = np.random.default_rng(2)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    logits_model = keras.Model(model.input, model.get_layer("reshape_2").output)
    legacy = tmp_path / "model.h5"
    model.save(legacy)
    model.save_weights(tmp_path / "model.weights.h5")
    _published_layout(legacy, tmp_path / "mobilenet_published_tf.h5")
    images = _images(res)
    expected = [logits_model.predict((im.astype(np.float32) / 127.5) - 1.0, verbose=0)[0]
                for im in images]
    for name in ("model.h5", "model.weights.h5", "mobilenet_published_tf.h5"):
        report = convert(ConvertOptions(output=tmp_path / name.replace(".", "_"),
                                        weights=str(tmp_path / name), resolution=res),
                         log=lambda _: None)
        assert report["model"]["padding"] == "keras"
        assert report["model"]["alpha"] == alpha and report["model"]["classes"] == 1000
        for image, want in zip(images, expected, strict=True):
            np.testing.assert_allclose(_ours(report, image), want, atol=1e-4, rtol=0,
                                       err_msg=name)
