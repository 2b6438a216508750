"""tf.data builders (dermkit.data.pipelines): shapes, Eq. 1 on resized index maps, augmentation, caching,
samplers, errors. Tiny files built here with PIL (40×48 px), so the tests do not depend on the synthetic
generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dermkit.data.isic import ISIC2017_FEATURES, write_superpixel_labels
from dermkit.data.sampling import (
    ClassBalancedBatchSampler,
    MultiLabelBatchSampler,
    labels_present_from_features,
)
from dermkit.data.superpixels import encode_superpixels, superpixels_to_mask
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

tf = pytest.importorskip("tensorflow")
pipelines = pytest.importorskip("dermkit.data.pipelines")
Augment = pipelines.Augment

HEIGHT, WIDTH = 40, 48
GRID = (4, 6)  # superpixel grid: 24 superpixels of 10×8 px


def grid_index(height=HEIGHT, width=WIDTH, grid=GRID):
    rows = np.arange(height) * grid[0] // height
    cols = np.arange(width) * grid[1] // width
    return (rows[:, None] * grid[1] + cols[None, :]).astype(np.int32)


def make_isic2017(tmp_path, n=6, *, fmt="png", seed=0, present=None):
    """n images with grid superpixels; image colour is a function of the superpixel (checks alignment)."""
    rng = np.random.default_rng(seed)
    index = grid_index()
    num = int(index.max()) + 1
    rows = []
    for i in range(n):
        image_id = f"ISIC_{i:07d}"
        palette = rng.integers(0, 256, size=(num, 3), dtype=np.uint8)
        image = palette[index]
        labels = (rng.random((num, 4)) < 0.3).astype(np.float32)
        if present is not None:
            labels[:, ~present[i]] = 0
            for k in np.flatnonzero(present[i]):
                labels[rng.integers(num), k] = 1
        image_path = tmp_path / f"{image_id}.{'jpg' if fmt == 'jpeg' else 'png'}"
        Image.fromarray(image).save(image_path, quality=95) if fmt == "jpeg" else Image.fromarray(image).save(
            image_path
        )
        sp_path = tmp_path / f"{image_id}_superpixels.png"
        Image.fromarray(encode_superpixels(index)).save(sp_path)
        seg = np.zeros((HEIGHT, WIDTH), np.uint8)
        seg[10:30, 12 + i : 36] = 255
        seg_path = tmp_path / f"{image_id}_segmentation.png"
        Image.fromarray(seg).save(seg_path)
        json_path = write_superpixel_labels(tmp_path / f"{image_id}_features.json", labels)
        rows.append(
            dict(
                image_id=image_id,
                image_path=str(image_path),
                segmentation_path=str(seg_path),
                superpixels_path=str(sp_path),
                features_path=str(json_path),
                melanoma=i % 2,
                seborrheic_keratosis=0,
                palette=palette,
                labels=labels,
            )
        )
    return pd.DataFrame(rows)


def nearest_half_pixel(index, size):
    """Reference nearest resize with half-pixel centres: source = floor((y + 0.5) · H / h)."""
    h, w = size
    rows = np.minimum(((np.arange(h) + 0.5) * index.shape[0] / h).astype(int), index.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * index.shape[1] / w).astype(int), index.shape[1] - 1)
    return index[rows][:, cols]


def as_list(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


@pytest.fixture()
def isic17(tmp_path):
    return make_isic2017(tmp_path)


# ----------------------------------------------------------------------------------------------------------
# Feature masks (kawahara2018 Eq. 1 on the resized index map)
# ----------------------------------------------------------------------------------------------------------
def test_feature_dataset_yields_pairs_of_the_documented_shapes(isic17):
    ds = pipelines.feature_dataset(isic17, image_size=(20, 24), batch_size=4)
    assert len(ds.element_spec) == 2
    batches = as_list(ds)
    assert [x.shape for x, _ in batches] == [(4, 20, 24, 3), (2, 20, 24, 3)]
    assert [y.shape for _, y in batches] == [(4, 20, 24, 4), (2, 20, 24, 4)]
    x, y = batches[0]
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert set(np.unique(y)) <= {0.0, 1.0}


@pytest.mark.parametrize("size", [(20, 24), (40, 48), (57, 33)])
def test_feature_mask_is_eq1_on_the_nearest_resized_index_map(isic17, size):
    ds = pipelines.feature_dataset(isic17, image_size=size, batch_size=6)
    _, masks = as_list(ds)[0]
    for mask, labels in zip(masks, isic17["labels"]):
        expected = superpixels_to_mask(nearest_half_pixel(grid_index(), size), labels)
        np.testing.assert_array_equal(mask, expected)


def test_image_at_native_size_is_the_decoded_rgb_in_unit_range(isic17):
    images, _ = as_list(pipelines.feature_dataset(isic17, image_size=(HEIGHT, WIDTH), batch_size=6))[0]
    for image, palette in zip(images, isic17["palette"]):
        np.testing.assert_allclose(image, palette[grid_index()] / 255.0, atol=1e-6)


def test_jpeg_images_decode_close_to_pil(tmp_path):
    df = make_isic2017(tmp_path, n=2, fmt="jpeg")
    images, _ = as_list(pipelines.feature_dataset(df, image_size=(HEIGHT, WIDTH), batch_size=2))[0]
    for image, path in zip(images, df["image_path"]):
        reference = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0
        assert np.abs(image - reference).mean() < 2 / 255


# ----------------------------------------------------------------------------------------------------------
# Augmentation
# ----------------------------------------------------------------------------------------------------------
def dihedral(x):
    """The 8 flips/quarter-turns of a square [H, W, C] array."""
    out = []
    for k in range(4):
        r = np.rot90(x, k)
        out += [r, r[:, ::-1]]
    return out


def test_flips_and_rot90_move_image_and_mask_together(isic17):
    size = (24, 24)
    plain = as_list(pipelines.feature_dataset(isic17, image_size=size, batch_size=6))[0]
    seen = set()
    for epoch in range(2):
        ds = pipelines.feature_dataset(isic17, image_size=size, batch_size=6, augment=Augment(), seed=epoch)
        images, masks = as_list(ds)[0]
        for j in range(6):
            matches = [t for t, im in enumerate(dihedral(plain[0][j])) if np.array_equal(im, images[j])]
            assert matches, "augmented image is not a flip/rotation of the original"
            t = matches[0]
            np.testing.assert_array_equal(masks[j], dihedral(plain[1][j])[t])
            seen.add(t)
    assert len(seen) > 2


def test_affine_warp_keeps_mask_aligned_with_image(isic17):
    """Image colour identifies the superpixel, so inside superpixels the mask must match its labels."""
    aug = Augment(flip_horizontal=False, flip_vertical=False, rot90=False, rotation=30, scale=(0.8, 1.2), shear=15)
    ds = pipelines.feature_dataset(isic17, image_size=(HEIGHT, WIDTH), batch_size=6, augment=aug, seed=3)
    images, masks = as_list(ds)[0]
    plain = as_list(pipelines.feature_dataset(isic17, image_size=(HEIGHT, WIDTH), batch_size=6))[0][0]
    assert not np.allclose(images, plain)
    agree = total = 0
    for image, mask, palette, labels in zip(images, masks, isic17["palette"], isic17["labels"]):
        assert set(np.unique(mask)) <= {0.0, 1.0}  # nearest warp: never soft
        distance = np.abs(image[:, :, None, :] * 255.0 - palette[None, None].astype(np.float32)).max(-1)
        sp = distance.argmin(-1)
        clean = distance.min(-1) < 0.5  # pixel colour is exactly one superpixel's (not a blend)
        agree += int((mask[clean] == labels[sp[clean]]).all(-1).sum())
        total += int(clean.sum())
    assert total > 0.5 * images[..., 0].size
    assert agree / total > 0.97


def test_augmentation_is_seeded_and_changes_between_epochs(isic17):
    aug = Augment(rotation=20, brightness=0.1, contrast=0.2, saturation=0.2, hue=0.05)
    build = lambda: pipelines.feature_dataset(isic17, image_size=24, batch_size=6, augment=aug, seed=7)  # noqa: E731
    ds = build()
    first, second = as_list(ds)[0], as_list(ds)[0]
    again = as_list(build())[0]
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], second[0])
    assert first[0].min() >= 0 and first[0].max() <= 1


def test_rot90_on_non_square_sizes_keeps_the_shape(isic17):
    ds = pipelines.feature_dataset(isic17, image_size=(20, 24), batch_size=3, augment=Augment(), seed=1)
    for x, y in as_list(ds):
        assert x.shape[1:] == (20, 24, 3) and y.shape[1:] == (20, 24, 4)


def test_constant_fill_gives_zero_targets_outside(isic17):
    aug = Augment(flip_horizontal=False, flip_vertical=False, rot90=False, scale=(0.5, 0.5), fill_mode="constant")
    images, masks = as_list(pipelines.feature_dataset(isic17, image_size=24, batch_size=6, augment=aug, seed=0))[0]
    assert np.all(images[:, 0, 0] == 0) and np.all(masks[:, 0, 0] == 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rotation=-1), "rotation must be a number >= 0"),
        (dict(scale=(1.2, 0.8)), "0 < low <= high"),
        (dict(scale=3), r"scale must be \(low, high\)"),
        (dict(hue=0.7), "hue must be <= 0.5"),
        (dict(contrast=1.0), "contrast must be < 1"),
        (dict(fill_mode="mirror"), "fill_mode must be one of"),
    ],
)
def test_augment_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Augment(**kwargs)


# ----------------------------------------------------------------------------------------------------------
# Caching, shuffling, repeat
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cache", ["memory", "file"])
def test_cached_dataset_matches_uncached(isic17, tmp_path, cache):
    cache_arg = str(tmp_path / "cache" / "feat") if cache == "file" else "memory"
    if cache == "file":
        (tmp_path / "cache").mkdir()
    plain = as_list(pipelines.feature_dataset(isic17, image_size=24, batch_size=4))
    ds = pipelines.feature_dataset(isic17, image_size=24, batch_size=4, cache=cache_arg)
    for _ in range(2):
        for (x, y), (px, py) in zip(as_list(ds), plain):
            np.testing.assert_array_equal(x, px)
            np.testing.assert_array_equal(y, py)
    if cache == "file":
        assert list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("cache", [None, "memory"])
def test_shuffle_reorders_each_epoch_and_repeat_never_ends(isic17, cache):
    ds = pipelines.feature_dataset(isic17, image_size=24, batch_size=6, shuffle=True, seed=0, cache=cache)
    epochs = [as_list(ds)[0][0][:, 0, 0, 0] for _ in range(3)]
    assert sorted(epochs[0]) == sorted(epochs[1])
    assert any(not np.array_equal(epochs[0], e) for e in epochs[1:])
    repeated = pipelines.feature_dataset(isic17, image_size=24, batch_size=4, repeat=True)
    assert len(list(repeated.take(5))) == 5


# ----------------------------------------------------------------------------------------------------------
# Samplers inside tf.data
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cache", [None, "memory"])
def test_multilabel_sampler_batches_hold_each_feature(tmp_path, cache):
    present = np.zeros((12, 4), bool)
    present[:, 0] = True  # pigment network common; the rest rare
    present[[1, 7], 1] = True
    present[[4], 2] = True
    present[[2, 9, 11], 3] = True
    df = make_isic2017(tmp_path, n=12, present=present)
    np.testing.assert_array_equal(labels_present_from_features(df), present)
    sampler = MultiLabelBatchSampler(present, batch_size=10, per_label=2, seed=0, num_batches=3)
    ds = pipelines.feature_dataset(df, image_size=20, batch_size=None, sampler=sampler, cache=cache)
    for epoch in range(2):
        batches = as_list(ds)
        assert len(batches) == 3
        expected = sampler.batches(epoch)
        for (_, masks), rows in zip(batches, expected):
            counts = (masks.reshape(len(masks), -1, 4).max(axis=1) > 0).sum(axis=0)
            assert np.all(counts >= 2), counts
            np.testing.assert_array_equal(counts, present[rows].sum(axis=0))


def test_sampler_arguments_are_checked(isic17):
    sampler = MultiLabelBatchSampler(np.ones((6, 4), bool), batch_size=8, per_label=2)
    with pytest.raises(ValueError, match="differs from the sampler's batch_size=8"):
        pipelines.feature_dataset(isic17, image_size=20, batch_size=4, sampler=sampler)
    with pytest.raises(ValueError, match="shuffle=True conflicts"):
        pipelines.feature_dataset(isic17, image_size=20, batch_size=8, sampler=sampler, shuffle=True)
    big = MultiLabelBatchSampler(np.ones((50, 4), bool), batch_size=8, per_label=2)
    with pytest.raises(ValueError, match="outside"):
        pipelines.feature_dataset(isic17, image_size=20, batch_size=8, sampler=big)


# ----------------------------------------------------------------------------------------------------------
# Segmentation and classification
# ----------------------------------------------------------------------------------------------------------
def test_segmentation_masks_nearest_stay_binary_bilinear_stay_soft(isic17):
    x, y = as_list(pipelines.segmentation_dataset(isic17, image_size=(17, 21), batch_size=6))[0]
    assert y.shape == (6, 17, 21, 1) and set(np.unique(y)) <= {0.0, 1.0} and y.max() == 1
    _, soft = as_list(
        pipelines.segmentation_dataset(isic17, image_size=(17, 21), batch_size=6, mask_interpolation="bilinear")
    )[0]
    assert np.any((soft > 0) & (soft < 1))
    both = pipelines.segmentation_dataset(
        isic17, image_size=20, batch_size=2, mask_column=["segmentation_path", "segmentation_path"]
    )
    assert both.element_spec[1].shape.as_list() == [None, 20, 20, 2]


def test_segmentation_augmentation_moves_mask_with_image(tmp_path):
    df = make_isic2017(tmp_path, n=4)
    # Put the mask into the image's red channel: they must stay identical after any geometric warp.
    for path, seg in zip(df["image_path"], df["segmentation_path"]):
        mask = np.asarray(Image.open(seg))
        Image.fromarray(np.stack([mask, mask, mask], -1)).save(path)
    aug = Augment(rotation=40, scale=(0.9, 1.1), shear=10)
    x, y = as_list(pipelines.segmentation_dataset(df, image_size=32, batch_size=4, augment=aug, seed=2))[0]
    agree = ((x[..., 0] > 0.5) == (y[..., 0] > 0.5)).mean()
    assert agree > 0.97


def test_classification_labels_one_hot_and_integer(isic17):
    df = isic17.assign(label=[0, 1, 2, 0, 1, 2])
    df.attrs["class_names"] = ["a", "b", "c", "d"]
    x, y = as_list(pipelines.classification_dataset(df, image_size=16, batch_size=6))[0]
    assert x.shape == (6, 16, 16, 3) and y.shape == (6, 4)
    np.testing.assert_array_equal(y.argmax(1), [0, 1, 2, 0, 1, 2])
    _, ints = as_list(pipelines.classification_dataset(df, image_size=16, batch_size=6, one_hot=False))[0]
    np.testing.assert_array_equal(ints, [0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        pipelines.classification_dataset(df, image_size=16, batch_size=2, num_classes=2)


@pytest.mark.parametrize("cache", [None, "memory"])
def test_class_balanced_sampler_in_classification_batches(tmp_path, cache):
    df = make_isic2017(tmp_path, n=10).assign(label=[0, 0, 0, 0, 0, 0, 0, 1, 1, 2])
    sampler = ClassBalancedBatchSampler(df["label"].to_numpy(), batch_size=7, seed=1, num_batches=4)
    ds = pipelines.classification_dataset(df, image_size=8, batch_size=7, one_hot=False, sampler=sampler, cache=cache)
    batches = as_list(ds)
    assert len(batches) == 4
    for _, labels in batches:
        counts = np.bincount(labels, minlength=3)
        assert counts.min() >= 2 and counts.max() <= 3, counts


def test_fit_accepts_the_pairs(isic17):
    keras = pytest.importorskip("keras")
    ds = pipelines.feature_dataset(isic17, image_size=16, batch_size=3, augment=Augment(), seed=0)
    inputs = keras.Input((16, 16, 3), name="image")
    outputs = keras.layers.Conv2D(4, 1, activation="sigmoid", name="head")(inputs)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])


# ----------------------------------------------------------------------------------------------------------
# Errors name the file
# ----------------------------------------------------------------------------------------------------------
def test_missing_file_is_named(isic17):
    df = isic17.copy()
    df.loc[2, "superpixels_path"] = df.loc[2, "superpixels_path"].replace("0000002", "9999999")
    with pytest.raises(DermkitFileNotFoundError, match="ISIC_9999999_superpixels.png"):
        pipelines.feature_dataset(df, image_size=20, batch_size=2)
    with pytest.raises(DermkitFileNotFoundError, match="ISIC_9999999_superpixels.png"):
        pipelines.feature_dataset(df, image_size=20, batch_size=2, validate="none")


def test_size_mismatch_is_named(isic17):
    Image.fromarray(encode_superpixels(grid_index(30, 48))).save(isic17.loc[1, "superpixels_path"])
    with pytest.raises(DermkitDataError, match=r"ISIC_0000001_superpixels.png: size 48×30"):
        pipelines.feature_dataset(isic17, image_size=20, batch_size=2)
    with pytest.raises(DermkitDataError, match="ISIC_0000001_superpixels.png"):
        list(pipelines.iter_isic2017_eval(isic17))


def test_bad_json_is_named(isic17):
    path = isic17.loc[3, "features_path"]
    with open(path, "w") as f:
        json.dump({"pigment_network": [0, 1]}, f)
    with pytest.raises(DermkitDataError, match="ISIC_0000003_features.json: missing key"):
        pipelines.feature_dataset(isic17, image_size=20, batch_size=2)


def test_label_count_mismatch_inside_the_graph_names_the_file(isic17):
    labels = np.zeros((30, 4), np.float32)  # the map has 24 superpixels
    write_superpixel_labels(isic17.loc[4, "features_path"], labels, overwrite=True)
    ds = pipelines.feature_dataset(isic17, image_size=20, batch_size=6)
    with pytest.raises(DermkitDataError, match=r"ISIC_0000004_superpixels.png: has 24 superpixels .* have 30"):
        as_list(ds)


def test_truncated_image_is_named_with_full_validation(tmp_path):
    df = make_isic2017(tmp_path, n=2, fmt="jpeg")
    data = open(df.loc[1, "image_path"], "rb").read()
    with open(df.loc[1, "image_path"], "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(DermkitDataError, match="ISIC_0000001.jpg"):
        pipelines.feature_dataset(df, image_size=20, batch_size=2, validate="full")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(image_size=(0, 20), batch_size=2), ValueError, "image_size must be positive"),
        (dict(image_size="big", batch_size=2), ValueError, "image_size must be"),
        (dict(image_size=20, batch_size=0), ValueError, "batch_size must be a positive integer"),
        (dict(image_size=20, batch_size=2, cache=3), ValueError, "cache must be None, 'memory'"),
        (dict(image_size=20, batch_size=2, augment={"rotation": 10}), TypeError, "augment must be an Augment"),
        (dict(image_size=20, batch_size=2, validate="some"), ValueError, "validate must be one of"),
        (dict(image_size=20, batch_size=2, features_column="feats"), ValueError, r"column\(s\) \['feats'\]"),
        (dict(image_size=20, batch_size=2, image_resize="cubic"), ValueError, "image_resize must be one of"),
        (dict(image_size=20, batch_size=2, sampler=[[0, 1]]), TypeError, "sampler must be a dermkit.data.sampling"),
    ],
)
def test_bad_arguments_are_rejected(isic17, kwargs, error, match):
    with pytest.raises(error, match=match):
        pipelines.feature_dataset(isic17, **kwargs)


# ----------------------------------------------------------------------------------------------------------
# Evaluation iterator
# ----------------------------------------------------------------------------------------------------------
def test_eval_iterator_yields_original_resolution(isic17):
    items = list(pipelines.iter_isic2017_eval(isic17))
    assert [d["image_id"] for d in items] == list(isic17["image_id"])
    for item, labels, palette in zip(items, isic17["labels"], isic17["palette"]):
        assert item["image"].shape == (HEIGHT, WIDTH, 3) and item["image"].dtype == np.float32
        np.testing.assert_allclose(item["image"], palette[grid_index()] / 255.0)
        np.testing.assert_array_equal(item["superpixels"], grid_index())
        np.testing.assert_array_equal(item["labels"], labels)
        assert item["labels"].shape == (24, len(ISIC2017_FEATURES))


def test_with_the_synthetic_fixture(isic2017_root):
    pytest.importorskip("dermkit.data.synthetic")
    from dermkit.data.isic import load_isic2017

    df = load_isic2017(isic2017_root, split="training")
    ds = pipelines.feature_dataset(df, image_size=32, batch_size=8, augment=Augment(), seed=0, cache="memory")
    x, y = next(iter(ds))
    assert x.shape == (8, 32, 32, 3) and y.shape == (8, 32, 32, 4)
    first = next(pipelines.iter_isic2017_eval(df))
    assert first["labels"].shape[0] == first["superpixels"].max() + 1


def test_index_png_decodes_all_24_bits_like_the_numpy_reader(tmp_path):
    from dermkit.data.isic import read_superpixels

    index = np.random.default_rng(0).integers(0, 1 << 24, size=(9, 11)).astype(np.int32)
    rgb, rgba = tmp_path / "rgb.png", tmp_path / "rgba.png"
    Image.fromarray(encode_superpixels(index)).save(rgb)
    Image.fromarray(np.dstack([encode_superpixels(index), np.full((9, 11), 9, np.uint8)])).save(rgba)
    for path in (rgb, rgba):
        decoded = pipelines._decode_index(tf.constant(str(path))).numpy()[..., 0]
        np.testing.assert_array_equal(decoded, index)
        np.testing.assert_array_equal(decoded, read_superpixels(path))


def test_ham10000_fixture_split_upsample_and_batches(ham10000_root):
    pytest.importorskip("dermkit.data.synthetic")
    from dermkit.data.isic import load_ham10000
    from dermkit.data.sampling import random_upsample
    from dermkit.data.splits import grouped_split

    df = grouped_split(load_ham10000(ham10000_root), seed=0)
    assert (df.groupby("group")["split"].nunique() == 1).all()
    train = random_upsample(df[df["split"] == "train"], seed=0)
    assert train["label"].value_counts().nunique() == 1
    x, y = next(iter(pipelines.classification_dataset(train, image_size=32, batch_size=7, shuffle=True, seed=0)))
    assert x.shape == (7, 32, 32, 3) and y.shape == (7, len(df.attrs["class_names"]))
    sampler = ClassBalancedBatchSampler(df["label"].to_numpy(), batch_size=14, seed=0, num_batches=2)
    ds = pipelines.classification_dataset(df, image_size=16, batch_size=14, one_hot=False, sampler=sampler)
    batches = as_list(ds)
    for _, labels in batches:
        np.testing.assert_array_equal(np.bincount(labels, minlength=7), np.full(7, 2))
    masks = pipelines.segmentation_dataset(df, image_size=32, batch_size=8, augment=Augment(rotation=10), seed=0)
    x, y = next(iter(masks))
    assert y.shape == (8, 32, 32, 1) and set(np.unique(y.numpy())) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "aug, size, allowed",
    [
        # dihedral(x) order: [id, fh, r90, r90·fh, r180, r180·fh (= fv), r270, r270·fh]
        (Augment(flip_horizontal=False, rot90=False), (24, 24), {0, 5}),  # up-down flip only
        (Augment(flip_vertical=False, rot90=False), (24, 24), {0, 1}),  # left-right flip only
        (Augment(flip_horizontal=False, flip_vertical=False), (20, 24), {0, 4}),  # turns, non-square: half
        (Augment(rot90=False), (24, 24), {0, 1, 4, 5}),  # both flips: fh, fv and fh·fv = r180
    ],
)
def test_each_switch_draws_only_its_own_transforms(isic17, aug, size, allowed):
    plain = as_list(pipelines.feature_dataset(isic17, image_size=size, batch_size=6))[0][0]
    ds = pipelines.feature_dataset(isic17, image_size=size, batch_size=6, augment=aug, seed=0)
    seen = set()
    for _ in range(2):
        for j, image in enumerate(as_list(ds)[0][0]):
            if size[0] == size[1]:
                candidates = dihedral(plain[j])
            else:
                candidates = [plain[j], plain[j][:, ::-1], None, None, plain[j][::-1, ::-1], plain[j][::-1]]
            matches = {t for t, c in enumerate(candidates) if c is not None and np.array_equal(c, image)}
            assert matches & allowed, f"drew a transform outside {allowed}: matches {matches}"
            seen |= matches & allowed
    assert seen == allowed


# ----------------------------------------------------------------------------------------------------------
# Damaged files name themselves (issue 8 items 6–8)
# ----------------------------------------------------------------------------------------------------------
def _truncate(path, keep=0.5):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep)])


def _tiny_model(keras, channels):
    inputs = keras.Input((16, 16, 3), name="image")
    outputs = keras.layers.Conv2D(channels, 1, activation="sigmoid", name="head")(inputs)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def _builders(df):
    return {
        "feature": lambda **kw: pipelines.feature_dataset(df, image_size=16, batch_size=2, **kw),
        "segmentation": lambda **kw: pipelines.segmentation_dataset(df, image_size=16, batch_size=2, **kw),
        "classification": lambda **kw: pipelines.classification_dataset(
            df.assign(label=0), image_size=16, batch_size=2, num_classes=2, **kw
        ),
    }


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("builder", ["feature", "segmentation", "classification"])
def test_truncated_image_is_named_by_the_default_header_check(tmp_path, fmt, builder):
    df = make_isic2017(tmp_path, n=3, fmt=fmt)
    _truncate(df.loc[1, "image_path"])
    with pytest.raises(DermkitDataError, match=r"ISIC_0000001\.(jpg|png): corrupt or truncated"):
        _builders(df)[builder]()


def test_truncated_mask_and_superpixel_map_are_named_by_the_header_check(tmp_path):
    df = make_isic2017(tmp_path, n=3)
    _truncate(df.loc[2, "segmentation_path"])
    with pytest.raises(DermkitDataError, match="ISIC_0000002_segmentation.png: corrupt or truncated"):
        _builders(df)["segmentation"]()
    _truncate(df.loc[0, "superpixels_path"])
    with pytest.raises(DermkitDataError, match="ISIC_0000000_superpixels.png: corrupt or truncated"):
        _builders(df)["feature"]()


def test_data_after_the_jpeg_end_marker_is_not_refused(tmp_path):
    df = make_isic2017(tmp_path, n=2, fmt="jpeg")
    with open(df.loc[0, "image_path"], "ab") as f:
        f.write(b"trailing camera data" * 10)
    x, _ = next(iter(_builders(df)["classification"]()))
    assert x.shape == (2, 16, 16, 3)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("builder, channels", [("feature", 4), ("segmentation", 1), ("classification", None)])
def test_model_fit_names_a_file_truncated_after_the_checks(tmp_path, fmt, builder, channels):
    """The damage the cheap checks cannot see (here: the file changes after them) still names the file,
    when Keras' own fit loop consumes the dataset."""
    keras = pytest.importorskip("keras")
    df = make_isic2017(tmp_path, n=4, fmt=fmt)
    ds = _builders(df)[builder]()
    _truncate(df.loc[2, "image_path"])
    if channels is None:
        model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
    else:
        model = _tiny_model(keras, channels)
    with pytest.raises(DermkitDataError, match=r"ISIC_0000002\.(jpg|png): TensorFlow cannot decode this file"):
        model.fit(ds, epochs=1, verbose=0, shuffle=False)
    with pytest.raises(DermkitDataError, match=r"ISIC_0000002\.(jpg|png)"):
        model.fit(_builders(df)[builder](validate="none"), epochs=1, verbose=0, shuffle=False)


