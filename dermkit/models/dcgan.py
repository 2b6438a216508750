"""DCGAN generator and discriminator of bisla2019 (Table 2) and the coupled DCGAN (Table 5, Section 6.3).

Bisla et al., "Towards Automated Melanoma Detection with Deep Learning: Data Purification and Augmentation",
CVPR Workshops 2019.

* :func:`dcgan_generator` / :func:`dcgan_discriminator` — Table 2 ("de-coupled" DCGANs, one per scarce class,
  Section 3.3.2): every layer a 4×4 (transposed) convolution without bias; the generator's layers are followed
  by batch normalisation + ReLU except the last (tanh), the discriminator's by batch normalisation +
  LeakyReLU(0.2) except the last (sigmoid).
* :func:`coupled_dcgan` — Table 5: seven DCGANs coupled by weight sharing (Liu & Tuzel's CoGAN, the paper's
  ref. [23]): the generator's first four layers shared and its last three per class, the discriminator's first
  three layers per class and its last four shared.

Images enter and leave these networks in [−1, 1] (tanh); :class:`dermkit.training.gan.GANTrainer` converts
from and to dermkit's RGB in [0, 1].

Paddings: PyTorch's ``padding=1`` with kernel 4 and stride 2 is Keras' ``"same"`` (one pixel on each side,
output ×2 or ÷2); ``padding=0`` is ``"valid"``. Weights are drawn from N(0, 0.02), batch-normalisation γ from
N(1, 0.02) and β = 0 (DCGAN, Radford et al.); batch normalisation uses PyTorch's momentum 0.1 (Keras
``momentum=0.9``) and ε = 1e-5, as the authors' PyTorch code.

Differences from the table as printed, and from the authors' code (../shared/reference/bisla2019.md):

* Table 2 prints the discriminator's ``512×4×4`` layer with stride 1, but a 4×4 kernel with padding 1 on the
  8×8 input gives 4×4 only at stride 2 (stride 1 gives 7×7, and the last 4×4 convolution then 4×4, not
  1×1×1). dermkit follows the table's output sizes: stride 2.
* The captions put batch normalisation after every discriminator layer but the last; the authors' code omits
  it on the first layer (as the DCGAN paper does). dermkit follows the paper: batch normalisation on the first
  layer too.

Smaller images (``image_size`` 8 … 128, a power of two) keep Table 2's layers at the resolutions that remain:
the generator drops its highest-resolution stages and ends in the 3-channel tanh layer at ``image_size``
(at 64: 256×4, 128×8, 64×16, 32×32, then 3×64); the discriminator starts at ``image_size / 2`` with the width
Table 2 has there (at 64: 64×32, 128×16, 256×8, 512×4, then 1×1×1).
"""

from __future__ import annotations

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.models.dcgan")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = [
    "TABLE2_GENERATOR",
    "TABLE2_DISCRIMINATOR",
    "COUPLED_SHARED_UP_TO",
    "IMAGE_SIZES",
    "ClassPartition",
    "ClassStitch",
    "dcgan_generator",
    "dcgan_discriminator",
    "coupled_dcgan",
]

#: Table 2, generator: (output channels, output height = width) per layer, top to bottom.
TABLE2_GENERATOR: tuple[tuple[int, int], ...] = ((256, 4), (128, 8), (64, 16), (32, 32), (16, 64), (8, 128),
                                                 (3, 256))
#: Table 2, discriminator: (output channels, output height = width) per layer, top to bottom.
TABLE2_DISCRIMINATOR: tuple[tuple[int, int], ...] = ((16, 128), (32, 64), (64, 32), (128, 16), (256, 8),
                                                     (512, 4), (1, 1))
#: Table 5's split by resolution: the generator is shared up to this resolution (and per class above); the
#: discriminator is per class down to it (and shared below).
COUPLED_SHARED_UP_TO = 32
#: Supported ``image_size`` values (Table 2 defines widths up to 256).
IMAGE_SIZES = (8, 16, 32, 64, 128, 256)

