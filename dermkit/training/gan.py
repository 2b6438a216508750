"""The GAN trainer: a ``keras.Model`` with a two-optimiser ``train_step`` (bisla2019 Sections 3.3.2 and 6.3).

:class:`GANTrainer` follows the keras-io DCGAN example (``compile(d_optimizer, g_optimizer)`` +
``train_step`` with ``tf.GradientTape``) on the TensorFlow backend and trains through ``model.fit`` — so the
experiment engine's ``RunSession.fit`` (crash-safe backups, NaN stop, history) serves it unchanged.

One step (the DCGAN recipe and the authors' ``Generator/main.py``; Goodfellow et al.'s non-saturating
generator loss):

1. noise ``z ~ N(0, I)`` for the global batch from a seeded :class:`keras.random.SeedGenerator`, and one
   generator pass ``G(z)`` (its graph kept for step 3, as ``main.py`` reuses ``fake_img``);
2. one discriminator update on ``BCE(D(real), 1 − s) + BCE(D(G(z)), 0)``, each term the mean over its batch
   (``s``: one-sided label smoothing, Salimans et al. 2016 — the paper's stabilisation reference [30]; default
   0, the authors' ``real_label = 1``);
3. one generator update on ``BCE(D(G(z)), 1)`` with the same ``G(z)`` and the updated discriminator;
4. in epochs chosen by :class:`ExtraGeneratorSteps`, more generator updates on fresh noise.

By default (``compile(joint_batch=False)``) the discriminator sees the real batch and the generated batch in
two separate calls, as DCGAN and ``main.py`` (``Des(real_img)``, then ``Des(fake_img.detach())``), so batch
normalisation normalises each batch by its own statistics; the generator updates of steps 3–4 call it on the
generated batch alone. The paper (Table 2: batch normalisation on the discriminator's first layer) is silent
on this; dermkit follows the authors' code. ``compile(joint_batch=True)`` keeps the earlier variant
(bisla2019 rows of VERSION ≤ 2; the keras-io DCGAN example's "real + generated" batch): one discriminator
call on the concatenated batch in step 2, and in steps 3–4 too (a second generator pass there; only the
generated half enters the loss) — with batch statistics over both halves, a global colour difference between
real and generated images stays visible to the discriminator's first (bias-free, batch-normalised) layer.

Losses are means over the global batch (per-replica sums divided by the global batch, so gradients summed
over replicas are the one-device gradients). Metrics: ``d_loss``, ``g_loss`` (of steps 2 and 3),
``d_real_accuracy`` (share of real images with ``D > 0.5``) and ``d_fake_accuracy`` (share of generated
images with ``D < 0.5``).

Coupled training (``num_classes`` set, Table 5): batches carry class ids; the generated half of the step has
the real half's class composition (``b`` generated images of every class when the real batch holds ``b`` of
every class, :func:`dermkit.data.gan_data.gan_dataset`), and every image goes through its class's heads.

Distribution (``tf.distribute.MirroredStrategy``): build the networks, the trainer and both optimisers in
the strategy scope (``RunSession`` does). The noise is drawn for the whole global batch on every replica and
each replica takes its slice, so the images of a run do not depend on the replica count; with
``synchronized_bn=True`` a step equals the one-device step on the same global batch.

Resuming: the trainer's weights (``save_weights``, the engine's crash-safe backups) hold both networks, both
optimisers and the training noise's position; with :class:`SamplerEpoch` on the batch sampler a resumed run
continues exactly as an uninterrupted one. :class:`ResumableEarlyStopping` and :class:`ExtraGeneratorSteps`
read the epoch number, so they resume too.

Images: the trainer receives RGB float in [0, 1] and feeds the networks [−1, 1]; integer images (uint8
0–255) are refused, not converted (the batch's dtype says nothing of its range once cast; dermkit's pipelines
and :func:`dermkit.data.gan_data.gan_dataset` give float32 in [0, 1]), and so are images of another size
than the discriminator's input. :meth:`GANTrainer.generate` and :func:`generate_images` return RGB float32 in
[0, 1]; :meth:`GANTrainer.save_generated` refuses a generator whose output is not finite.

Non-finite losses: ``fit`` adds :class:`dermkit.training.checkpoints.TerminateOnNonFinite` unless the caller
passes one (the engine does): a NaN or infinite ``d_loss``/``g_loss`` stops training, warns with the loss, the
epoch and the batch, and leaves the message in :attr:`GANTrainer.stopped_by`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dermkit._io import atomic_write_text
from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.training.gan")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = [
    "GANTrainer",
    "ExtraGeneratorSteps",
    "SampleGrid",
    "ChannelStatsDistance",
    "ResumableEarlyStopping",
    "SamplerEpoch",
    "latent_noise",
    "generate_images",
    "sample_grid",
]


# ---------------------------------------------------------------------------------------------------------
# Generation (also for a reloaded generator alone)
# ---------------------------------------------------------------------------------------------------------
def latent_noise(n: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    """``float32 [n, latent_dim]`` standard-normal latent vectors, a pure function of ``(seed, n)``: row i is
    the same for every ``n > i`` and for every class (Fig. 12: "images in the same row are generated from the
    same random latent vector")."""
    rng = np.random.default_rng(int(seed))
    return rng.standard_normal((int(n), int(latent_dim)), dtype=np.float64).astype(np.float32)


def _num_classes_of(generator: keras.Model) -> int | None:
    from dermkit.models.dcgan import ClassPartition

    for layer in generator.layers:
        if isinstance(layer, ClassPartition):
            return layer.num_classes
    return None


def _check_class_id(class_id, num_classes: int | None) -> int | None:
    if num_classes is None:
        if class_id not in (None, 0):
            raise ValueError(f"this generator has one class; class_id must be None. Received: class_id={class_id!r}")
        return None
    if class_id is None:
        raise ValueError(f"a coupled generator makes {num_classes} classes: pass class_id in [0, {num_classes})")
    if isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer)) or not 0 <= class_id < num_classes:
        raise ValueError(f"class_id must be an integer in [0, {num_classes}). Received: class_id={class_id!r}")
    return int(class_id)