def test_named_data_errors_covers_transformed_datasets(tmp_path):
    keras = pytest.importorskip("keras")
    df = make_isic2017(tmp_path, n=4, fmt="jpeg")
    ds = pipelines.segmentation_dataset(df, image_size=16, batch_size=2, validate="none")
    weighted = ds.map(lambda x, y: (x, y * 1.0))  # .map keeps the file list (issue 17)
    zipped = tf.data.Dataset.zip((ds, ds)).map(lambda a, b: a)  # a static constructor builds a plain dataset
    _truncate(df.loc[3, "image_path"])
    model = _tiny_model(keras, 1)
    with pytest.raises(DermkitDataError, match=r"ISIC_0000003\.jpg: TensorFlow cannot decode"):
        model.fit(weighted, epochs=1, verbose=0, shuffle=False)
    with pytest.raises(tf.errors.InvalidArgumentError) as raw:  # Keras runs its graph loop: TF's nameless error
        model.fit(zipped, epochs=1, verbose=0, shuffle=False)
    assert "ISIC_0000003" not in str(raw.value)
    with pytest.raises(DermkitDataError, match=r"ISIC_0000003\.jpg: TensorFlow cannot decode"):
        with pipelines.named_data_errors(zipped):
            model.fit(zipped, epochs=1, verbose=0, shuffle=False)
    assert "ISIC_0000003.jpg" in str(pipelines.explain_data_error(zipped, raw.value))
    unrelated = tf.errors.InvalidArgumentError(None, None, "Incompatible shapes: [2,16,16,1] vs. [2,16,16,4]")
    assert pipelines.explain_data_error(zipped, unrelated) is None


