"""GAN batches (bisla2019 Section 6.3): every class b times per batch, interleaved; small classes repeat."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermkit.data.gan_data import ClassBlockSampler


def test_every_batch_holds_b_of_every_class_interleaved():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 25)
    sampler = ClassBlockSampler(labels, 4, seed=1)
    batches = sampler.batches(0)
    assert batches.shape == (len(sampler), 12) and len(sampler) == -(-38 // 12)
    for batch in batches:
        assert labels[batch].tolist() == [0, 1, 2] * 4  # class j % C at position j
    # a 3-image class drawn with replacement (4 per batch), every image before repeats within its cycle
    ones = batches[:, 1::3].ravel()
    assert set(ones) == {10, 11, 12}
    np.testing.assert_array_equal(sampler.batches(0), ClassBlockSampler(labels, 4, seed=1).batches(0))
    assert not np.array_equal(sampler.batches(0), sampler.batches(1))


def test_replica_slices_hold_each_class_equally():
    labels = np.repeat(np.arange(7), 5)
    batch = ClassBlockSampler(labels, 4, num_classes=7, seed=0).batches(0)[0]
    for half in (batch[:14], batch[14:]):  # 2 replicas
        assert np.bincount(labels[half], minlength=7).tolist() == [2] * 7


def test_one_class_is_a_plain_reshuffled_stream():
    sampler = ClassBlockSampler(np.zeros(57, int), 16, seed=0, num_batches=5)
    batches = sampler.batches(0)
    assert batches.shape == (5, 16)
    assert len(set(batches.ravel()[:57])) == 57  # the first 57 draws cover every image once


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="no image"):
        ClassBlockSampler([0, 2], 2, num_classes=3)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        ClassBlockSampler([0, 2], 2, num_classes=2)
    with pytest.raises(ValueError, match="integer"):
        ClassBlockSampler([0.5, 1.0], 2)
    with pytest.raises(ValueError, match="per_class"):
        ClassBlockSampler([0, 1], 0)


def test_gan_dataset_yields_interleaved_class_ids(tmp_path):
    pytest.importorskip("tensorflow")
    from dermkit.data.gan_data import gan_dataset
    from dermkit.data.imageio import write_png

    rows = []
    for i in range(9):
        label = i % 3
        path = write_png(tmp_path / f"im{i}.png", np.full((10, 10, 3), 40 * label, np.uint8))
        rows.append({"image_id": f"im{i}", "image_path": str(path), "label": label})
    ds = gan_dataset(pd.DataFrame(rows), image_size=8, per_class=2, seed=0)
    images, labels = next(iter(ds))
    assert images.shape == (6, 8, 8, 3) and labels.numpy().tolist() == [0, 1, 2, 0, 1, 2]
    np.testing.assert_allclose(images.numpy()[:, 0, 0, 0], [40 * c / 255 for c in [0, 1, 2, 0, 1, 2]], atol=1e-6)


def test_read_generated_manifest_refuses_empty_paths_and_duplicates(tmp_path):
    from dermkit.data.gan_data import read_generated_manifest
    from dermkit.errors import DermkitDataError

    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"")
    cases = {
        "empty.csv": ("image_id,image_path,label,seed\nA,a.png,0,0\nB,,0,0\n", r"empty\.csv: empty image_path.*\[3\]"),
        "blank.csv": ("image_id,image_path,label,seed\nA,a.png,0,0\nB, ,0,0\n", r"blank\.csv: empty image_path"),
        "noid.csv": ("image_id,image_path,label,seed\n,a.png,0,0\n", r"noid\.csv: empty image_id on line\(s\) \[2\]"),
        "dup_row.csv": ("image_id,image_path,label,seed\nA,a.png,0,0\nB,b.png,0,0\nA,a.png,0,0\n",
                        r"dup_row\.csv: image_id 'A' is listed more than once \(lines \[2, 4\]"),
        "dup_path.csv": ("image_id,image_path,label,seed\nA,a.png,0,0\nB,./a.png,1,0\n",
                         r"dup_path\.csv: image_path 'a\.png' is listed more than once \(lines \[2, 3\]"),
    }
    for name, (text, match) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(DermkitDataError, match=match):
            read_generated_manifest(tmp_path / name)
    (tmp_path / "ok.csv").write_text("image_id,image_path,label,seed\nA,a.png,0,0\nB,b.png,1,0\n")
    assert list(read_generated_manifest(tmp_path / "ok.csv")["label"]) == [0, 1]