_GEN_WIDTH = {res: ch for ch, res in TABLE2_GENERATOR[:-1]}  # resolution → channels of the hidden layers
_DISC_WIDTH = {res: ch for ch, res in TABLE2_DISCRIMINATOR[:-1]}
_BN_MOMENTUM = 0.9  # PyTorch momentum 0.1
_BN_EPSILON = 1e-5


def _check_size(image_size) -> int:
    if isinstance(image_size, bool) or image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES} (Table 2 resolutions). "
                         f"Received: image_size={image_size!r}")
    return int(image_size)


def _check_positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _kernel_init():
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def _bn(name: str, synchronized_bn: bool) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, synchronized=bool(synchronized_bn),
        gamma_initializer=keras.initializers.RandomNormal(mean=1.0, stddev=0.02), beta_initializer="zeros",
        name=name)


def _generator_stages(image_size: int) -> list[tuple[int, int]]:
    """(channels, output resolution) of every generator layer at ``image_size`` (last: 3 channels)."""
    hidden = [(_GEN_WIDTH[r], r) for r in sorted(_GEN_WIDTH) if r < image_size]
    return hidden + [(3, image_size)]


def _discriminator_stages(image_size: int) -> list[tuple[int, int]]:
    """(channels, output resolution) of every discriminator layer at ``image_size`` (last: 1×1×1)."""
    hidden = [(_DISC_WIDTH[r], r) for r in sorted(_DISC_WIDTH, reverse=True) if r < image_size]
    return hidden + [(1, 1)]


def _generator_layer(x, index: int, channels: int, resolution: int, *, last: bool, synchronized_bn: bool,
                     prefix: str = "g"):
    first = index == 0
    x = keras.layers.Conv2DTranspose(
        channels, 4, strides=1 if first else 2, padding="valid" if first else "same", use_bias=False,
        kernel_initializer=_kernel_init(), name=f"{prefix}{index}_tconv{resolution}")(x)
    if last:
        return keras.layers.Activation("tanh", dtype="float32", name=f"{prefix}{index}_tanh")(x)
    x = _bn(f"{prefix}{index}_bn", synchronized_bn)(x)
    return keras.layers.ReLU(name=f"{prefix}{index}_relu")(x)


def _discriminator_layer(x, index: int, channels: int, resolution: int, *, last: bool, synchronized_bn: bool,
                         prefix: str = "d"):
    x = keras.layers.Conv2D(
        channels, 4, strides=1 if last else 2, padding="valid" if last else "same", use_bias=False,
        kernel_initializer=_kernel_init(), name=f"{prefix}{index}_conv{resolution}")(x)
    if last:
        x = keras.layers.Activation("sigmoid", dtype="float32", name=f"{prefix}{index}_sigmoid")(x)
        return keras.layers.Flatten(name="d_probability")(x)
    x = _bn(f"{prefix}{index}_bn", synchronized_bn)(x)
    return keras.layers.LeakyReLU(negative_slope=0.2, name=f"{prefix}{index}_lrelu")(x)


def dcgan_generator(*, latent_dim: int = 10, image_size: int = 256, synchronized_bn: bool = False,
                    name: str = "dcgan_generator") -> keras.Model:
    """The de-coupled DCGAN generator of Table 2: ``z [B, latent_dim] → image [B, s, s, 3]`` in [−1, 1].

    Layers (at ``image_size=256``, Table 2): TransConv 4×4 stride 1 padding 0 on the 1×1 latent → 256×4×4,
    then TransConv 4×4 stride 2 padding 1 → 128×8×8, 64×16×16, 32×32×32, 16×64×64, 8×128×128, each followed
    by batch normalisation + ReLU, and TransConv 4×4 stride 2 padding 1 → 3×256×256 + tanh. No biases.

    Args:
        latent_dim: length of the latent vector z ~ N(0, I) (Section 3.3.2: 10).
        image_size: output height = width: 256 (Table 2) or a smaller power of two ≥ 8, which drops Table 2's
            highest-resolution stages (module docstring).
        synchronized_bn: ``True`` uses Keras' synchronized batch normalisation (statistics over the global
            batch under a ``tf.distribute`` strategy); default per-replica statistics.
        name: the model's name.

    Raises:
        ValueError: ``image_size`` not in :data:`IMAGE_SIZES`, ``latent_dim`` not a positive integer.
    """
    latent_dim = _check_positive("latent_dim", latent_dim)
    stages = _generator_stages(_check_size(image_size))
    z = keras.Input((latent_dim,), name="z")
    x = keras.layers.Reshape((1, 1, latent_dim), name="z_to_1x1")(z)
    for i, (channels, resolution) in enumerate(stages):
        x = _generator_layer(x, i, channels, resolution, last=i == len(stages) - 1, synchronized_bn=synchronized_bn)
    return keras.Model(z, x, name=name)


