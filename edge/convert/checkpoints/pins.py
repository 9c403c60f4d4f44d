"""sha256 of each published checkpoint we download by name: a download that does not match
is refused and nothing is cached. Where no publisher or independent pin exists (Keras's
MobileNet .h5 files, 15 of TensorFlow's 16 float TFLite archives), the name needs
``--sha256 HEX`` from the user: we never trust whatever arrives.

Sources (hashes of the downloaded file: the .tgz archive for tflite: names):
- tflite:*_quant: renesas-rz/meta-renesas-ai @ a5ec5b0e, recipes-benchmark/models/
  models-tensorflow-lite.bb, lines 119-152 (bitbake checks them on every fetch);
  1.0_224_quant also in tensorflow/tensorflow's workspace2.bzl (tflite_mobilenet_quant) and
  NXP's meta-imx; 0.5_128_quant also in STMicroelectronics/meta-st-stm32mpu-ai.
- tflite:1.0_224: tensorflow/tensorflow workspace2.bzl (tflite_mobilenet_float).
- timm:mobilenetv1_100: D-Robotics/rdk_model_zoo utils/tools/mobilenet/checkpoints.json, at
  Hugging Face revision 6e88b523 (the URL names that revision, so the file cannot move).
"""

from __future__ import annotations

PINNED: dict[str, str] = {
    "tflite:1.0_224_quant": "d32432d28673a936b2d6281ab0600c71cf7226dfe4cdcef3012555f691744166",
    "tflite:1.0_192_quant": "b87b20c784e756fb52e265cc31fbea5b3236c9a001205bc24ed27985875b4559",
    "tflite:1.0_160_quant": "b5c9da0d5215a1c1faab313f88ba0a900ac199c7af45f559ab65c63b0649bee1",
    "tflite:1.0_128_quant": "29aec24c721329b83ff667195431ff9151362ba1854dfc8852d03aef5ac40def",
    "tflite:0.75_224_quant": "6c40604a53edb295e6fd72ead340759db63a2e4d930593610f4d09efe17aa9b7",
    "tflite:0.75_192_quant": "8dc64937bd9f35dcf8d3baa16b8eda47e2473c3af51641bf309d1ed2b1a355af",
    "tflite:0.75_160_quant": "ed023a21c1fbb062a4777056f79910aab6137c9a83655317020faed6ad0ca738",
    "tflite:0.75_128_quant": "14cd0b9c5cde26272c68ecc50de054979663e28fb1fd0348166d408a8b45538f",
    "tflite:0.5_224_quant": "f61c28ab322a3ef441341431d33732ef79dfbf03ebc00769c12e5843573b2e9c",
    "tflite:0.5_192_quant": "b3b7aca2599c9a09f7ebeb3f624fc51bc4897b9356950b67a5f11c65666dab3d",
    "tflite:0.5_160_quant": "036ff1a53180f844ee629ae5846c2b18dfa94371c51c44016c70dc9688a34d31",
    "tflite:0.5_128_quant": "0a5b18571d3df4d85a5ac6cb5be829d141dd5855243ea04422ca7d19f730a506",
    "tflite:0.25_224_quant": "be8131a23c93a83d7d0b1875ac34aa2e06319aef377f89dc6be2e8f10a0589ca",
    "tflite:0.25_192_quant": "33f4ca5c5c7fb70f81a23ec06a884482ddcf5d26e32e4211781e110afb7a0877",
    "tflite:0.25_160_quant": "8aba0b905df472d994c1d923efa743c7dfe182df579e0440b8e78c8f714ddc98",
    "tflite:0.25_128_quant": "40230cd1a429a20cfd648f08f72b6d554ca8f4bff838341cb8210bd167962c0e",
    "tflite:1.0_224": "2fadeabb9968ec6833bee903900dda6e61b3947200535874ce2fe42a8493abc0",
    "timm:mobilenetv1_100": "15c2f1411deb8e0533acbb41fe9523062f80d444d0393e7ad2b429f41378efc3",
}
