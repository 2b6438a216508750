"""GANTrainer: one step against the BCE formulas written in NumPy, label smoothing, extra generator steps,
generation and its files, reloading, resumable early stopping, and the 2-replica run (subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dermkit.data.gan_data import read_generated_manifest  # noqa: E402
from dermkit.models.dcgan import coupled_dcgan, dcgan_discriminator, dcgan_generator  # noqa: E402
from dermkit.training.gan import (  # noqa: E402
    ExtraGeneratorSteps,
    GANTrainer,
    ResumableEarlyStopping,
    SampleGrid,
    generate_images,
    latent_noise,
)

DISTRIBUTED_CHECK = Path(__file__).with_name("_distributed_gan_check.py")
LATENT = 3


def dense_pair(size=4):
    """A BN-free generator z[3] → image [size, size, 3] (tanh) and discriminator → sigmoid, as functional models."""
    z = keras.Input((LATENT,), name="z")
    x = keras.layers.Dense(size * size * 3, activation="tanh", name="g_dense")(z)
    g = keras.Model(z, keras.layers.Reshape((size, size, 3), name="g_image")(x), name="g")
    image = keras.Input((size, size, 3), name="image")
    y = keras.layers.Dense(1, activation="sigmoid", name="d_dense")(keras.layers.Flatten(name="flat")(image))
    return g, keras.Model(image, y, name="d")


def np_forward(g_w, d_w, z, real01):
    fake = np.tanh(z @ g_w[0] + g_w[1]).reshape(len(z), 4, 4, 3)
    logit = lambda x: x.reshape(len(x), -1) @ d_w[0] + d_w[1]  # noqa: E731
    return fake, 1 / (1 + np.exp(-logit(real01 * 2 - 1))), 1 / (1 + np.exp(-logit(fake)))


def bce(target, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_one_step_matches_the_bce_formulas(smoothing):
    keras.utils.set_random_seed(0)
    g, d = dense_pair()
    trainer = GANTrainer(g, d, latent_dim=LATENT, seed=7)
    trainer.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1), label_smoothing=smoothing)
    real = np.random.default_rng(0).random((6, 4, 4, 3), dtype=np.float32)
    g0, d0 = [w.copy() for w in g.get_weights()], [w.copy() for w in d.get_weights()]
    z = keras.ops.convert_to_numpy(keras.random.normal((6, LATENT), seed=keras.random.SeedGenerator(7)))
    logs = trainer.fit(tf.data.Dataset.from_tensor_slices(real).batch(6), epochs=1, verbose=0, shuffle=False).history
    fake, p_real, p_fake = np_forward(g0, d0, z, real)
    d_loss = bce(1 - smoothing, p_real).mean() + bce(0, p_fake).mean()
    assert logs["d_loss"][0] == pytest.approx(d_loss, rel=1e-5)
    assert logs["d_real_accuracy"][0] == pytest.approx(np.mean(p_real > 0.5))
    assert logs["d_fake_accuracy"][0] == pytest.approx(np.mean(p_fake < 0.5))
    _, _, p_fake_after = np_forward(g0, d.get_weights(), z, real)  # G step: same z, the updated D
    assert logs["g_loss"][0] == pytest.approx(bce(1, p_fake_after).mean(), rel=1e-5)
    # the D update is SGD on the d_loss gradient: check the bias (∂/∂b of the mean BCE = mean(p − target))
    grad_b = (np.sum(p_real - (1 - smoothing)) + np.sum(p_fake)) / 6
    assert d.get_weights()[1][0] == pytest.approx(d0[1][0] - 0.1 * grad_b, abs=1e-6)


def test_constructor_and_compile_refuse_mismatches():
    g, d = dense_pair()
    with pytest.raises(ValueError, match="latent_dim=5"):
        GANTrainer(g, d, latent_dim=5)
    with pytest.raises(ValueError, match="coupled_dcgan"):
        GANTrainer(g, d, latent_dim=LATENT, num_classes=3)
    cg, cd = coupled_dcgan(num_classes=2, latent_dim=4, image_size=64)
    with pytest.raises(ValueError, match="pass num_classes"):
        GANTrainer(cg, cd, latent_dim=4)
    trainer = GANTrainer(g, d, latent_dim=LATENT)
    with pytest.raises(ValueError, match="label_smoothing"):
        trainer.compile(keras.optimizers.SGD(), keras.optimizers.SGD(), label_smoothing=1.0)


def test_extra_generator_steps_every_nth_epoch():
    callback = ExtraGeneratorSteps(every=10, steps=2)
    assert [callback.steps_for_epoch(e) for e in range(21)] == [0] * 9 + [2] + [0] * 9 + [2] + [0]
    keras.utils.set_random_seed(0)
    g, d = dense_pair()
    trainer = GANTrainer(g, d, latent_dim=LATENT, seed=0)
    trainer.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    real = np.random.default_rng(0).random((12, 4, 4, 3), dtype=np.float32)
    trainer.fit(tf.data.Dataset.from_tensor_slices(real).batch(4), epochs=4, verbose=0, shuffle=False,
                callbacks=[ExtraGeneratorSteps(every=2, steps=2)])
    # 3 batches × 4 epochs joint steps; epochs 2 and 4 add 2 generator steps per batch
    assert int(trainer.d_optimizer.iterations) == 12
    assert int(trainer.g_optimizer.iterations) == 12 + 2 * 3 * 2
    assert trainer.extra_generator_steps == 0
    with pytest.raises(ValueError):
        ExtraGeneratorSteps(every=0)


def small_trainer(size=16, seed=0):
    keras.utils.set_random_seed(seed)
    trainer = GANTrainer(dcgan_generator(latent_dim=LATENT, image_size=size), dcgan_discriminator(image_size=size),
                         latent_dim=LATENT, seed=seed)
    trainer.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    return trainer


def test_generate_range_shape_and_seed():
    trainer = small_trainer()
    a = trainer.generate(5, seed=3)
    assert a.shape == (5, 16, 16, 3) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, trainer.generate(5, seed=3))
    assert not np.array_equal(a, trainer.generate(5, seed=4))
    np.testing.assert_array_equal(a[:2], trainer.generate(2, seed=3))  # row i is a function of (seed, i)
    np.testing.assert_array_equal(latent_noise(5, LATENT, 3)[:2], latent_noise(2, LATENT, 3))
    expected = (trainer.generator(latent_noise(5, LATENT, 3), training=False).numpy() + 1) / 2
    np.testing.assert_allclose(a, np.clip(expected, 0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="class_id"):
        trainer.generate(2, class_id=1)


def test_coupled_generate_needs_a_class_and_reuses_the_latent_vectors():
    g, d = coupled_dcgan(num_classes=3, latent_dim=4, image_size=64)
    trainer = GANTrainer(g, d, latent_dim=4, num_classes=3)
    with pytest.raises(ValueError, match="pass class_id"):
        trainer.generate(2)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        trainer.generate(2, class_id=3)
    z = latent_noise(2, 4, 5)
    for c in range(3):
        direct = g([z, np.full(2, c, np.int32)], training=False).numpy()
        np.testing.assert_allclose(trainer.generate(2, class_id=c, seed=5), np.clip((direct + 1) / 2, 0, 1), atol=1e-6)


def test_save_generated_round_trip_and_no_overwrite(tmp_path):
    from PIL import Image

    trainer = small_trainer()
    out = tmp_path / "generated"
    manifest = trainer.save_generated(out, 4, seed=2, label=2, class_name="seborrheic_keratosis")
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"GEN_seborrheic_keratosis_{i:05d}.png" for i in range(4)] + ["manifest.csv"]
    assert manifest.read_text().splitlines()[0] == "image_id,image_path,label,seed"
    frame = read_generated_manifest(manifest)
    assert list(frame["label"]) == [2] * 4 and list(frame["seed"]) == [2] * 4
    assert list(frame.columns[:5]) == ["image_id", "image_path", "mask_path", "label", "group"]
    pixels = np.stack([np.asarray(Image.open(p)) for p in frame["image_path"]])
    np.testing.assert_array_equal(pixels, np.round(trainer.generate(4, seed=2) * 255).astype(np.uint8))
    with pytest.raises(FileExistsError):
        trainer.save_generated(out, 2)
    trainer.save_generated(out, 2, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["GEN_0_00000.png", "GEN_0_00001.png", "manifest.csv"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_read_generated_manifest_names_bad_files(tmp_path):
    from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

    (tmp_path / "m.csv").write_text("image_id,image_path,label,seed\nGEN_0_0,GEN_0_0.png,0,0\n")
    with pytest.raises(DermkitFileNotFoundError, match="GEN_0_0.png"):
        read_generated_manifest(tmp_path / "m.csv")
    (tmp_path / "n.csv").write_text("image_id,image_path,seed\nGEN_0_0,GEN_0_0.png,0\n")
    with pytest.raises(DermkitDataError, match="n.csv.*label"):
        read_generated_manifest(tmp_path / "n.csv")


def test_trained_generator_reloads_and_gives_the_same_images(tmp_path):
    import dermkit
    from dermkit.models.utils import save_model_for_inference

    trainer = small_trainer()
    real = np.random.default_rng(0).random((8, 16, 16, 3), dtype=np.float32)
    trainer.fit(tf.data.Dataset.from_tensor_slices(real).batch(4), epochs=1, verbose=0, shuffle=False)
    path = save_model_for_inference(trainer.generator, tmp_path / "generator.keras")
    again = dermkit.load_model(path)
    np.testing.assert_array_equal(generate_images(again, 6, seed=9), trainer.generate(6, seed=9))


def test_sample_grid_callback_writes_one_file_per_epoch(tmp_path):
    from PIL import Image

    trainer = small_trainer()
    real = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)
    trainer.fit(tf.data.Dataset.from_tensor_slices(real).batch(4), epochs=2, verbose=0, shuffle=False,
                callbacks=[SampleGrid(tmp_path / "grid", n=3)])
    files = sorted((tmp_path / "grid").iterdir())
    assert [p.name for p in files] == ["epoch-0001.png", "epoch-0002.png"]
    assert np.asarray(Image.open(files[0])).shape == (16 + 4, 3 * 18 + 2, 3)


def test_resumable_early_stopping_replays_past_epochs(tmp_path):
    """Stopping at the same epoch whether or not the run was interrupted (values fed by hand)."""

    class Fake:
        stop_training = False

    values = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9]  # best at epoch 1, patience 3 → stop at the end of epoch 4

    def run(epochs, start=0):
        cb = ResumableEarlyStopping(tmp_path / "es.json", monitor="m", patience=3, mode="min")
        cb.set_model(Fake())
        cb.on_train_begin()
        stopped = None
        for e in range(start, epochs):
            cb.on_epoch_begin(e)
            cb.on_epoch_end(e, {"m": values[e]})
            if cb.model.stop_training:
                stopped = e
                break
        return stopped

    assert run(6) == 4
    (tmp_path / "es.json").unlink()
    assert run(3) is None  # killed after epoch 3 of 6
    assert run(6, start=3) == 4  # resumed: the replayed epochs count


def run_distributed(*cases):
    result = subprocess.run([sys.executable, str(DISTRIBUTED_CHECK), *cases], capture_output=True, text=True,
                            timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return {r["case"]: r for r in (json.loads(line) for line in result.stdout.splitlines() if line.startswith("{"))}


def check_same_first_step(row):
    assert row["replicas"] == 2
    for key in ("d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy"):
        assert row["two"][key] == pytest.approx(row["one"][key], abs=1e-4), key
    # Adam's first step is ±lr per weight: a sign flip of a near-zero gradient moves a weight by ≤ 2·lr
    assert row["generator_weights"] < 5e-4 and row["discriminator_weights"] < 5e-4


def test_two_replicas_equal_one_device_with_synchronized_bn():
    rows = run_distributed("sync", "per_replica")
    check_same_first_step(rows["sync"])
    per_replica = rows["per_replica"]
    assert per_replica["steps"] == 3 and per_replica["generator_moved"] > 0
    assert all(np.isfinite(per_replica["d_loss"] + per_replica["g_loss"]))


@pytest.mark.slow
def test_coupled_two_replicas_equal_one_device_with_synchronized_bn():
    check_same_first_step(run_distributed("coupled_sync")["coupled_sync"])


def test_sampler_epoch_keeps_a_resumed_fit_on_the_same_batches(tmp_path):
    """fit(initial_epoch=2) draws epoch 2's batches with SamplerEpoch; without it the sampler would restart at
    epoch 0. Also: fit iterates the dataset once per epoch (so SamplerEpoch changes nothing for a whole run)."""
    import pandas as pd

    from dermkit.data.gan_data import gan_dataset
    from dermkit.data.imageio import write_png
    from dermkit.training.gan import SamplerEpoch

    rows = [{"image_id": f"im{i}", "label": 0,
             "image_path": str(write_png(tmp_path / f"im{i}.png", np.full((8, 8, 3), 20 * i, np.uint8)))}
            for i in range(8)]
    frame = pd.DataFrame(rows)

    class Record(keras.callbacks.Callback):
        def __init__(self, sampler):
            super().__init__()
            self.sampler, self.before = sampler, []

        def on_epoch_begin(self, epoch, logs=None):
            self.before.append(self.sampler._epoch)

    def run(initial_epoch, sync):
        ds, sampler = gan_dataset(frame, image_size=8, per_class=4, seed=0, return_sampler=True, crop=None)
        trainer = small_trainer(size=8)
        record = Record(sampler)
        callbacks = [record] + ([SamplerEpoch(sampler)] if sync else [])
        trainer.fit(ds, epochs=4, initial_epoch=initial_epoch, verbose=0, shuffle=False, callbacks=callbacks)
        return record

    whole = run(0, sync=False)
    assert whole.before == [0, 1, 2, 3]  # the iterator of epoch e reads the sampler once, at epoch e
    resumed = run(2, sync=True)
    # resumed at epoch 2: the sampler (fresh, at 0) is set to 2, epoch 2's iterator reads batches(2), epoch 3 starts
    # from 3 (without SamplerEpoch epoch 2 would have drawn batches(0))
    assert resumed.before == [0, 3]


def test_trainer_config_round_trip():
    trainer = small_trainer(size=8)
    again = GANTrainer.from_config(trainer.get_config())
    assert (again.latent_dim, again.num_classes, again.seed) == (LATENT, None, 0)
    assert [layer.name for layer in again.generator.layers] == [layer.name for layer in trainer.generator.layers]
    assert again.discriminator.count_params() == trainer.discriminator.count_params()


def test_weights_carry_the_training_noise_state(tmp_path):
    """A backup (save_weights) restores the noise stream's position: Keras alone does not save it."""
    trainer = small_trainer(size=8)
    trainer.noise.next()
    trainer.noise.next()
    trainer.save_weights(tmp_path / "t.weights.h5")
    fresh = small_trainer(size=8)
    assert fresh.noise.state.numpy().tolist() != trainer.noise.state.numpy().tolist()
    fresh.load_weights(tmp_path / "t.weights.h5")
    assert fresh.noise.state.numpy().tolist() == trainer.noise.state.numpy().tolist()