def dcgan_discriminator(*, image_size: int = 256, synchronized_bn: bool = False,
                        name: str = "dcgan_discriminator") -> keras.Model:
    """The de-coupled DCGAN discriminator of Table 2: ``image [B, s, s, 3]`` in [−1, 1] → ``P(real) [B, 1]``.

    Layers (at ``image_size=256``, Table 2): Conv 4×4 stride 2 padding 1 → 16×128×128, 32×64×64, 64×32×32,
    128×16×16, 256×8×8, 512×4×4 (stride 2: see the module docstring), each followed by batch normalisation +
    LeakyReLU(0.2), then Conv 4×4 stride 1 padding 0 → 1×1×1 + sigmoid. No biases.

    Args:
        image_size: input height = width (256, or a smaller power of two ≥ 8: the first layer then outputs
            ``image_size / 2`` with Table 2's width there).
        synchronized_bn, name: as for :func:`dcgan_generator`.

    Raises:
        ValueError: ``image_size`` not in :data:`IMAGE_SIZES`.
    """
    size = _check_size(image_size)
    stages = _discriminator_stages(size)
    image = keras.Input((size, size, 3), name="image")
    x = image
    for i, (channels, resolution) in enumerate(stages):
        x = _discriminator_layer(x, i, channels, resolution, last=i == len(stages) - 1,
                                 synchronized_bn=synchronized_bn)
    return keras.Model(image, x, name=name)


