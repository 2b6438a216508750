"""codella2018 Eq. 2 (QAM / RAM) against NumPy, through the CHAI embedding."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from dermkit.explain import query_result_activation_maps  # noqa: E402
from dermkit.explain.activation_maps import pair_activation_maps  # noqa: E402
from dermkit.models import alexnet_gap_embedding  # noqa: E402


def test_pair_maps_hand():
    g_q = np.zeros((1, 1, 2, 2)); g_q[0, 0, 0] = [1.0, 2.0]; g_q[0, 0, 1] = [3.0, 0.0]  # noqa: E702
    g_r = np.ones((1, 1, 2, 2))
    f_q, f_r = np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])  # (f_q − f_r)² = [1, 4]
    qam, ram = pair_activation_maps(g_q, g_r, f_q, f_r)
    np.testing.assert_allclose(qam, [[[1 + 8, 3 + 0]]])
    np.testing.assert_allclose(ram, [[[5, 5]]])


def test_model_maps_match_numpy():
    model = alexnet_gap_embedding((67, 67, 3), embedding_dim=8)
    rng = np.random.default_rng(0)
    xq, xr = rng.random((2, 67, 67, 3), np.float32), rng.random((2, 67, 67, 3), np.float32)
    qam, ram = query_result_activation_maps(model, xq, xr)
    oq, orr = model(xq), model(xr)
    w = (np.asarray(oq["embedding"]) - np.asarray(orr["embedding"])) ** 2
    want_q = (np.asarray(oq["maps"]) * w[:, None, None, :]).sum(-1)
    want_r = (np.asarray(orr["maps"]) * w[:, None, None, :]).sum(-1)
    np.testing.assert_allclose(qam, want_q, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(ram, want_r, rtol=1e-4, atol=1e-7)
    q1, r1 = query_result_activation_maps(model, xq[0], xq[0])
    assert q1.shape == (3, 3) and np.allclose(q1, 0)  # identical images: zero map
