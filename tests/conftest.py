"""Shared fixtures: small synthetic datasets written in the real ISIC formats (session-scoped, cheap)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(scope="session")
def isic2017_root(tmp_path_factory):
    """A tiny synthetic ISIC 2017 tree (64×64 images): 24 training, 8 validation, 8 test images."""
    from dermkit.data.synthetic import make_isic2017

    root = tmp_path_factory.mktemp("isic2017")
    make_isic2017(root, n_train=24, n_val=8, n_test=8, image_size=(64, 64), seed=0)
    return root


@pytest.fixture(scope="session")
def ham10000_root(tmp_path_factory):
    """A tiny synthetic HAM10000 tree (64×64 images, 7 classes, several images per lesion)."""
    from dermkit.data.synthetic import make_ham10000

    root = tmp_path_factory.mktemp("ham10000")
    make_ham10000(root, n_images=70, image_size=(64, 64), seed=0)
    return root


@pytest.fixture(scope="session")
def isic2020_root(tmp_path_factory):
    """A tiny synthetic ISIC 2020 tree (64×64 images, binary, patients, a duplicates CSV)."""
    from dermkit.data.synthetic import make_isic2020

    root = tmp_path_factory.mktemp("isic2020")
    make_isic2020(root, n_images=80, image_size=(64, 64), seed=0)
    return root
