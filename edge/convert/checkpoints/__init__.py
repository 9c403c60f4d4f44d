"""Where weights come from: a file by content or a published name (``download``, with the
checksums in ``pins``), and one reader per format: TensorFlow's TFLite files (``tflite``, and
their own quantization, ``tflite_quantization``), Keras ``.h5`` (``keras``), timm state dicts
(``timm``). Every reader returns :class:`edge.convert.weights.Weights`.
"""

from edge.convert.checkpoints.download import load_weights

__all__ = ["load_weights"]