def test_a_file_removed_after_the_checks_is_named(tmp_path):
    df = make_isic2017(tmp_path, n=3)
    ds = _builders(df)["segmentation"]()
    Path(df.loc[1, "segmentation_path"]).unlink()
    with pytest.raises(DermkitFileNotFoundError, match="ISIC_0000001_segmentation.png: file not found"):
        as_list(ds)


def _write_masks(df, values):
    for path in df["segmentation_path"]:
        mask = np.asarray(Image.open(path))
        Image.fromarray(np.where(mask > 0, values[1], values[0]).astype(np.uint8)).save(path)


def test_zero_one_masks_are_refused_not_emptied(tmp_path):
    df = make_isic2017(tmp_path, n=3)
    _write_masks(df, (0, 1))
    ds = pipelines.segmentation_dataset(df, image_size=16, batch_size=3)
    with pytest.raises(DermkitDataError, match=r"ISIC_0000000_segmentation.png: .*values \[0, 1\].*mask_values='0/1'"):
        as_list(ds)
    with pytest.raises(DermkitDataError, match=r"ISIC_0000000_segmentation.png: .*values \[0, 1\]"):
        pipelines.segmentation_dataset(df, image_size=16, batch_size=3, validate="full")
    _, y = as_list(pipelines.segmentation_dataset(df, image_size=(HEIGHT, WIDTH), batch_size=3, mask_values="0/1"))[0]
    for mask, path in zip(y[..., 0], df["segmentation_path"]):  # every lesion pixel kept
        np.testing.assert_array_equal(mask, np.asarray(Image.open(path)).astype(np.float32))