# ---------------------------------------------------------------------------------------------------------
# The step recipe (issue 16): separate real / generated discriminator calls by default, joint as an option
# ---------------------------------------------------------------------------------------------------------
def dcgan_pair(size=16, seed=3):
    """A DCGAN pair with batch normalisation (Table 2), built twice from the same seed: two identical copies."""
    keras.utils.set_random_seed(seed)
    g, d = dcgan_generator(latent_dim=LATENT, image_size=size), dcgan_discriminator(image_size=size)
    keras.utils.set_random_seed(seed + 1)
    g2, d2 = dcgan_generator(latent_dim=LATENT, image_size=size), dcgan_discriminator(image_size=size)
    g2.set_weights(g.get_weights())
    d2.set_weights(d.get_weights())
    return (g, d), (g2, d2)


def hand_step(g, d, real01, z, *, joint, lr=0.05):
    """One step written out here with Keras built-ins, eagerly: the authors' main.py order (separate) or the
    joint-batch variant (one D call on [real, fake]; the G step re-runs G and D on the joint batch)."""
    bce = keras.losses.BinaryCrossentropy()
    x = tf.constant(real01 * 2 - 1)
    n = len(real01)
    d_opt, g_opt = keras.optimizers.SGD(lr), keras.optimizers.SGD(lr)
    ones, zeros = tf.ones((n, 1)), tf.zeros((n, 1))
    if joint:
        fake = tf.stop_gradient(g(z, training=True))
        with tf.GradientTape() as tape:
            p = d(tf.concat([x, fake], 0), training=True)
            d_loss = bce(ones, p[:n]) + bce(zeros, p[n:])
        d_opt.apply(tape.gradient(d_loss, d.trainable_variables), d.trainable_variables)
        with tf.GradientTape() as tape:
            p = d(tf.concat([x, g(z, training=True)], 0), training=True)[n:]
            g_loss = bce(ones, p)
        g_opt.apply(tape.gradient(g_loss, g.trainable_variables), g.trainable_variables)
        return float(d_loss), float(g_loss)
    with tf.GradientTape(persistent=True) as tape:
        fake = g(z, training=True)  # one generator pass, reused by the G step (main.py's fake_img)
        d_loss = bce(ones, d(x, training=True)) + bce(zeros, d(tf.stop_gradient(fake), training=True))
    d_opt.apply(tape.gradient(d_loss, d.trainable_variables), d.trainable_variables)
    with tape:
        g_loss = bce(ones, d(fake, training=True))  # the updated D on the generated batch alone
    g_opt.apply(tape.gradient(g_loss, g.trainable_variables), g.trainable_variables)
    del tape
    return float(d_loss), float(g_loss)


