"""Query–result activation maps (codella2018 Eq. 2): where two images differ in the embedding.

``A_q(i, j) = Σ_z g_z(x_q, i, j) · (f_z(x_q) − f_z(x_r))²`` — the CHAI embedding's maps ``g_z`` of the query
weighted by the squared difference of the two embeddings (``f_z`` = the GAP of ``g_z``, Eq. 3); the result map
``A_r`` is the same sum over ``g_z(x_r, i, j)``. Maps are at the resolution of ``g`` (13×13 at 227²).
"""

from __future__ import annotations

import numpy as np

__all__ = ["query_result_activation_maps", "pair_activation_maps"]


def pair_activation_maps(maps_q, maps_r, emb_q, emb_r) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 2 from arrays: ``maps [B, h, w, d]``, ``emb [B, d]`` → ``(qam [B, h, w], ram [B, h, w])``."""
    maps_q, maps_r = np.asarray(maps_q, np.float64), np.asarray(maps_r, np.float64)
    w = (np.asarray(emb_q, np.float64) - np.asarray(emb_r, np.float64)) ** 2  # [B, d]
    qam = np.einsum("bijz,bz->bij", maps_q, w)
    ram = np.einsum("bijz,bz->bij", maps_r, w)
    return qam.astype(np.float32), ram.astype(np.float32)


def query_result_activation_maps(model, x_query, x_result) -> tuple[np.ndarray, np.ndarray]:
    """QAM and RAM (Eq. 2) of query–result pairs.

    Args:
        model: a CHAI embedding (:func:`dermkit.models.alexnet_gap_embedding`) returning ``{"embedding",
            "maps"}``.
        x_query, x_result: ``float32 [B, H, W, 3]`` in [0, 1] (or one image ``[H, W, 3]``), paired row by row.

    Returns:
        ``(qam, ram)``, ``float32 [B, h, w]`` (``[h, w]`` for single images).
    """
    xq, xr = np.asarray(x_query, np.float32), np.asarray(x_result, np.float32)
    single = xq.ndim == 3
    if single:
        xq, xr = xq[None], xr[None]
    if xq.shape != xr.shape or xq.ndim != 4:
        raise ValueError(f"x_query and x_result must both be [B, H, W, 3]. Received {xq.shape} and {xr.shape}")
    out_q, out_r = model(xq, training=False), model(xr, training=False)
    qam, ram = pair_activation_maps(out_q["maps"], out_r["maps"], out_q["embedding"], out_r["embedding"])
    return (qam[0], ram[0]) if single else (qam, ram)