@pytest.mark.parametrize("values, found", [((0, 100), r"\[0, 100\]"), ((0, 2), r"\[0, 2\]")])
def test_masks_of_other_values_are_refused_unless_thresholded(tmp_path, values, found):
    df = make_isic2017(tmp_path, n=2)
    _write_masks(df, values)
    with pytest.raises(DermkitDataError, match=rf"ISIC_0000000_segmentation.png: mask holds values {found}"):
        as_list(pipelines.segmentation_dataset(df, image_size=16, batch_size=2))
    _, y = as_list(pipelines.segmentation_dataset(df, image_size=(HEIGHT, WIDTH), batch_size=2, mask_threshold=0))[0]
    expected = np.asarray(Image.open(df.loc[0, "segmentation_path"])) > 0
    np.testing.assert_array_equal(y[0, ..., 0], expected.astype(np.float32))
    with pytest.raises(ValueError, match="mask_values must be one of"):
        pipelines.segmentation_dataset(df, image_size=16, batch_size=2, mask_values="0-255")


@pytest.mark.parametrize(
    "value, shown",
    [(2, r"is 2, outside \[0, 1\]"), (-0.5, r"is -0.5, outside \[0, 1\]"), (10**400, "is too large")],
    ids=["2", "-0.5", "10**400"],
)
def test_feature_labels_outside_the_unit_range_are_refused_at_read_time(isic17, value, shown):
    path = isic17.loc[3, "features_path"]
    obj = json.load(open(path))
    obj["streaks"][7] = value
    with open(path, "w") as f:
        f.write(json.dumps(obj))
    with pytest.raises(DermkitDataError, match=rf"ISIC_0000003_features.json: 'streaks' value at superpixel 7 {shown}"):
        pipelines.feature_dataset(isic17, image_size=20, batch_size=2)