def trainer_step(g, d, real01, *, joint, seed=7, lr=0.05):
    trainer = GANTrainer(g, d, latent_dim=LATENT, seed=seed)
    kwargs = {"joint_batch": True} if joint else {}
    trainer.compile(keras.optimizers.SGD(lr), keras.optimizers.SGD(lr), **kwargs)
    logs = trainer.fit(tf.data.Dataset.from_tensors(real01), epochs=1, verbose=0, shuffle=False).history
    return logs["d_loss"][0], logs["g_loss"][0]


@pytest.mark.parametrize("joint", [False, True])
def test_step_equals_a_hand_written_step(joint):
    """Same initial weights, same z, same batch → the same weights (trainable and BN moving statistics) after
    one step as the hand-written recipe; and the two recipes differ (BN on the discriminator's first layer)."""
    (g, d), (g2, d2) = dcgan_pair()
    real = np.random.default_rng(1).random((6, 16, 16, 3), dtype=np.float32)
    z = keras.random.normal((6, LATENT), seed=keras.random.SeedGenerator(7))
    expected = hand_step(g2, d2, real, z, joint=joint)
    got = trainer_step(g, d, real, joint=joint)
    assert got == pytest.approx(expected, rel=1e-4)
    for a, b in zip(g.weights + d.weights, g2.weights + d2.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
    if not joint:  # the other recipe ends elsewhere: the test can tell them apart
        (_, _), (g3, d3) = dcgan_pair()
        hand_step(g3, d3, real, z, joint=True)
        assert max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(d.weights, d3.weights)) > 1e-3


