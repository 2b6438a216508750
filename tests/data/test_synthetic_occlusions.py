"""make_isic2017's bisla2019 options: hair_fraction and the occlusion ground-truth masks."""

from __future__ import annotations

import json

import pytest

from dermkit.data.imageio import read_image, read_mask
from dermkit.data.isic import load_isic2017
from dermkit.data.synthetic import MANIFEST_NAME, make_isic2017
from dermkit.preprocessing.hair import remove_hair


@pytest.fixture(scope="module")
def hairy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("hairy2017")
    make_isic2017(root, n_train=10, n_val=0, n_test=4, image_size=(96, 96), seed=1, hair_fraction=1.0,
                  occlusion_masks=True)
    return root


def test_occlusion_masks_written_and_mark_dark_painted_pixels(hairy_root):
    df = load_isic2017(hairy_root, "training")
    assert len(df) == 10
    for image_id, path in zip(df["image_id"], df["image_path"]):
        mask_path = hairy_root / "ISIC-2017_Training_Occlusions" / f"{image_id}_occlusions.png"
        occlusion = read_mask(mask_path) > 0
        assert occlusion.any()  # hair_fraction=1: every image has hairs
        grey = read_image(path).mean(axis=-1)
        assert grey[occlusion].mean() < grey[~occlusion].mean() - 0.1
    assert (hairy_root / "ISIC-2017_Test_v2_Occlusions").is_dir()
    params = json.loads((hairy_root / MANIFEST_NAME).read_text())["datasets"]["isic2017"]["params"]
    assert params["hair_fraction"] == 1.0 and params["occlusion_masks"] is True


def test_remove_hair_finds_the_drawn_hairs(hairy_root):
    df = load_isic2017(hairy_root, "training")
    found = total = 0
    for image_id, path, seg in zip(df["image_id"], df["image_path"], df["segmentation_path"]):
        occlusion = read_mask(hairy_root / "ISIC-2017_Training_Occlusions" / f"{image_id}_occlusions.png") > 0
        lesion = read_mask(seg) > 0
        _, mask = remove_hair(read_image(path), lesion, method="closing", radius=2)
        truth = occlusion & ~lesion
        found += int((mask & truth).sum())
        total += int(truth.sum())
    assert found / total >= 0.7


def test_defaults_write_no_occlusions_and_record_no_new_params(tmp_path):
    make_isic2017(tmp_path, n_train=3, n_val=0, n_test=0, image_size=(32, 32))
    assert not list(tmp_path.glob("*Occlusions*"))
    params = json.loads((tmp_path / MANIFEST_NAME).read_text())["datasets"]["isic2017"]["params"]
    assert "hair_fraction" not in params and "occlusion_masks" not in params


def test_hair_fraction_zero_and_one_differ_only_where_hairs_are(tmp_path):
    make_isic2017(tmp_path / "a", n_train=4, n_val=0, n_test=0, image_size=(48, 48), hair_fraction=0.0,
                  occlusion_masks=True)
    masks = sorted((tmp_path / "a" / "ISIC-2017_Training_Occlusions").glob("*.png"))
    assert len(masks) == 4
    hairs = sum(int((read_mask(p) > 0).sum()) for p in masks)
    # only ruler ticks (about 10 % of images) can be marked when no image has hairs
    assert hairs < 0.02 * 4 * 48 * 48


@pytest.mark.parametrize("kwargs, match", [({"hair_fraction": 1.5}, "hair_fraction must be"),
                                           ({"occlusion_masks": "yes"}, "occlusion_masks must be")])
def test_bad_options(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_isic2017(tmp_path, n_train=2, n_val=0, n_test=0, **kwargs)