def test_size_mismatch_inside_the_graph_is_named(isic17):
    Image.fromarray(np.zeros((30, 48), np.uint8)).save(isic17.loc[1, "segmentation_path"])
    ds = pipelines.segmentation_dataset(isic17, image_size=20, batch_size=6, validate="none")
    with pytest.raises(DermkitDataError, match=r"ISIC_0000001_segmentation.png: size 48×30 \(W×H\) differs from its "
                                               r"image .*ISIC_0000001.png \(48×40\)"):
        as_list(ds)


def test_eval_iterator_reads_truth_as_zero_one(isic17):
    path = isic17.loc[2, "features_path"]
    obj = json.load(open(path))
    obj["pigment_network"][5] = 0.5
    with open(path, "w") as f:
        json.dump(obj, f)
    with pytest.raises(DermkitDataError, match="ISIC_0000002_features.json: 'pigment_network' value at superpixel 5"):
        list(pipelines.iter_isic2017_eval(isic17))


# ----------------------------------------------------------------------------------------------------------
# Issue 17: PH2's one-channel BMP lesion masks; a pixel-corrupt JPEG named on every path
# ----------------------------------------------------------------------------------------------------------
def _ph2_like(tmp_path, writer):
    """Three 24-bit BMP images with one-channel BMP lesion masks (0/255) written by ``writer``."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    rows, truth = [], []
    for i in range(3):
        image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        mask[5 + i : 30, 8 : 40 - i] = 255
        image_path, mask_path = tmp_path / f"IMD00{i}.bmp", tmp_path / f"IMD00{i}_lesion.bmp"
        Image.fromarray(image).save(image_path)
        if writer == "opencv":
            assert cv2.imwrite(str(mask_path), mask)
        elif writer == "pil-1bit":
            Image.fromarray(mask > 0).save(mask_path)  # mode "1": a 1-bit palette BMP
        else:
            Image.fromarray(mask).save(mask_path)  # mode "L": 8-bit, grey palette
        rows.append({"image_path": str(image_path), "mask_path": str(mask_path)})
        truth.append(mask == 255)
    return pd.DataFrame(rows), np.stack(truth)


@pytest.mark.parametrize("writer", ["pil", "opencv", "pil-1bit"])
def test_one_channel_bmp_masks_load_in_segmentation_dataset(tmp_path, writer):
    df, truth = _ph2_like(tmp_path, writer)
    with Image.open(df.loc[0, "mask_path"]) as im:
        assert im.format == "BMP" and im.mode in ("L", "1", "P")
    with pytest.raises(tf.errors.InvalidArgumentError):  # what the pipeline must not rely on
        tf.io.decode_image(tf.io.read_file(df.loc[0, "mask_path"]), channels=1)
    ds = pipelines.segmentation_dataset(df, image_size=(HEIGHT, WIDTH), batch_size=3, validate="full")
    images, masks = next(iter(ds))
    np.testing.assert_array_equal(masks.numpy()[..., 0], truth.astype(np.float32))
    expected = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in df["image_path"]]) / 255.0
    np.testing.assert_allclose(images.numpy(), expected, atol=1e-6)


def test_a_bmp_mask_of_other_values_or_corrupt_is_named(tmp_path):
    df, _ = _ph2_like(tmp_path, "pil")
    Image.fromarray(np.asarray(Image.open(df.loc[1, "mask_path"])) // 255).save(df.loc[1, "mask_path"])  # 0/1
    with pytest.raises(DermkitDataError, match=r"IMD001_lesion\.bmp: .*values \[0, 1\]"):
        as_list(pipelines.segmentation_dataset(df, image_size=16, batch_size=3))
    data = Path(df.loc[1, "mask_path"]).read_bytes()
    Path(df.loc[1, "mask_path"]).write_bytes(data[: len(data) // 2])  # a BMP cut short
    with pytest.raises(DermkitDataError, match=r"IMD001_lesion\.bmp: corrupt or truncated"):
        as_list(pipelines.segmentation_dataset(df, image_size=16, batch_size=3, validate="none"))


def write_pixel_corrupt_jpeg(path) -> None:
    """Keep a JPEG's headers and end marker, replace its entropy-coded data by random bytes (markers
    included): the headers and the end check pass, TensorFlow's decoder fails."""
    data = bytearray(Path(path).read_bytes())
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    data[start:-2] = np.random.default_rng(1).integers(0, 256, len(data) - 2 - start, dtype=np.uint8).tobytes()
    Path(path).write_bytes(bytes(data))
    with pytest.raises(tf.errors.InvalidArgumentError, match="jpeg::Uncompress failed"):
        tf.io.decode_jpeg(bytes(data), channels=3)