def test_default_is_separate_batches_without_label_smoothing():
    g, d = dense_pair()
    trainer = GANTrainer(g, d, latent_dim=LATENT)
    trainer.compile(keras.optimizers.SGD(), keras.optimizers.SGD())
    assert trainer.joint_batch is False and trainer.label_smoothing == 0.0
    with pytest.raises(TypeError, match="joint_batch"):
        trainer.compile(keras.optimizers.SGD(), keras.optimizers.SGD(), joint_batch="yes")


# ---------------------------------------------------------------------------------------------------------
# Bad input and divergence (issue 17)
# ---------------------------------------------------------------------------------------------------------
def test_fit_refuses_uint8_images():
    trainer = small_trainer(size=16)
    real = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(TypeError, match="float images in \\[0, 1\\].*uint8.*divide"):
        trainer.fit(tf.data.Dataset.from_tensors(real), epochs=1, verbose=0, shuffle=False)


def test_fit_refuses_images_of_another_size():
    trainer = small_trainer(size=16)
    real = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"built for images of shape \(16, 16, 3\).*\(32, 32, 3\)"):
        trainer.fit(tf.data.Dataset.from_tensors(real), epochs=1, verbose=0, shuffle=False)


def test_a_nan_loss_stops_training_naming_epoch_and_batch():
    trainer = small_trainer(size=16)
    real = np.random.default_rng(0).random((5, 4, 16, 16, 3), dtype=np.float32)
    real[2, 0, 0, 0, 0] = np.nan  # batch 2 (0-based) of every epoch
    ds = tf.data.Dataset.from_tensor_slices(real)
    trainer.fit(ds.take(2), epochs=1, verbose=0, shuffle=False)  # finite batches: no stop
    assert trainer.stopped_by is None
    with pytest.warns(RuntimeWarning, match=r"non-finite d_loss=nan at epoch 2, batch 2"):
        history = trainer.fit(ds, epochs=3, initial_epoch=1, verbose=0, shuffle=False).history  # from epoch 2
    assert len(history["d_loss"]) == 1  # stopped in epoch 2: epoch 3 never ran
    assert "epoch 2, batch 2" in trainer.stopped_by


def test_save_generated_refuses_a_non_finite_generator(tmp_path):
    trainer = small_trainer(size=16)
    dense = next(w for w in trainer.generator.weights if w.path.endswith("kernel"))
    dense.assign(np.full(dense.shape, np.nan, np.float32))
    with pytest.raises(ValueError, match="4 of 4 generated images hold NaN or infinite values.*nothing written"):
        trainer.save_generated(tmp_path / "gen", 4)
    assert not any(tmp_path.iterdir())
    assert np.isnan(trainer.generate(2)).all()  # generate alone still shows the diverged output