def generate_images(generator: keras.Model, n: int, *, class_id: int | None = None, seed: int = 0,
                    batch_size: int = 64, check_finite: bool = False) -> np.ndarray:
    """``n`` images from a DCGAN generator (:mod:`dermkit.models.dcgan`, trained or reloaded with
    :func:`dermkit.load_model`): ``float32 [n, H, W, 3]`` RGB in [0, 1], from :func:`latent_noise` ``(n, seed)``.

    Args:
        generator: ``z → image`` in [−1, 1], or a coupled generator ``[z, class_id] → image``.
        n: number of images (≥ 0).
        class_id: the class for a coupled generator (required there); None for a single-class one.
        seed: noise seed: the same seed gives the same images (and, coupled, the same z for every class).
        batch_size: images per forward pass.
        check_finite: refuse a generator output holding NaN or ±inf (checked before the clip to [0, 1], which
            would turn ±inf into valid-looking pixels); off by default (a diverged generator can be inspected).

    Raises:
        ValueError: a bad ``n``, ``class_id`` or ``batch_size``; with ``check_finite``, a non-finite output.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer. Received: n={n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    num_classes = _num_classes_of(generator)
    class_id = _check_class_id(class_id, num_classes)
    latent_dim = int(generator.inputs[0].shape[-1])
    z = latent_noise(int(n), latent_dim, seed)
    shape = tuple(int(d) for d in generator.outputs[0].shape[1:])
    out = np.empty((int(n), *shape), np.float32)
    for start in range(0, int(n), int(batch_size)):
        chunk = z[start:start + batch_size]
        inputs = chunk if num_classes is None else [chunk, np.full(len(chunk), class_id, np.int32)]
        images = keras.ops.convert_to_numpy(generator(inputs, training=False))
        out[start:start + len(chunk)] = images
    if check_finite:
        bad = ~np.isfinite(out.reshape(len(out), -1)).all(axis=1)
        if bad.any():
            raise ValueError(f"generator {generator.name!r}: {int(bad.sum())} of {int(n)} generated images hold NaN "
                             f"or infinite values (first: image {int(np.flatnonzero(bad)[0])}); the generator has "
                             "diverged — nothing written")
    return np.clip((out + 1.0) / 2.0, 0.0, 1.0)


def sample_grid(rows: Sequence[np.ndarray], *, pad: int = 2) -> np.ndarray:
    """Tile rows of images (each ``[k, H, W, 3]`` in [0, 1]) into one ``uint8 [R·(H+pad)+pad, …, 3]`` grid
    with a white ``pad``-pixel border."""
    rows = [np.asarray(r) for r in rows]
    if not rows or any(r.ndim != 4 or r.shape[1:] != rows[0].shape[1:] for r in rows):
        raise ValueError("sample_grid needs one or more [k, H, W, 3] arrays of one image size")
    k = max(len(r) for r in rows)
    h, w = rows[0].shape[1:3]
    grid = np.full((len(rows) * (h + pad) + pad, k * (w + pad) + pad, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            grid[y:y + h, x:x + w] = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    return grid


# ---------------------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------------------
def _per_sample_loss(loss):
    """A function ``(y_true [B, 1], y_pred [B, 1]) → [B]`` from ``loss`` (a Keras loss or a function)."""
    if loss is None:
        loss = keras.losses.BinaryCrossentropy()
    if isinstance(loss, keras.losses.Loss):
        return loss, loss.call  # Loss.call gives the unreduced per-sample values
    if callable(loss):
        return loss, loss
    raise TypeError(f"loss must be a keras.losses.Loss, a function or None. Received: {type(loss).__name__}")


@keras.saving.register_keras_serializable(package="dermkit")
class GANTrainer(keras.Model):
    """Adversarial training of a generator and a discriminator (module docstring): ``fit`` on batches of real
    images ``x`` (RGB in [0, 1]) or ``(x, class_id)``.

    Args:
        generator: ``z [B, latent_dim] → image [B, H, W, 3]`` in [−1, 1] (:func:`dermkit.models.dcgan_generator`),
            or ``[z, class_id] → image`` when ``num_classes`` is set (:func:`dermkit.models.coupled_dcgan`).
        discriminator: ``image → P(real) [B, 1]`` (a sigmoid output), or ``[image, class_id] → P(real)``.
        latent_dim: the generator's latent length.
        num_classes: None (one class; labels in the batches are ignored) or the coupled model's class count.
        seed: seed of the training noise (:class:`keras.random.SeedGenerator`); None draws it from the global
            seed (``keras.utils.set_random_seed``, which the engine sets per row).

    Raises:
        ValueError: the networks' inputs do not match ``latent_dim`` / ``num_classes``.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, *, latent_dim: int,
                 num_classes: int | None = None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        coupled_g, coupled_d = len(generator.inputs) == 2, len(discriminator.inputs) == 2
        if num_classes is None and (coupled_g or coupled_d):
            raise ValueError("the networks take class ids (a coupled DCGAN): pass num_classes")
        if num_classes is not None and not (coupled_g and coupled_d):
            raise ValueError(f"num_classes={num_classes} needs a generator and a discriminator that take "
                             "[input, class_id] (dermkit.models.coupled_dcgan)")
        if int(generator.inputs[0].shape[-1]) != int(latent_dim):
            raise ValueError(f"latent_dim={latent_dim} but the generator takes z of length "
                             f"{generator.inputs[0].shape[-1]}")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.seed = seed
        self.noise = keras.random.SeedGenerator(seed, name="gan_noise")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_accuracy = keras.metrics.Mean(name="d_real_accuracy")
        self.d_fake_accuracy = keras.metrics.Mean(name="d_fake_accuracy")
        self.extra_generator_steps = 0
        self._train_functions: dict[int, object] = {}
        self.label_smoothing = 0.0
        self.joint_batch = False
        self.stopped_by: str | None = None
        self.built = True  # the networks are built; a model without call() must say so (keras-team/keras#20164)

    # -- compile -----------------------------------------------------------------------------------------
    def compile(self, d_optimizer, g_optimizer, loss=None, label_smoothing: float = 0.0, *,
                joint_batch: bool = False, **kwargs):
        """Set the two optimisers (built here on their networks' variables, so a backup loads before ``fit``),
        the loss and the discriminator's batching.

        Args:
            d_optimizer, g_optimizer: the discriminator's and the generator's optimisers.
            loss: a Keras loss or a function on the sigmoid outputs; default
                ``keras.losses.BinaryCrossentropy()`` (the authors' ``nn.BCELoss``).
            label_smoothing: one-sided smoothing of the real targets (``1 − label_smoothing``), in [0, 1);
                default 0 (the paper's rows: the authors' ``real_label = 1``).
            joint_batch: False (default; DCGAN and the authors' code): the discriminator sees the real and the
                generated batch in separate calls; True: one call on the concatenated batch (module docstring).
            kwargs: ``Model.compile``'s (``jit_compile``, ``steps_per_execution``...).

        Raises:
            ValueError: ``label_smoothing`` outside [0, 1); TypeError: ``joint_batch`` not a bool.
        """
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1). Received: label_smoothing={label_smoothing!r}")
        if not isinstance(joint_batch, bool):
            raise TypeError(f"joint_batch must be True or False. Received: joint_batch={joint_batch!r}")
        kwargs.pop("optimizer", None)
        super().compile(optimizer=None, **kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn, self._loss_per_sample = _per_sample_loss(loss)
        self.label_smoothing = float(label_smoothing)
        self.joint_batch = joint_batch
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)
        self._train_functions = {}

    # -- fit: the non-finite-loss stop -------------------------------------------------------------------
    def fit(self, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``, plus :class:`~dermkit.training.checkpoints.TerminateOnNonFinite` unless
        ``callbacks`` holds one: a non-finite loss stops training with a :class:`RuntimeWarning` naming the
        loss, the epoch and the batch (also in :attr:`stopped_by`; None when training ended normally)."""
        from dermkit.training.checkpoints import TerminateOnNonFinite

        callbacks = list(callbacks or [])
        own = None
        if not any(isinstance(c, TerminateOnNonFinite) for c in callbacks):
            own = TerminateOnNonFinite()
            callbacks.append(own)
        self.stopped_by = None
        history = super().fit(*args, callbacks=callbacks, **kwargs)
        if own is not None and own.stopped:
            import warnings

            self.stopped_by = own.stopped
            warnings.warn(f"{self.name}: training stopped: non-finite {own.stopped}", RuntimeWarning, stacklevel=2)
        return history

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_accuracy, self.d_fake_accuracy]

    # -- one step ----------------------------------------------------------------------------------------
    def _unpack(self, data):
        if isinstance(data, (tuple, list)):
            real = data[0]
            labels = data[1] if len(data) > 1 else None
        else:
            real, labels = data, None
        if self.num_classes is not None:
            if labels is None:
                raise ValueError("a coupled GANTrainer trains on (image, class_id) batches "
                                 "(dermkit.data.gan_data.gan_dataset)")
            labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        real = tf.convert_to_tensor(real)
        if not real.dtype.is_floating:
            raise TypeError(f"{self.name}: GANTrainer trains on RGB float images in [0, 1]; the batches hold "
                            f"{real.dtype.name} images (divide uint8 images by 255, or build the batches with "
                            "dermkit.data.gan_data.gan_dataset)")
        expected = tuple(self.discriminator.inputs[0].shape[1:])
        if real.shape.rank is not None and (real.shape.rank != 4 or any(
                a is not None and b is not None and a != b for a, b in zip(tuple(real.shape[1:]), expected))):
            raise ValueError(f"{self.name}: the discriminator was built for images of shape {expected} (H, W, C); "
                             f"the batches hold images of shape {tuple(real.shape[1:])} — resize them (gan_dataset("
                             f"image_size={expected[0]})) or build the GAN for that size")
        return tf.cast(real, "float32") * 2.0 - 1.0, labels

    def _global_noise(self, local: tf.Tensor) -> tf.Tensor:
        """This replica's slice of noise drawn for the global batch (identical on every replica)."""
        ctx = tf.distribute.get_replica_context()
        replicas = 1 if ctx is None else ctx.num_replicas_in_sync
        z = keras.random.normal((local * replicas, self.latent_dim), seed=self.noise)
        if replicas == 1:
            return z
        start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * local
        return z[start:start + local]

    def _g_inputs(self, z, labels):
        return z if self.num_classes is None else [z, labels]

    def _d_inputs(self, x, labels):
        return x if self.num_classes is None else [x, labels]

    def _sum_loss(self, target: float, prob: tf.Tensor) -> tf.Tensor:
        prob = tf.cast(prob, "float32")
        return tf.reduce_sum(self._loss_per_sample(tf.fill(tf.shape(prob), target), prob))

    def _discriminate_joint(self, real, fake, labels):
        """``(D(real), D(fake))`` from one discriminator call on the joint batch (``joint_batch=True``)."""
        both = tf.concat([real, tf.cast(fake, real.dtype)], axis=0)
        both_labels = None if labels is None else tf.concat([labels, labels], axis=0)
        prob = self.discriminator(self._d_inputs(both, both_labels), training=True)
        n = tf.shape(real)[0]
        return prob[:n], prob[n:]

    def _generator_update(self, real, z, labels, global_batch):
        """One generator update on fresh ``G(z)``: ``D(G(z))`` alone, or (joint) the generated half of
        ``D([real, G(z)])``."""
        with tf.GradientTape() as tape:
            fake = self.generator(self._g_inputs(z, labels), training=True)
            if self.joint_batch:
                _, prob = self._discriminate_joint(real, fake, labels)
            else:
                prob = self.discriminator(self._d_inputs(fake, labels), training=True)
            g_loss = self._sum_loss(1.0, prob) / global_batch
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply(grads, self.generator.trainable_variables)
        return g_loss

    def _d_loss(self, p_real, p_fake, global_batch):
        """``BCE(D(real), 1 − s) + BCE(D(fake), 0)``, each the mean over the global batch."""
        return (self._sum_loss(1.0 - self.label_smoothing, p_real) + self._sum_loss(0.0, p_fake)) / global_batch

    def _joint_step(self, real, z, labels, global_batch):
        fake = tf.stop_gradient(self.generator(self._g_inputs(z, labels), training=True))
        with tf.GradientTape() as tape:
            p_real, p_fake = self._discriminate_joint(real, fake, labels)
            d_loss = self._d_loss(p_real, p_fake, global_batch)
        grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
        self.d_optimizer.apply(grads, self.discriminator.trainable_variables)
        g_loss = self._generator_update(real, z, labels, global_batch)
        return d_loss, g_loss, p_real, p_fake

    def _separate_step(self, real, z, labels, global_batch):
        """Steps 1–3 of the module docstring as ``main.py``: one ``G(z)``, D on real and on generated apart."""
        with tf.GradientTape() as g_tape:
            fake = self.generator(self._g_inputs(z, labels), training=True)
            with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                p_real = self.discriminator(self._d_inputs(real, labels), training=True)
                p_fake = self.discriminator(self._d_inputs(tf.stop_gradient(fake), labels), training=True)
                d_loss = self._d_loss(p_real, p_fake, global_batch)
            with g_tape.stop_recording():
                grads = d_tape.gradient(d_loss, self.discriminator.trainable_variables)
                self.d_optimizer.apply(grads, self.discriminator.trainable_variables)
            p_gen = self.discriminator(self._d_inputs(fake, labels), training=True)
            g_loss = self._sum_loss(1.0, p_gen) / global_batch
        grads = g_tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply(grads, self.generator.trainable_variables)
        return d_loss, g_loss, p_real, p_fake

    def train_step(self, data):
        real, labels = self._unpack(data)
        local = tf.shape(real)[0]
        ctx = tf.distribute.get_replica_context()
        replicas = 1 if ctx is None else ctx.num_replicas_in_sync
        global_batch = tf.cast(local * replicas, "float32")
        z = self._global_noise(local)
        step = self._joint_step if self.joint_batch else self._separate_step
        d_loss, g_loss, p_real, p_fake = step(real, z, labels, global_batch)
        for _ in range(int(self.extra_generator_steps)):  # unrolled: no synchronisation inside control flow
            self._generator_update(real, self._global_noise(local), labels, global_batch)
        # Trackers average over replicas: give each the replica's own mean (= global mean × replicas / replicas).
        self.d_loss_tracker.update_state(d_loss * replicas)
        self.g_loss_tracker.update_state(g_loss * replicas)
        self.d_real_accuracy.update_state(tf.cast(tf.cast(p_real, "float32") > 0.5, "float32"))
        self.d_fake_accuracy.update_state(tf.cast(tf.cast(p_fake, "float32") < 0.5, "float32"))
        return {m.name: m.result() for m in self.metrics}

    # -- extra generator steps ---------------------------------------------------------------------------
    def set_extra_generator_steps(self, steps: int) -> None:
        """Run ``steps`` more generator updates after each training step from the next batch on (a separate
        compiled step per value, cached: switching costs one trace per value)."""
        steps = int(steps)
        if steps < 0:
            raise ValueError(f"steps must be >= 0. Received: {steps}")
        if steps == self.extra_generator_steps:
            return
        if self.train_function is not None:
            self._train_functions[self.extra_generator_steps] = self.train_function
        self.extra_generator_steps = steps
        self.train_function = self._train_functions.get(steps)
        if self.train_function is None:
            self.make_train_function(force=True)

    # -- generation --------------------------------------------------------------------------------------
    def generate(self, n: int, *, class_id: int | None = None, seed: int = 0,
                 check_finite: bool = False) -> np.ndarray:
        """``float32 [n, H, W, 3]`` RGB in [0, 1] from the generator (:func:`generate_images`)."""
        return generate_images(self.generator, n, class_id=class_id, seed=seed, check_finite=check_finite)

    def save_generated(self, out_dir: str | os.PathLike, n: int, *, class_id: int | None = None, seed: int = 0,
                       overwrite: bool = False, label: int | None = None, class_name: str | None = None) -> Path:
        """Write ``n`` generated images as ``out_dir/GEN_<class>_<index>.png`` and ``out_dir/manifest.csv``
        (``image_id, image_path, label, seed``; paths relative to ``out_dir``), read back by
        :func:`dermkit.data.gan_data.read_generated_manifest` as an extra training source.

        The folder is written whole under a temporary name and renamed into place: never half written.

        Args:
            out_dir: the folder (created; must not exist unless ``overwrite``).
            n, class_id, seed: as for :meth:`generate`.
            overwrite: replace an existing ``out_dir``.
            label: the manifest's label (the class index in the classifier's label space); default
                ``class_id`` (0 for a single-class generator).
            class_name: ``<class>`` in the file names; default the label.

        Returns:
            The manifest's path.

        Raises:
            FileExistsError: ``out_dir`` exists and ``overwrite`` is False.
            ValueError: the generator's output is not finite (a diverged generator): nothing is written.
        """
        out_dir = Path(out_dir)
        if out_dir.exists() and not overwrite:
            raise FileExistsError(f"{out_dir} already exists; pass overwrite=True to replace it")
        label = int(label if label is not None else (class_id or 0))
        name = str(class_name if class_name is not None else label)
        if not name or any(ch in name for ch in "/\\ "):
            raise ValueError(f"class_name must be a plain word for a file name. Received: {class_name!r}")
        images = self.generate(n, class_id=class_id, seed=seed, check_finite=True)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            from dermkit.data.imageio import write_png

            width = max(5, len(str(max(int(n) - 1, 0))))
            rows = []
            for i, image in enumerate(images):
                image_id = f"GEN_{name}_{i:0{width}d}"
                write_png(tmp / f"{image_id}.png", np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8))
                rows.append(f"{image_id},{image_id}.png,{label},{int(seed)}")
            atomic_write_text(tmp / "manifest.csv", "image_id,image_path,label,seed\n" + "".join(
                r + "\n" for r in rows))
            if out_dir.exists():
                trash = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
                os.replace(out_dir, trash)
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(tmp, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return out_dir / "manifest.csv"

    # -- saving ------------------------------------------------------------------------------------------
    def _own_state(self) -> list:
        # Keras does not save a SeedGenerator's state with the weights: keep the training noise's position in
        # the trainer's own variables, so a run resumed from a backup draws the noise it would have drawn.
        return [*self._trainable_variables, *self._non_trainable_variables, self.noise.state]

    def save_own_variables(self, store):
        for i, variable in enumerate(self._own_state()):
            store[f"{i}"] = variable

    def load_own_variables(self, store):
        own = self._own_state()
        if len(store.keys()) != len(own):
            raise ValueError(f"{self.name}: the weights file holds {len(store.keys())} trainer variables, expected "
                             f"{len(own)} (the training-noise state)")
        for i, variable in enumerate(own):
            variable.assign(store[f"{i}"])

    def get_config(self):
        return {"name": self.name, "latent_dim": self.latent_dim, "num_classes": self.num_classes,
                "seed": self.seed,
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        discriminator = keras.saving.deserialize_keras_object(config.pop("discriminator"))
        return cls(generator, discriminator, **config)


# ---------------------------------------------------------------------------------------------------------
# Callbacks: stabilisation, monitoring, sample grids
# ---------------------------------------------------------------------------------------------------------
class ExtraGeneratorSteps(keras.callbacks.Callback):
    """``steps`` extra generator updates per batch in every ``every``-th epoch (epochs every, 2·every, … counted
    from 1): bisla2019 Section 3.3.2, "two rounds of additional generator training after every 10th round of
    joint training". Stateless across resumes (it reads the epoch number ``fit`` passes)."""

    def __init__(self, every: int = 10, steps: int = 2):
        super().__init__()
        for name, value in (("every", every), ("steps", steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        self.every, self.steps = int(every), int(steps)

    def steps_for_epoch(self, epoch: int) -> int:
        """Extra generator updates per batch in 0-based ``epoch``."""
        return self.steps if (int(epoch) + 1) % self.every == 0 else 0

    def on_epoch_begin(self, epoch, logs=None):
        self.model.set_extra_generator_steps(self.steps_for_epoch(epoch))

    def on_train_end(self, logs=None):
        self.model.set_extra_generator_steps(0)


class ChannelStatsDistance(keras.callbacks.Callback):
    """Log ``name`` (default ``"stats_distance"``) at each epoch end: the distance between the per-channel mean
    and standard deviation of ``n`` generated images (fixed noise ``seed``) and of the real images
    (:func:`dermkit.metrics.novelty.channel_stats_distance`); the mean over classes for a coupled GAN.

    Args:
        real: ``{class_id: float [N, H, W, 3] in [0, 1]}`` (``{None: images}`` for one class), or one array.
        n: generated images per class. seed: their noise seed. name: the log key.
    """

    def __init__(self, real, *, n: int = 128, seed: int = 12345, name: str = "stats_distance"):
        super().__init__()
        from dermkit.metrics.novelty import channel_stats

        if not isinstance(real, dict):
            real = {None: real}
        self.real_stats = {k: channel_stats(v) for k, v in real.items()}
        self.n, self.seed, self.name = int(n), int(seed), name
        self.history: list[float] = []

    def per_class(self, model) -> dict:
        """``{class_id: distance}`` for the trainer's generator now."""
        from dermkit.metrics.novelty import channel_stats_distance

        return {k: channel_stats_distance(model.generate(self.n, class_id=k, seed=self.seed), stats)
                for k, stats in self.real_stats.items()}

    def distance(self, model) -> float:
        """The mean over classes of :meth:`per_class`."""
        return float(np.mean(list(self.per_class(model).values())))

    def on_epoch_end(self, epoch, logs=None):
        value = self.distance(self.model)
        self.history.append(value)
        if logs is not None:
            logs[self.name] = value


class SampleGrid(keras.callbacks.Callback):
    """Write a sample grid PNG at the end of every ``every``-th epoch: ``out_dir/epoch-NNNN.png``, one row per
    class (``class_ids``; one row for a single-class GAN), ``n`` images per row from fixed noise ``seed``
    (the same latent vectors in every row and every epoch). Files are written atomically; an epoch repeated
    after a resume rewrites its own file."""

    def __init__(self, out_dir: str | os.PathLike, *, n: int = 8, class_ids: Sequence[int] | None = None,
                 seed: int = 0, every: int = 1):
        super().__init__()
        self.out_dir = Path(out_dir)
        self.n, self.seed, self.every = int(n), int(seed), int(every)
        self.class_ids = list(class_ids) if class_ids is not None else None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        from dermkit.data.imageio import write_png

        ids = self.class_ids
        if ids is None:
            ids = [None] if self.model.num_classes is None else list(range(self.model.num_classes))
        grid = sample_grid([self.model.generate(self.n, class_id=c, seed=self.seed) for c in ids])
        write_png(self.out_dir / f"epoch-{epoch + 1:04d}.png", grid, overwrite=True)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping`` (``restore_best_weights=False``: the engine keeps the last epoch) whose
    state survives a kill: every epoch's monitored value goes to ``state_path`` (JSON, atomically), and a
    resumed ``fit`` replays the values of the epochs before its first one, so it stops where an uninterrupted
    run would. Other arguments: as Keras' (``monitor``, ``patience``, ``mode``, ``min_delta``)."""

    def __init__(self, state_path: str | os.PathLike, **kwargs):
        if kwargs.get("restore_best_weights"):
            raise ValueError("ResumableEarlyStopping keeps the last epoch (restore_best_weights=False)")
        super().__init__(**kwargs)
        self.state_path = Path(state_path)
        self._values: dict[int, float] = {}
        self._replayed = False

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._values, self._replayed = {}, False
        if self.state_path.exists():
            try:
                self._values = {int(k): float(v) for k, v in json.loads(self.state_path.read_text()).items()}
            except (ValueError, AttributeError, UnicodeDecodeError):
                self._values = {}

    def on_epoch_begin(self, epoch, logs=None):
        if self._replayed:
            return
        self._replayed = True
        for past in sorted(e for e in self._values if e < epoch):
            super().on_epoch_end(past, {self.monitor: self._values[past]})
        self._values = {e: v for e, v in self._values.items() if e < epoch}
        self.model.stop_training = False

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isfinite(float(value)):
            self._values[int(epoch)] = float(value)
            atomic_write_text(self.state_path, json.dumps({str(k): v for k, v in sorted(self._values.items())}),
                              overwrite=True)
        super().on_epoch_end(epoch, logs)


class SamplerEpoch(keras.callbacks.Callback):
    """Give a batch sampler (:class:`dermkit.data.gan_data.ClassBlockSampler`, any dermkit sampler) the epoch
    ``fit`` is starting, so a resumed run (``initial_epoch > 0``) draws the batches an uninterrupted run would
    draw in that epoch (the dataset's iterator, made after ``on_epoch_begin``, reads the sampler then)."""

    def __init__(self, sampler):
        super().__init__()
        self.sampler = sampler

    def on_epoch_begin(self, epoch, logs=None):
        self.sampler._epoch = int(epoch)