@pytest.mark.parametrize("builder", ["feature", "segmentation", "classification"])
def test_a_pixel_corrupt_jpeg_is_named_on_derived_datasets(tmp_path, builder):
    """The recipes' own paths: mask batches (``.map(lambda image, mask: mask)``), prediction inputs
    (``.map(lambda x, y: x)`` fed to ``model.predict``), ``take``/``unbatch``, eager ``reduce``."""
    keras = pytest.importorskip("keras")
    df = make_isic2017(tmp_path, n=4, fmt="jpeg")
    write_pixel_corrupt_jpeg(df.loc[2, "image_path"])
    ds = _builders(df)[builder]()  # the default header check passes: headers and end marker are intact
    named = r"ISIC_0000002\.jpg: TensorFlow cannot decode this file \(jpeg::Uncompress failed"
    targets = ds.map(lambda x, y: y)
    assert isinstance(targets, pipelines._NamedErrorsDataset)
    with pytest.raises(DermkitDataError, match=named):
        [np.asarray(t) for t in targets]
    with pytest.raises(DermkitDataError, match=named):
        list(ds.unbatch().take(8).as_numpy_iterator())
    with pytest.raises(DermkitDataError, match=named):
        ds.map(lambda x, y: tf.reduce_sum(x)).reduce(0.0, lambda a, b: a + b)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(name="pool")])
    with pytest.raises(DermkitDataError, match=named):
        model.predict(ds.map(lambda x, y: x), verbose=0)


