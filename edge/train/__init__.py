"""edge-train: a few photos per class -> a model folder like edge-convert's, the new head
inside the int8 network.

- ``dataset``: DATA (one folder per class): listing, class names, saving an example
  (``edge-run --collect``), reading the photos the way the replay source does;
- ``views``: the augmentation views of a photo; ``embed``: the base's int8 network cut
  before its classifier, and the embedding cache;
- ``base``: the frozen backbone (kept quantization, or calibrated on DATA);
- ``heads``: imprinting, softmax regression, the unknown answer, the head in int8;
- ``evaluate``: cross-validation by photo, the unknown threshold, the confusion matrix;
- ``fuse``: the fp32, int8 and .tflite models with the head inside; ``report``; ``settings``
  (the flags); ``pipeline``, which runs the steps in order.

May import the shared core (``edge.model``, ``edge.preprocess``, ``edge.engines``, ...),
``edge.sources`` (the replay source reads DATA) and ``edge.convert`` (weights, the QDQ graph,
the exports); never ``edge.run``, ``edge.bench`` or ``edge.cli``.
"""

from edge.train.pipeline import TrainOptions, train

__all__ = ["TrainOptions", "train"]
