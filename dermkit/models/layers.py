"""Custom Keras layers shared by dermkit's model builders.

Every layer is registered (``package="dermkit"``) and returns its full constructor arguments from
``get_config``, so a model holding it saves to ``.keras`` and reloads with ``keras.saving.load_model`` in
safe mode without ``custom_objects``. dermkit uses no ``Lambda`` layers.
"""

from __future__ import annotations

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.models.layers")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["ImageNetPreprocess", "BilinearResizeTF1", "PREPROCESS_MODES"]

#: ``keras.applications`` preprocessing modes and the encoders that use them.
PREPROCESS_MODES = ("caffe", "torch", "tf")

# ImageNet statistics used by keras.applications.imagenet_utils.preprocess_input.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)  # on the 0..255 scale, BGR order
_TORCH_RGB_MEAN = (0.485, 0.456, 0.406)  # on the 0..1 scale, RGB order
_TORCH_RGB_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="dermkit")
class ImageNetPreprocess(keras.layers.Layer):
    """ImageNet input preprocessing of an encoder, as a layer (so the model takes RGB in [0, 1]).

    Input: RGB float ``[B, H, W, 3]`` in [0, 1]. Output: what
    ``keras.applications.<encoder>.preprocess_input(x * 255)`` returns for the encoder's mode:

    - ``"caffe"`` (VGG16, ResNet50): RGB → BGR, then subtract the BGR means (103.939, 116.779, 123.68)
      on the 0..255 scale; no scaling.
    - ``"torch"`` (DenseNet121): ``(x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]``, RGB order.
    - ``"tf"`` (InceptionResNetV2): ``x * 2 - 1``.
    """

    def __init__(self, mode: str = "caffe", **kwargs):
        """Args:
            mode: one of ``"caffe"``, ``"torch"``, ``"tf"``. Default ``"caffe"``.
            **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

        Raises:
            ValueError: ``mode`` is not one of the three.
        """
        if mode not in PREPROCESS_MODES:
            raise ValueError(f"mode must be one of {PREPROCESS_MODES}. Received: mode={mode!r}")
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, inputs):
        x = keras.ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            x = keras.ops.flip(x, axis=-1) * 255.0
            return x - keras.ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=self.compute_dtype)
        if self.mode == "torch":
            mean = keras.ops.convert_to_tensor(_TORCH_RGB_MEAN, dtype=self.compute_dtype)
            std = keras.ops.convert_to_tensor(_TORCH_RGB_STD, dtype=self.compute_dtype)
            return (x - mean) / std
        return x * 2.0 - 1.0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config


@keras.saving.register_keras_serializable(package="dermkit")
class BilinearResizeTF1(keras.layers.Layer):
    """Bilinear resize with TF1 semantics (``align_corners=False``, no half-pixel centres).

    ``tf.compat.v1.image.resize_bilinear(x, size, align_corners=False, half_pixel_centers=False)``: source
    coordinate = destination coordinate × (in_size / out_size). This is what Keras 2 / TF1 models such as
    kawahara2018's used; ``keras.layers.Resizing`` and TF2 ``tf.image.resize`` use half-pixel centres and
    give different numbers for the same weights (reference/keras3.md).

    Called either on ``[x, reference]`` (``x`` is resized to ``reference``'s spatial size, which may be
    dynamic) or, with ``size=(H, W)`` set, on ``x`` alone. NHWC; the output keeps ``x``'s dtype.
    """

    def __init__(self, size: tuple[int, int] | None = None, **kwargs):
        """Args:
            size: fixed output ``(height, width)``; ``None`` (default) resizes to the spatial size of the
                second input.
            **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

        Raises:
            ValueError: ``size`` is not two positive integers.
        """
        if size is not None:
            size = tuple(size)
            if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
                raise ValueError(f"size must be None or two positive integers (H, W). Received: size={size!r}")
        super().__init__(**kwargs)
        self.size = size

    def _split(self, inputs):
        if self.size is None:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError(
                    f"{self.name}: without a fixed size, call on [x, reference]. Received: {inputs!r}"
                )
            return inputs[0], inputs[1]
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 1:
                raise ValueError(f"{self.name}: with size={self.size}, call on x alone. Received: {inputs!r}")
            inputs = inputs[0]
        return inputs, None

    def call(self, inputs):
        x, reference = self._split(inputs)
        if reference is None:
            size = self.size
        else:
            static = reference.shape[1:3]
            if all(s is not None for s in static):
                size = tuple(int(s) for s in static)
            else:
                size = tf.shape(reference)[1:3]
        # The op behind tf.compat.v1.image.resize_bilinear, called directly (no deprecation warning).
        y = tf.raw_ops.ResizeBilinear(
            images=x, size=tf.cast(size, tf.int32), align_corners=False, half_pixel_centers=False
        )
        return tf.cast(y, x.dtype)

    def compute_output_shape(self, input_shape):
        if self.size is None:
            x_shape, ref_shape = input_shape
            return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])
        x_shape = input_shape
        if isinstance(x_shape, (list, tuple)) and x_shape and isinstance(x_shape[0], (list, tuple)):
            x_shape = x_shape[0]
        return (x_shape[0], self.size[0], self.size[1], x_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"size": None if self.size is None else list(self.size)})
        return config


import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered with Keras)