def test_named_data_errors_covers_datasets_built_inside_the_block(tmp_path):
    keras = pytest.importorskip("keras")
    df = make_isic2017(tmp_path, n=4, fmt="jpeg")
    write_pixel_corrupt_jpeg(df.loc[1, "image_path"])
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(name="pool")])
    plain = lambda d: tf.data.Dataset.zip((d,)).map(lambda xy: xy[0])  # noqa: E731 - nameless by itself
    with pytest.raises(tf.errors.InvalidArgumentError):
        model.predict(plain(_builders(df)["classification"]()), verbose=0)
    with pytest.raises(DermkitDataError, match=r"ISIC_0000001\.jpg: TensorFlow cannot decode"):
        with pipelines.named_data_errors():
            model.predict(plain(_builders(df)["classification"]()), verbose=0)
    built_before = _builders(df)["classification"]()
    with pytest.raises(tf.errors.InvalidArgumentError):  # built outside and not passed: not covered
        with pipelines.named_data_errors():
            model.predict(plain(built_before), verbose=0)


def test_eval_iterator_names_a_pixel_corrupt_jpeg(tmp_path):
    df = make_isic2017(tmp_path, n=3, fmt="jpeg")
    write_pixel_corrupt_jpeg(df.loc[1, "image_path"])
    with pytest.raises(DermkitDataError, match=r"ISIC_0000001\.jpg: corrupt or truncated image"):
        list(pipelines.iter_isic2017_eval(df))


def test_a_dermkit_reader_error_inside_a_generator_dataset_is_named(tmp_path):
    """A recipe's own ``from_generator`` pipeline that reads images with dermkit's readers (bisla2019's
    growth batches): the reader's error crosses tf.data as TensorFlow's error; the block re-raises it."""
    from dermkit.data.imageio import read_image

    df = make_isic2017(tmp_path, n=3, fmt="jpeg")
    write_pixel_corrupt_jpeg(df.loc[1, "image_path"])

    def gen():
        for path in df["image_path"]:
            yield read_image(path).astype(np.float32)

    ds = tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec([HEIGHT, WIDTH, 3], tf.float32))
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(ds)
    with pytest.raises(DermkitDataError, match=r"ISIC_0000001\.jpg: corrupt or truncated image \(JPEG") as caught:
        with pipelines.named_data_errors(ds):
            list(ds)
    assert "Traceback" not in str(caught.value)