# ---------------------------------------------------------------------------------------------------------
# Coupled DCGAN: per-class heads that see only their class's samples
# ---------------------------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="dermkit")
class ClassPartition(keras.layers.Layer):
    """Split a batch by class: ``[x [B, ...], class_id int [B]] → [x_0, …, x_{C−1}]``, ``x_c`` the rows of
    class c in batch order (``tf.dynamic_partition``; an absent class gives an empty tensor).

    With :class:`ClassStitch` it routes each sample through its own class's head only (bisla2019 Table 5):
    no head computes on samples of another class. Class ids must lie in ``[0, num_classes)``.
    """

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = _check_positive("num_classes", num_classes)

    def call(self, inputs):
        x, labels = inputs
        return tf.dynamic_partition(x, tf.cast(labels, tf.int32), self.num_classes)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[0])
        return [(None, *shape[1:]) for _ in range(self.num_classes)]

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="dermkit")
class ClassStitch(keras.layers.Layer):
    """Inverse of :class:`ClassPartition`: ``[y_0, …, y_{C−1}, class_id [B]] → y [B, ...]`` in the original
    batch order (``tf.dynamic_stitch``)."""

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = _check_positive("num_classes", num_classes)

    def call(self, inputs):
        *parts, labels = inputs
        labels = tf.cast(labels, tf.int32)
        positions = tf.dynamic_partition(tf.range(tf.shape(labels)[0]), labels, self.num_classes)
        return tf.dynamic_stitch(positions, parts)

    def compute_output_shape(self, input_shape):
        return (None, *tuple(input_shape[0])[1:])

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def coupled_dcgan(*, num_classes: int = 7, latent_dim: int = 100, image_size: int = 256,
                  synchronized_bn: bool = False) -> tuple[keras.Model, keras.Model]:
    """The coupled DCGAN of Table 5 (bisla2019 Section 6.3): ``(generator, discriminator)``.

    * generator ``[z [B, latent_dim], class_id int32 [B]] → image [B, s, s, 3]`` in [−1, 1]: Table 2's layers;
      those up to 32×32 (at 256: the first four, 256×4 … 32×32) shared by every class, the rest (16×64,
      8×128, 3×256 + tanh) one copy per class.
    * discriminator ``[image [B, s, s, 3], class_id int32 [B]] → P(real) [B, 1]``: the layers down to 32×32
      (at 256: the first three, 16×128 … 64×32) one copy per class, the rest (128×16, 256×8, 512×4, 1×1×1 +
      sigmoid) shared.

    Each class's head sees only its class's samples (:class:`ClassPartition` / :class:`ClassStitch`), so its
    batch-normalisation statistics are its class's. Per-class layers are named ``g{c}_…`` / ``d{c}_…``
    prefixed ``c{c}_``.

    Args:
        num_classes: number of classes (ISIC 2018: 7).
        latent_dim: latent length (Section 6.3: 100).
        image_size: 256 (Table 5), or 64 / 128 (split by resolution as above; below 64 no generator layer
            would be per class).
        synchronized_bn: as for :func:`dcgan_generator`.

    Raises:
        ValueError: ``image_size`` not 64, 128 or 256; non-positive ``num_classes`` / ``latent_dim``.
    """
    num_classes = _check_positive("num_classes", num_classes)
    latent_dim = _check_positive("latent_dim", latent_dim)
    size = _check_size(image_size)
    if size <= COUPLED_SHARED_UP_TO:
        raise ValueError(f"coupled_dcgan needs image_size > {COUPLED_SHARED_UP_TO} (the generator is shared up "
                         f"to {COUPLED_SHARED_UP_TO}×{COUPLED_SHARED_UP_TO}). Received: image_size={image_size}")

    # Generator: shared trunk, then one head per class.
    g_stages = _generator_stages(size)
    z = keras.Input((latent_dim,), name="z")
    g_label = keras.Input((), dtype="int32", name="class_id")
    x = keras.layers.Reshape((1, 1, latent_dim), name="z_to_1x1")(z)
    n_shared = sum(1 for _, r in g_stages if r <= COUPLED_SHARED_UP_TO)
    for i, (channels, resolution) in enumerate(g_stages[:n_shared]):
        x = _generator_layer(x, i, channels, resolution, last=False, synchronized_bn=synchronized_bn)
    parts = ClassPartition(num_classes, name="g_partition")([x, g_label])
    outs = []
    for c in range(num_classes):
        y = parts[c]
        for i in range(n_shared, len(g_stages)):
            channels, resolution = g_stages[i]
            y = _generator_layer(y, i, channels, resolution, last=i == len(g_stages) - 1,
                                 synchronized_bn=synchronized_bn, prefix=f"c{c}_g")
        outs.append(y)
    image_out = ClassStitch(num_classes, name="g_stitch")([*outs, g_label])
    generator = keras.Model([z, g_label], image_out, name="coupled_dcgan_generator")

    # Discriminator: one head per class, then the shared trunk.
    d_stages = _discriminator_stages(size)
    image = keras.Input((size, size, 3), name="image")
    d_label = keras.Input((), dtype="int32", name="class_id")
    n_own = sum(1 for _, r in d_stages if r >= COUPLED_SHARED_UP_TO)
    parts = ClassPartition(num_classes, name="d_partition")([image, d_label])
    outs = []
    for c in range(num_classes):
        y = parts[c]
        for i in range(n_own):
            channels, resolution = d_stages[i]
            y = _discriminator_layer(y, i, channels, resolution, last=False, synchronized_bn=synchronized_bn,
                                     prefix=f"c{c}_d")
        outs.append(y)
    x = ClassStitch(num_classes, name="d_stitch")([*outs, d_label])
    for i in range(n_own, len(d_stages)):
        channels, resolution = d_stages[i]
        x = _discriminator_layer(x, i, channels, resolution, last=i == len(d_stages) - 1,
                                 synchronized_bn=synchronized_bn)
    discriminator = keras.Model([image, d_label], x, name="coupled_dcgan_discriminator")
    return generator, discriminator
