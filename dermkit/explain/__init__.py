"""Explaining predictions: Grad-CAM, VisualBackProp, codella2018's query/result activation maps (Eq. 2) and
barata2020's attention maps. Needs TensorFlow; importing the package registers every dermkit serialisable.

* :func:`grad_cam` (Selvaraju et al. 2017; goel2021), :func:`visual_backprop` (Bojarski et al.; bisla2019).
* :func:`query_result_activation_maps`, :func:`pair_activation_maps` (codella2018 Eq. 2).
* :func:`cbam_attention_maps` (barata2020's flat model); the hierarchical model's maps:
  ``HierarchicalClassifier.attention_maps``.
"""

from __future__ import annotations

import dermkit._register  # noqa: F401  (every dermkit serialisable registered with Keras)
from dermkit.explain.activation_maps import pair_activation_maps, query_result_activation_maps
from dermkit.explain.cam import grad_cam
from dermkit.explain.visual_backprop import visual_backprop
from dermkit.models.attention import cbam_attention_maps

__all__ = ["grad_cam", "visual_backprop", "query_result_activation_maps", "pair_activation_maps",
           "cbam_attention_maps"]
