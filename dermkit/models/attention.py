"""barata2020's two classifiers (Section 4.1) and their attention modules.

**Flat model** (:func:`vgg16_cbam_classifier`): VGG16's convolutional part up to ``block5_pool`` → CBAM
(Woo et al. 2018, the paper's ref. [31]; :class:`CBAM`) → global average pooling → dropout 0.5 → one fully
connected softmax layer with one unit per class::

    image → preprocess → block1_conv1 … block5_pool (9×9×512 at 299²) → cbam → avg_pool → dropout → predictions

**Hierarchical model** (:func:`hierarchical_classifier`, after Barata, Marques & Celebi, CVPRW 2019, the
paper's ref. [3], whose public TF1 code fixes the details the paper leaves out): VGG16 up to ``block5_conv3``
(no pool; 18×18×512 = 324 positions at 299²) → an LSTM that decodes the class path one taxonomy level per step
(:data:`ISIC2018_HIERARCHY`: melanocytic / non-melanocytic → benign / malignant → diagnosis), with *dynamic*
channel and spatial attention conditioned on the LSTM state (:class:`DynamicChannelAttention`,
:class:`DynamicSpatialAttention`; barata2020: "the channel and spatial attention are dynamic, changing
according to the hierarchic decision level"). Per step ``t`` (``s = [c, h]``, 2·units wide)::

    β_t = σ(W_β tanh(MLP(avgpool F) + MLP(maxpool F) + W_s s_{t-1}))          channel weights [C]
    α_t = softmax_p(w_α · dropout_0.2(tanh(F_p ⊙ β_t + W'_s s_{t-1})))     spatial weights [P]
    z_t = Σ_p α_t,p (F_p ⊙ β_t)                                           context [C]
    (h_t, c_t) = LSTM([z_t, E(y_{t-1})] ⊙ m, (h_{t-1}, c_{t-1}))          m: variational dropout 0.5
    logits_t = W_o dropout_0.5([c_t, h_t])                                 one output layer over all nodes

with ``(c_0, h_0) = tanh(Dense(dropout_0.5(mean_p F_p)))`` (two Dense layers) and ``E(y_0) = 0`` (the authors'
code feeds zeros at the first step). Training uses teacher forcing (``y_{t-1}`` is the true node) and the loss
is Eq. 10 (:class:`HierarchicalLoss`). At inference the tables use **greedy decoding**: at each step the
argmax of the logits over the *children of the previous decision* only (the authors' code takes the argmax
over all nodes; a trained model rarely differs, and restricting keeps every decoded path a valid one);
``predict`` also returns 7-class **leaf probabilities**, each leaf's the product of the per-level
probabilities along its path with that path's labels fed back — the per-level probability being the softmax
of the step's logits over the children of the fed-back parent, so the 7 values sum to 1 (for the ISIC tree:
one first step, shared, then the steps after "melanocytic", "non_melanocytic", "benign" and "malignant").

Every layer is named and registered (``package="dermkit"``) with a complete ``get_config``; the hierarchical
model is a registered ``keras.Model`` subclass (custom ``train_step``/``test_step``) that saves to ``.keras``
and reloads with :func:`dermkit.load_model`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.models.attention")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from dermkit.models.layers import ImageNetPreprocess  # noqa: E402
from dermkit.weights import build_encoder, load_weights  # noqa: E402

__all__ = [
    "ClassHierarchy",
    "ISIC2018_CLASSES",
    "ISIC2018_HIERARCHY",
    "CBAM",
    "DynamicChannelAttention",
    "DynamicSpatialAttention",
    "HierarchicalAttentionDecoder",
    "HierarchicalLoss",
    "HierarchicalClassifier",
    "vgg16_cbam_classifier",
    "hierarchical_classifier",
    "cbam_attention_maps",
    "leaf_indices",
]

#: The seven ISIC 2018 Task 3 diagnoses in the challenge's column order (the class index used everywhere).
ISIC2018_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")

#: Spatial-attention dropout rate of the authors' code (keep probability 0.8).
ATTENTION_DROPOUT = 0.2
#: Label-embedding width of the authors' code (50-d GloVe vectors there; a trained Embedding here).
EMBEDDING_DIM = 50
#: Channel-reduction ratio of the dynamic channel attention (the reference notes' r = 2).
DYNAMIC_RATIO = 2
_NEG_LARGE = -1e9  # logits of nodes that are not children of the previous decision (greedy argmax)
_MIN_INPUT = 32  # VGG16 needs 32×32 at least (five 2× poolings)


# ============================================================================================ the class tree


def _normalise_tree(value, where: str) -> dict:
    """``{name: subtree or None}`` from a mapping (values: mapping / sequence of leaf names / None)."""
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, Sequence) and not isinstance(value, str):
        items = [(name, None) for name in value]
    else:
        raise ValueError(
            f"{where}: children must be a mapping {{name: children}} or a list of leaf names. Received: {value!r}"
        )
    if len(items) < 2:
        raise ValueError(f"{where}: every internal node needs at least 2 children. Received: {value!r}")
    tree = {}
    for name, children in items:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: node names must be non-empty strings. Received: {name!r}")
        tree[name] = None if children is None else _normalise_tree(children, f"{where} → {name}")
    return tree


class ClassHierarchy:
    """A class taxonomy for hierarchical decoding: the nodes, each class's path, per-level masks.

    Built from a nested mapping: keys are node names; a value is a mapping of the node's children, a list of
    leaf names, or ``None`` (a leaf). Nodes are indexed breadth-first (level 1 first, then level 2, ...);
    index :attr:`root` (= :attr:`num_nodes`) stands for the root (the start of every path) in the tables
    below. Classes (leaves) are indexed in the order ``leaves`` (the label order of the data).

    Attributes (read-only NumPy arrays):
        node_names: ``N`` names, breadth-first. ``num_nodes``: N. ``root``: N.
        parents: int32 ``[N]``, each node's parent (``root`` for level 1). levels: int32 ``[N]``, 1-based.
        leaves: the ``K`` class names in label order; ``num_leaves``: K.
        leaf_nodes: int32 ``[K]``, each class's node. node_to_leaf: int32 ``[N]``, each node's class or -1.
        max_depth: L, the longest path. depths: int32 ``[K]``, each class's path length (Eq. 10's L).
        paths: int32 ``[K, L]``, each class's node path from level 1, padded with -1 past its end.
        path_mask: float32 ``[K, L]``, 1 where the path has a node (the per-level loss mask).
        children_mask: float32 ``[N + 1, N]``, row ``v`` marks the children of node ``v`` (row ``root``: level 1).
    """

    def __init__(self, tree: Mapping, *, leaves: Sequence[str] | None = None):
        """Args:
            tree: nested mapping, e.g. ``{"melanocytic": ["MEL", "NV"], "non_melanocytic": {"benign": [...],
                "malignant": [...]}}``. Every internal node (and the root) has at least 2 children; names are
                unique.
            leaves: the class order (a permutation of the tree's leaves). Default: the leaves depth-first.

        Raises:
            ValueError: a malformed tree, duplicate names, or ``leaves`` not a permutation of the leaves.
        """
        if not isinstance(tree, Mapping):
            raise ValueError(f"tree must be a mapping {{name: children}}. Received: {tree!r}")
        self._tree = _normalise_tree(tree, "tree")
        names: list[str] = []
        parents: list[int] = []
        levels: list[int] = []
        frontier = [(name, sub, -1) for name, sub in self._tree.items()]
        level = 1
        while frontier:
            next_frontier = []
            for name, sub, parent in frontier:
                index = len(names)
                names.append(name)
                parents.append(parent)
                levels.append(level)
                if sub is not None:
                    next_frontier.extend((child, child_sub, index) for child, child_sub in sub.items())
            frontier, level = next_frontier, level + 1
        if len(set(names)) != len(names):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"tree: node names must be unique. Received duplicates: {duplicates}")
        n = len(names)
        self.node_names: tuple[str, ...] = tuple(names)
        self.num_nodes = n
        self.root = n
        parents = [n if p < 0 else p for p in parents]
        is_leaf = [True] * n
        for p in parents:
            if p < n:
                is_leaf[p] = False
        tree_leaves = _leaves_depth_first(self._tree)
        if leaves is None:
            leaves = tree_leaves
        leaves = tuple(leaves)
        if sorted(leaves) != sorted(tree_leaves) or len(set(leaves)) != len(leaves):
            raise ValueError(
                f"leaves must be a permutation of the tree's leaves {sorted(tree_leaves)}. Received: {list(leaves)}"
            )
        self.leaves: tuple[str, ...] = leaves
        self.num_leaves = len(leaves)
        index_of = {name: i for i, name in enumerate(names)}
        leaf_nodes = np.array([index_of[leaf] for leaf in leaves], np.int32)
        node_to_leaf = np.full(n, -1, np.int32)
        node_to_leaf[leaf_nodes] = np.arange(self.num_leaves, dtype=np.int32)
        paths_list = []
        for node in leaf_nodes:
            path = [int(node)]
            while parents[path[0]] != n:
                path.insert(0, parents[path[0]])
            paths_list.append(path)
        self.max_depth = max(len(p) for p in paths_list)
        paths = np.full((self.num_leaves, self.max_depth), -1, np.int32)
        for i, path in enumerate(paths_list):
            paths[i, : len(path)] = path
        children_mask = np.zeros((n + 1, n), np.float32)
        for child, parent in enumerate(parents):
            children_mask[parent, child] = 1.0
        self.parents = np.array(parents, np.int32)
        self.levels = np.array(levels, np.int32)
        self.leaf_nodes = leaf_nodes
        self.node_to_leaf = node_to_leaf
        self.depths = np.array([len(p) for p in paths_list], np.int32)
        self.paths = paths
        self.path_mask = (paths >= 0).astype(np.float32)
        self.children_mask = children_mask
        self.is_leaf = np.array(is_leaf)
        for array in (self.parents, self.levels, self.leaf_nodes, self.node_to_leaf, self.depths, self.paths,
                      self.path_mask, self.children_mask, self.is_leaf):
            array.setflags(write=False)

    def children(self, node: int) -> tuple[int, ...]:
        """Indices of the children of ``node`` (``root`` for the level-1 nodes); ``()`` for a leaf."""
        return tuple(int(i) for i in np.flatnonzero(self.children_mask[node]))

    @property
    def internal_nodes(self) -> tuple[int, ...]:
        """The nodes with children, ``root`` first, then breadth-first."""
        return (self.root,) + tuple(i for i in range(self.num_nodes) if not self.is_leaf[i])

    def path_names(self, leaf: int | str) -> tuple[str, ...]:
        """The node names on the path of class ``leaf`` (an index or a class name), level 1 first."""
        index = self.leaves.index(leaf) if isinstance(leaf, str) else int(leaf)
        return tuple(self.node_names[i] for i in self.paths[index] if i >= 0)

    def get_config(self) -> dict:
        """JSON-able ``{"tree": nested dict (leaves as None), "leaves": [...]}``; :meth:`from_config` inverts it."""
        return {"tree": _tree_to_config(self._tree), "leaves": list(self.leaves)}

    @classmethod
    def from_config(cls, config: Mapping) -> ClassHierarchy:
        return cls(config["tree"], leaves=config["leaves"])

    def __eq__(self, other) -> bool:
        return isinstance(other, ClassHierarchy) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(repr(self.get_config()))

    def __repr__(self) -> str:
        return f"ClassHierarchy({_tree_to_config(self._tree)!r}, leaves={self.leaves!r})"


def _leaves_depth_first(tree: dict) -> list[str]:
    out = []
    for name, sub in tree.items():
        out.extend([name] if sub is None else _leaves_depth_first(sub))
    return out


def _tree_to_config(tree: dict) -> dict:
    return {name: None if sub is None else _tree_to_config(sub) for name, sub in tree.items()}


def _as_hierarchy(hierarchy) -> ClassHierarchy:
    if isinstance(hierarchy, ClassHierarchy):
        return hierarchy
    if isinstance(hierarchy, Mapping) and set(hierarchy) == {"tree", "leaves"}:
        return ClassHierarchy.from_config(hierarchy)
    raise ValueError(
        "hierarchy must be a ClassHierarchy (e.g. ISIC2018_HIERARCHY) or its get_config() dict. "
        f"Received: hierarchy={hierarchy!r}"
    )


#: barata2020 Section 4.2 / Eq. 10: melanocytic {MEL, NV} vs non-melanocytic; non-melanocytic → benign {BKL,
#: DF, VASC} / malignant {BCC, AKIEC}; classes in ISIC 2018 order. Paths have L = 2 nodes for melanocytic
#: lesions and L = 3 for non-melanocytic ones. Node indices: 0 melanocytic, 1 non_melanocytic, 2 MEL, 3 NV,
#: 4 benign, 5 malignant, 6 BKL, 7 DF, 8 VASC, 9 BCC, 10 AKIEC.
ISIC2018_HIERARCHY = ClassHierarchy(
    {
        "melanocytic": ["MEL", "NV"],
        "non_melanocytic": {"benign": ["BKL", "DF", "VASC"], "malignant": ["BCC", "AKIEC"]},
    },
    leaves=ISIC2018_CLASSES,
)


def leaf_indices(y, num_leaves: int):
    """Class indices ``[B]`` (int32) from one-hot / soft labels ``[B, K]`` (argmax) or integer labels ``[B]``
    / ``[B, 1]``.

    Raises:
        ValueError: any other shape (the message gives the shape and K).
    """
    y = ops.convert_to_tensor(y)
    shape = tuple(y.shape)
    if len(shape) == 2 and shape[-1] == num_leaves:
        return ops.cast(ops.argmax(y, axis=-1), "int32")
    if len(shape) == 2 and shape[-1] == 1:
        y = ops.squeeze(y, axis=-1)
        shape = shape[:1]
    if len(shape) == 1:
        return ops.cast(y, "int32")
    raise ValueError(
        f"labels must be one-hot [B, {num_leaves}] or class indices [B]. Received: labels of shape {shape}"
    )


# ================================================================================================= layers


@keras.saving.register_keras_serializable(package="dermkit")
class CBAM(keras.layers.Layer):
    """Convolutional Block Attention Module (Woo et al., ECCV 2018; barata2020's flat model).

    Input ``F``: ``[B, H, W, C]``. Channel attention, then spatial attention (Woo et al. Eqs. 1–3)::

        M_c = σ(MLP(AvgPool(F)) + MLP(MaxPool(F)))          [B, C]; one shared MLP: Dense(C/r, ReLU) → Dense(C)
        F'  = M_c ⊗ F
        M_s = σ(conv_k×k([AvgPool_c(F'); MaxPool_c(F')]))   [B, H, W]; the channel-wise mean and max, in that order
        F'' = M_s ⊗ F'

    The MLP's Dense layers and the convolution (one filter, ``"same"`` padding) have biases; no batch norm
    (the paper's equations; the authors' PyTorch release adds one after the convolution).

    ``call(x, return_attention=True)`` returns ``(F'', M_c, M_s)`` with the maps in float32 (``[B, C]`` and
    ``[B, H, W]``) for plotting; the default returns ``F''`` only.
    """

    def __init__(self, *, ratio: int = 16, kernel_size: int = 7, **kwargs):
        """Args:
            ratio: the MLP's reduction ratio r (hidden width ``max(C // r, 1)``). Default 16 (Woo et al.).
            kernel_size: the spatial convolution's size. Default 7 (Woo et al.).
            **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

        Raises:
            ValueError: ``ratio`` or ``kernel_size`` not a positive integer.
        """
        _check_positive_int("ratio", ratio)
        _check_positive_int("kernel_size", kernel_size)
        super().__init__(**kwargs)
        self.ratio = ratio
        self.kernel_size = kernel_size
        self.mlp_hidden = None
        self.mlp_output = None
        self.spatial_conv = None

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension must be known. Received: input_shape={input_shape}")
        hidden = max(channels // self.ratio, 1)
        self.mlp_hidden = keras.layers.Dense(hidden, activation="relu", name="mlp_hidden", dtype=self.dtype_policy)
        self.mlp_output = keras.layers.Dense(channels, name="mlp_output", dtype=self.dtype_policy)
        self.spatial_conv = keras.layers.Conv2D(
            1, self.kernel_size, padding="same", name="spatial_conv", dtype=self.dtype_policy
        )
        self.mlp_hidden.build((None, channels))
        self.mlp_output.build((None, hidden))
        self.spatial_conv.build((None, input_shape[1], input_shape[2], 2))

    def call(self, inputs, return_attention: bool = False):
        x = ops.cast(inputs, self.compute_dtype)
        avg = ops.mean(x, axis=(1, 2))
        mx = ops.max(x, axis=(1, 2))
        channel = ops.sigmoid(self.mlp_output(self.mlp_hidden(avg)) + self.mlp_output(self.mlp_hidden(mx)))
        x = x * channel[:, None, None, :]
        pooled = ops.concatenate([ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)
        spatial = ops.sigmoid(self.spatial_conv(pooled))
        outputs = x * spatial
        if return_attention:
            return outputs, ops.cast(channel, "float32"), ops.cast(spatial[..., 0], "float32")
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({"ratio": self.ratio, "kernel_size": self.kernel_size})
        return config


@keras.saving.register_keras_serializable(package="dermkit")
class DynamicChannelAttention(keras.layers.Layer):
    """State-conditioned channel attention of the hierarchical model (barata2020 §4.1; reference notes).

    Called on ``[features [B, P, C], state [B, S]]``; returns ``(features ⊙ β, β)`` with ``β`` float32 ``[B, C]``::

        β = σ(W_β tanh(MLP(mean_p F) + MLP(max_p F) + W_s s))

    ``MLP`` is one shared ``Dense(C // r, ReLU)`` applied to the average- and the max-pooled descriptor (as
    CBAM's channel attention, without its second layer), ``W_s`` a ``Dense(C // r)`` of the LSTM state and
    ``W_β`` a ``Dense(C)``.
    """

    def __init__(self, *, ratio: int = DYNAMIC_RATIO, **kwargs):
        """Args:
            ratio: reduction ratio r (hidden width ``max(C // r, 1)``). Default 2 (reference notes).
            **kwargs: ``keras.layers.Layer`` arguments.

        Raises:
            ValueError: ``ratio`` not a positive integer.
        """
        _check_positive_int("ratio", ratio)
        super().__init__(**kwargs)
        self.ratio = ratio
        self.shared_mlp = None
        self.state_projection = None
        self.channel_weights = None

    def build(self, input_shape):
        features_shape, state_shape = input_shape
        channels = features_shape[-1]
        hidden = max(channels // self.ratio, 1)
        self.shared_mlp = keras.layers.Dense(hidden, activation="relu", name="shared_mlp", dtype=self.dtype_policy)
        self.state_projection = keras.layers.Dense(hidden, name="state_projection", dtype=self.dtype_policy)
        self.channel_weights = keras.layers.Dense(channels, name="channel_weights", dtype=self.dtype_policy)
        self.shared_mlp.build((None, channels))
        self.state_projection.build((None, state_shape[-1]))
        self.channel_weights.build((None, hidden))

    def call(self, inputs):
        features, state = inputs
        descriptor = self.shared_mlp(ops.mean(features, axis=1)) + self.shared_mlp(ops.max(features, axis=1))
        beta = ops.sigmoid(self.channel_weights(ops.tanh(descriptor + self.state_projection(state))))
        return features * beta[:, None, :], ops.cast(beta, "float32")

    def compute_output_shape(self, input_shape):
        features_shape, _ = input_shape
        return tuple(features_shape), (features_shape[0], features_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"ratio": self.ratio})
        return config


@keras.saving.register_keras_serializable(package="dermkit")
class DynamicSpatialAttention(keras.layers.Layer):
    """State-conditioned (Bahdanau-style) spatial attention of the hierarchical model (reference notes).

    Called on ``[features [B, P, C], state [B, S]]``; returns ``(context [B, C], α [B, P] float32)``::

        α = softmax over p of  w · dropout(tanh(F_p + W_s s))       (W_s: Dense(C); w: Dense(1))
        context = Σ_p α_p F_p

    The softmax is computed in float32 (also under mixed precision).
    """

    def __init__(self, *, dropout: float = ATTENTION_DROPOUT, **kwargs):
        """Args:
            dropout: dropout rate on the tanh scores. Default 0.2 (the authors' code).
            **kwargs: ``keras.layers.Layer`` arguments.

        Raises:
            ValueError: ``dropout`` not in [0, 1).
        """
        _check_rate("dropout", dropout)
        super().__init__(**kwargs)
        self.dropout = dropout
        self.state_projection = None
        self.score_dropout = keras.layers.Dropout(dropout, name="score_dropout")
        self.score = None

    def build(self, input_shape):
        features_shape, state_shape = input_shape
        channels = features_shape[-1]
        self.state_projection = keras.layers.Dense(channels, name="state_projection", dtype=self.dtype_policy)
        self.score = keras.layers.Dense(1, name="score", dtype=self.dtype_policy)
        self.state_projection.build((None, state_shape[-1]))
        self.score.build((None, None, channels))

    def call(self, inputs, training=None):
        features, state = inputs
        scores = ops.tanh(features + self.state_projection(state)[:, None, :])
        scores = self.score_dropout(scores, training=training)
        alpha = ops.softmax(ops.cast(ops.squeeze(self.score(scores), axis=-1), "float32"), axis=-1)
        context = ops.sum(ops.cast(alpha, features.dtype)[:, :, None] * features, axis=1)
        return context, alpha

    def compute_output_shape(self, input_shape):
        features_shape, _ = input_shape
        return (features_shape[0], features_shape[-1]), tuple(features_shape[:2])

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="dermkit")
class HierarchicalAttentionDecoder(keras.layers.Layer):
    """The hierarchical model's LSTM decoder with dynamic attention (module docstring for the equations).

    Input: encoder features ``[B, H, W, C]``. Sub-layers (named): ``init_dropout``, ``init_memory`` /
    ``init_hidden`` (Dense(units, tanh) of the mean feature: c₀, h₀), ``channel_attention``
    (:class:`DynamicChannelAttention`), ``spatial_attention`` (:class:`DynamicSpatialAttention`),
    ``label_embedding`` (Embedding(N, embedding_dim)), ``lstm_input_dropout`` (one mask per sequence:
    variational, as the authors' ``DropoutWrapper``), ``lstm`` (LSTMCell(units)), ``state_dropout``,
    ``node_logits`` (Dense(N), float32: one output layer over all N tree nodes).

    Decoding modes (each returns float32 probabilities; L = ``hierarchy.max_depth`` steps, always):

    - :meth:`teacher_forced` — the true path fed back; ``probabilities`` ``[B, L, N]`` = softmax over all
      nodes (what :class:`HierarchicalLoss` scores), plus ``logits`` and the attention maps.
    - :meth:`greedy` — at each step the argmax over the children of the previous decision; ``path`` int32
      ``[B, L]`` (-1 past the path's end), ``diagnosis`` int32 ``[B]`` (class index), ``step_probabilities``
      ``[B, L, N]`` (softmax over those children, 0 elsewhere), optionally the attention maps.
    - :meth:`leaf_probabilities` — ``[B, K]``, the product rule over every path (module docstring).

    ``call(features)`` returns ``{"diagnosis", "path", "probabilities"}`` (greedy + leaf probabilities).
    """

    def __init__(
        self,
        hierarchy=ISIC2018_HIERARCHY,
        *,
        units: int = 512,
        dropout: float = 0.5,
        ratio: int = DYNAMIC_RATIO,
        embedding_dim: int = EMBEDDING_DIM,
        attention_dropout: float = ATTENTION_DROPOUT,
        **kwargs,
    ):
        """Args:
            hierarchy: a :class:`ClassHierarchy` (or its ``get_config()``). Default :data:`ISIC2018_HIERARCHY`.
            units: LSTM width (the state fed to attention and classifier is 2·units). Default 512.
            dropout: rate of the initial-state, LSTM-input and pre-classifier dropouts. Default 0.5.
            ratio: channel-attention reduction ratio. Default 2.
            embedding_dim: label-embedding width. Default 50.
            attention_dropout: spatial-attention score dropout. Default 0.2.
            **kwargs: ``keras.layers.Layer`` arguments.

        Raises:
            ValueError: a bad argument (named in the message).
        """
        hierarchy = _as_hierarchy(hierarchy)
        _check_positive_int("units", units)
        _check_rate("dropout", dropout)
        _check_positive_int("ratio", ratio)
        _check_positive_int("embedding_dim", embedding_dim)
        _check_rate("attention_dropout", attention_dropout)
        super().__init__(**kwargs)
        self.hierarchy = hierarchy
        self.units = units
        self.dropout = dropout
        self.ratio = ratio
        self.embedding_dim = embedding_dim
        self.attention_dropout = attention_dropout
        policy = self.dtype_policy
        n = hierarchy.num_nodes
        self.init_dropout = keras.layers.Dropout(dropout, name="init_dropout")
        self.init_memory = keras.layers.Dense(units, activation="tanh", name="init_memory", dtype=policy)
        self.init_hidden = keras.layers.Dense(units, activation="tanh", name="init_hidden", dtype=policy)
        self.channel_attention = DynamicChannelAttention(ratio=ratio, name="channel_attention", dtype=policy)
        self.spatial_attention = DynamicSpatialAttention(
            dropout=attention_dropout, name="spatial_attention", dtype=policy
        )
        self.label_embedding = keras.layers.Embedding(n, embedding_dim, name="label_embedding", dtype=policy)
        self.lstm_input_dropout = keras.layers.Dropout(dropout, name="lstm_input_dropout")
        self.lstm = keras.layers.LSTMCell(units, name="lstm", dtype=policy)
        self.state_dropout = keras.layers.Dropout(dropout, name="state_dropout")
        self.node_logits = keras.layers.Dense(n, name="node_logits", dtype="float32")
        # Tree tables as constants of the graph.
        teacher = np.where(hierarchy.paths >= 0, hierarchy.paths, hierarchy.leaf_nodes[:, None]).astype(np.int32)
        self._teacher_paths = teacher  # [K, L]: padded with the leaf itself (fed back only before the end)
        self._channels = None

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the feature channels must be known. Received: input_shape={input_shape}")
        self._channels = int(channels)
        state = 2 * self.units
        self.init_memory.build((None, channels))
        self.init_hidden.build((None, channels))
        self.channel_attention.build(((None, None, channels), (None, state)))
        self.spatial_attention.build(((None, None, channels), (None, state)))
        self.label_embedding.build((None,))
        self.lstm.build((None, channels + self.embedding_dim))
        self.node_logits.build((None, state))

    # ------------------------------------------------------------------------------------ one step at a time

    def _begin(self, features, training):
        """Flattened features ``[B, P, C]``, the initial (h, c) and the LSTM-input dropout mask."""
        features = ops.cast(features, self.compute_dtype)
        batch = ops.shape(features)[0]
        flat = ops.reshape(features, (batch, -1, self._channels))
        mean = self.init_dropout(ops.mean(flat, axis=1), training=training)
        memory, hidden = self.init_memory(mean), self.init_hidden(mean)
        mask = self.lstm_input_dropout(
            ops.ones((batch, self._channels + self.embedding_dim), dtype=self.compute_dtype), training=training
        )
        return flat, hidden, memory, mask

    def _attend(self, flat, hidden, memory, training):
        state = ops.concatenate([memory, hidden], axis=-1)
        scaled, beta = self.channel_attention([flat, state])
        context, alpha = self.spatial_attention([scaled, state], training=training)
        return context, alpha, beta

    def _advance(self, context, embedded, hidden, memory, mask, training):
        step_input = ops.concatenate([context, ops.cast(embedded, context.dtype)], axis=-1) * mask
        _, (hidden, memory) = self.lstm(step_input, [hidden, memory], training=training)
        state = ops.concatenate([memory, hidden], axis=-1)
        logits = self.node_logits(self.state_dropout(state, training=training))
        return hidden, memory, logits

    def _no_label(self, flat):
        return ops.zeros((ops.shape(flat)[0], self.embedding_dim), dtype=self.compute_dtype)

    # ------------------------------------------------------------------------------------- decoding modes

    def teacher_forced(self, features, labels, training=None) -> dict:
        """The true path fed back (training and validation loss); ``labels``: class indices ``[B]`` (int).

        Returns ``{"logits", "probabilities"}`` float32 ``[B, L, N]`` (softmax over all nodes),
        ``{"spatial"}`` ``[B, L, P]`` and ``{"channel"}`` ``[B, L, C]`` (the attention of each step).
        """
        paths = ops.take(ops.convert_to_tensor(self._teacher_paths), ops.cast(labels, "int32"), axis=0)
        flat, hidden, memory, mask = self._begin(features, training)
        embedded = self._no_label(flat)
        logits, alphas, betas = [], [], []
        for step in range(self.hierarchy.max_depth):
            context, alpha, beta = self._attend(flat, hidden, memory, training)
            hidden, memory, step_logits = self._advance(context, embedded, hidden, memory, mask, training)
            logits.append(step_logits)
            alphas.append(alpha)
            betas.append(beta)
            if step + 1 < self.hierarchy.max_depth:
                embedded = self.label_embedding(paths[:, step])
        logits = ops.stack(logits, axis=1)
        return {
            "logits": logits,
            "probabilities": ops.softmax(logits, axis=-1),
            "spatial": ops.stack(alphas, axis=1),
            "channel": ops.stack(betas, axis=1),
        }

    def greedy(self, features, training=None, return_attention: bool = False) -> dict:
        """Greedy decoding: at each step the argmax over the children of the previous decision.

        Returns ``path`` int32 ``[B, L]`` (node per level, -1 past the end), ``diagnosis`` int32 ``[B]`` (the
        class of the last node), ``step_probabilities`` float32 ``[B, L, N]`` (softmax over the allowed
        children; zeros past the end) and, with ``return_attention``, ``spatial`` ``[B, L, P]`` and ``channel``
        ``[B, L, C]``.
        """
        children = ops.convert_to_tensor(self.hierarchy.children_mask)
        flat, hidden, memory, mask = self._begin(features, training)
        embedded = self._no_label(flat)
        previous = ops.full((ops.shape(flat)[0],), self.hierarchy.root, dtype="int32")
        path, probabilities, alphas, betas = [], [], [], []
        for step in range(self.hierarchy.max_depth):
            context, alpha, beta = self._attend(flat, hidden, memory, training)
            hidden, memory, logits = self._advance(context, embedded, hidden, memory, mask, training)
            allowed = ops.take(children, previous, axis=0) > 0
            has_children = ops.any(allowed, axis=-1)
            choice = ops.cast(ops.argmax(ops.where(allowed, logits, _NEG_LARGE), axis=-1), "int32")
            path.append(ops.where(has_children, choice, -1))
            probabilities.append(_masked_softmax(logits, allowed))
            alphas.append(alpha)
            betas.append(beta)
            previous = ops.where(has_children, choice, previous)
            if step + 1 < self.hierarchy.max_depth:
                embedded = self.label_embedding(previous)
        result = {
            "path": ops.stack(path, axis=1),
            "diagnosis": ops.take(ops.convert_to_tensor(self.hierarchy.node_to_leaf), previous, axis=0),
            "step_probabilities": ops.stack(probabilities, axis=1),
        }
        if return_attention:
            result["spatial"] = ops.stack(alphas, axis=1)
            result["channel"] = ops.stack(betas, axis=1)
        return result

    def leaf_probabilities(self, features, training=None):
        """Class probabilities ``[B, K]`` (float32): each class's the product of the per-level probabilities
        along its path, with that path's labels fed back (per-level: softmax over the parent's children)."""
        hierarchy = self.hierarchy
        flat, hidden, memory, mask = self._begin(features, training)
        batch = ops.shape(flat)[0]
        leaf_probability: dict[int, Any] = {}

        def expand(node, hidden, memory, embedded, probability):
            context, _, _ = self._attend(flat, hidden, memory, training)
            hidden, memory, logits = self._advance(context, embedded, hidden, memory, mask, training)
            kids = hierarchy.children(node)
            conditional = ops.softmax(ops.take(logits, np.array(kids, np.int32), axis=1), axis=-1)
            for j, kid in enumerate(kids):
                kid_probability = conditional[:, j] if probability is None else probability * conditional[:, j]
                if hierarchy.is_leaf[kid]:
                    leaf_probability[int(hierarchy.node_to_leaf[kid])] = kid_probability
                else:
                    kid_embedded = self.label_embedding(ops.full((batch,), kid, dtype="int32"))
                    expand(kid, hidden, memory, kid_embedded, kid_probability)

        expand(hierarchy.root, hidden, memory, self._no_label(flat), None)
        return ops.stack([leaf_probability[k] for k in range(hierarchy.num_leaves)], axis=-1)

    def call(self, inputs, training=None):
        greedy = self.greedy(inputs, training=training)
        return {
            "diagnosis": greedy["diagnosis"],
            "path": greedy["path"],
            "probabilities": self.leaf_probabilities(inputs, training=training),
        }

    def compute_output_spec(self, inputs, training=None):
        batch = inputs.shape[0]
        return {
            "diagnosis": keras.KerasTensor((batch,), dtype="int32"),
            "path": keras.KerasTensor((batch, self.hierarchy.max_depth), dtype="int32"),
            "probabilities": keras.KerasTensor((batch, self.hierarchy.num_leaves), dtype="float32"),
        }

    def get_config(self):
        config = super().get_config()
        config.update({
            "hierarchy": self.hierarchy.get_config(),
            "units": self.units,
            "dropout": self.dropout,
            "ratio": self.ratio,
            "embedding_dim": self.embedding_dim,
            "attention_dropout": self.attention_dropout,
        })
        return config


def _masked_softmax(logits, allowed):
    """Softmax of ``logits`` over the ``allowed`` entries (0 elsewhere; an all-False row gives zeros)."""
    shifted = ops.where(allowed, logits, _NEG_LARGE)
    shifted = shifted - ops.max(shifted, axis=-1, keepdims=True)
    weights = ops.exp(shifted) * ops.cast(allowed, logits.dtype)
    return weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1e-30)


# =================================================================================================== loss


@keras.saving.register_keras_serializable(package="dermkit")
class HierarchicalLoss(keras.losses.Loss):
    """barata2020 Eq. 10: per sample, the sum over its path's levels of a per-level loss (CE Eq. 5 or FL Eq. 6).

    ``ℓ_j = Σ_{l=1..L_j} ℓ^l(y_j^l, p_j^l)`` with ``L_j`` = 2 for melanocytic and 3 for non-melanocytic
    lesions (the hierarchy's path lengths); levels past a path's end are masked out.

    Contract (what :class:`HierarchicalClassifier`'s ``train_step`` / ``test_step`` pass):

    - ``y_true``: the diagnosis, one-hot ``[B, K]`` (argmax taken: soft labels pick their largest class) or
      class indices ``[B]`` — the same labels a flat model gets;
    - ``y_pred``: float32 ``[B, L, N]``, the teacher-forced per-step softmax over all N tree nodes;
    - :meth:`call` returns the per-sample losses ``[B]`` (float32); Keras then applies ``sample_weight`` and
      the ``reduction`` (default: mean over the batch, Eq. 1/2).

    So it can be the ``base`` of a per-sample weighting wrapper (barata2020 Eq. 3: class-balanced weights of
    each sample's diagnosis, SPL/OHEM selection on ``ℓ_j``): such a wrapper calls this loss unreduced, reads
    each sample's class from ``y_true`` as for a flat model, and reduces.
    """

    def __init__(self, hierarchy=ISIC2018_HIERARCHY, *, level_loss=None, reduction="sum_over_batch_size",
                 name: str = "hierarchical_loss", dtype=None):
        """Args:
            hierarchy: the :class:`ClassHierarchy` (or its config) the model decodes. Default the ISIC 2018 tree.
            level_loss: the per-level loss, a Keras loss on probabilities: ``keras.losses.CategoricalCrossentropy()``
                (default; Eq. 5) or ``keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=γ)`` (Eq. 6 —
                Keras' default ``alpha=0.25`` is not Eq. 6). Its own reduction is ignored (it is called
                unreduced, per level).
            reduction, name, dtype: ``keras.losses.Loss`` arguments.

        Raises:
            ValueError: a bad hierarchy, a ``level_loss`` that is not a Keras loss or takes logits.
        """
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.hierarchy = _as_hierarchy(hierarchy)
        if level_loss is None:
            level_loss = keras.losses.CategoricalCrossentropy()
        elif isinstance(level_loss, Mapping):
            level_loss = keras.losses.deserialize(level_loss)
        if not isinstance(level_loss, keras.losses.Loss):
            raise ValueError(
                "level_loss must be a keras.losses.Loss instance, e.g. keras.losses.CategoricalCrossentropy(). "
                f"Received: level_loss={level_loss!r}"
            )
        if level_loss.get_config().get("from_logits"):
            raise ValueError(
                "level_loss must take probabilities (from_logits=False): the model passes per-step softmax "
                f"probabilities. Received: level_loss={level_loss.get_config()}"
            )
        self.level_loss = level_loss

    def level_losses(self, y_true, y_pred):
        """Per-level losses ``[B, L]`` (float32), 0 past each path's end."""
        hierarchy = self.hierarchy
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        expected = (hierarchy.max_depth, hierarchy.num_nodes)
        if len(y_pred.shape) != 3 or tuple(y_pred.shape[1:]) != expected:
            raise ValueError(
                f"y_pred must be the per-step node probabilities [B, {expected[0]}, {expected[1]}] of this "
                f"hierarchy. Received: y_pred of shape {tuple(y_pred.shape)}"
            )
        labels = leaf_indices(y_true, hierarchy.num_leaves)
        paths = np.maximum(hierarchy.paths, 0)
        targets = ops.one_hot(ops.take(ops.convert_to_tensor(paths), labels, axis=0), hierarchy.num_nodes)
        mask = ops.take(ops.convert_to_tensor(hierarchy.path_mask), labels, axis=0)  # [B, L]
        targets = ops.cast(targets, "float32") * mask[:, :, None]
        flat_true = ops.reshape(targets, (-1, hierarchy.num_nodes))
        flat_pred = ops.reshape(y_pred, (-1, hierarchy.num_nodes))
        values = ops.reshape(ops.cast(self.level_loss.call(flat_true, flat_pred), "float32"), ops.shape(mask))
        return values * mask

    def call(self, y_true, y_pred):
        return ops.sum(self.level_losses(y_true, y_pred), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({
            "hierarchy": self.hierarchy.get_config(),
            "level_loss": keras.losses.serialize(self.level_loss),
        })
        return config


# ================================================================================================= models


@keras.saving.register_keras_serializable(package="dermkit")
class HierarchicalClassifier(keras.Model):
    """barata2020's hierarchical model: an image encoder + :class:`HierarchicalAttentionDecoder`.

    Build it with :func:`hierarchical_classifier`. ``model(images)`` / ``predict`` return a dict:
    ``"diagnosis"`` int32 ``[B]`` (greedy decoding — what the tables use), ``"probabilities"`` float32 ``[B, K]``
    (leaf probabilities by the product rule; rows sum to 1), ``"path"`` int32 ``[B, L]`` (greedy node path, -1
    past its end).

    Training (``fit``; works under ``tf.distribute`` strategies and mixed precision):

    - data: ``(images, labels[, sample_weight])`` with ``labels`` one-hot ``[B, K]`` or class indices ``[B]``
      — the same data as the flat model;
    - ``train_step`` runs the encoder and the decoder with **teacher forcing** and calls the compiled loss as
      ``loss(y_true=labels, y_pred=teacher-forced node probabilities [B, L, N] float32, sample_weight)``; the
      default loss (``compile`` without ``loss=``) is :class:`HierarchicalLoss` (Eq. 10 with cross-entropy);
      any Keras loss that maps that pair to per-sample values works (e.g. a sample-weighting wrapper around
      ``HierarchicalLoss``);
    - compiled metrics get ``(labels, leaf probabilities [B, K])``; ``test_step`` reports the teacher-forced
      loss (``val_loss``) and the same metrics.

    :meth:`attention_maps` gives the per-step channel and spatial attention (barata2020 Figs. 3–4).

    Example (a grid row: focal loss per level, per-sample weighting of Eq. 10's ℓ_j)::

        model = hierarchical_classifier(encoder_weights="imagenet")
        level = keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=1.0)   # Eq. 6 per level
        loss = HierarchicalLoss(level_loss=level)                                 # Eq. 10, per sample [B]
        # loss = <per-sample weighting wrapper>(loss, class_weights=w, curriculum="ohem")  # Eq. 3
        model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=loss)
        model.fit(train_ds)                      # batches of (images [B, 299, 299, 3], one-hot [B, 7])
        diagnosis = model.predict(test_images)["diagnosis"]                       # greedy, class indices
    """

    def __init__(self, encoder: keras.Model, *, hierarchy=ISIC2018_HIERARCHY, units: int = 512,
                 dropout: float = 0.5, ratio: int = DYNAMIC_RATIO, embedding_dim: int = EMBEDDING_DIM, **kwargs):
        """Args:
            encoder: a ``keras.Model`` from images to features ``[B, H, W, C]`` (its config is saved with the
                model). :func:`hierarchical_classifier` passes VGG16 up to ``block5_conv3``.
            hierarchy, units, dropout, ratio, embedding_dim: see :class:`HierarchicalAttentionDecoder`.
            **kwargs: ``keras.Model`` arguments (``name``, ...).
        """
        if not isinstance(encoder, keras.Model) or len(encoder.outputs or []) != 1 or len(encoder.output.shape) != 4:
            raise ValueError(f"encoder must be a keras.Model with one [B, H, W, C] output. Received: {encoder!r}")
        super().__init__(**kwargs)
        self.encoder = encoder
        self.hierarchy = _as_hierarchy(hierarchy)
        self.units, self.dropout, self.ratio, self.embedding_dim = units, dropout, ratio, embedding_dim
        self.decoder = HierarchicalAttentionDecoder(
            self.hierarchy, units=units, dropout=dropout, ratio=ratio, embedding_dim=embedding_dim,
            name="decoder", dtype=self.dtype_policy,
        )
        self.decoder.build(tuple(encoder.output.shape))
        self.built = True

    def call(self, inputs, training=None):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    # ------------------------------------------------------------------------------------------- training

    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        """``keras.Model.compile``; ``loss`` defaults to ``HierarchicalLoss(self.hierarchy)`` (Eq. 10, CE).

        Raises:
            ValueError: ``loss`` is a :class:`HierarchicalLoss` for another hierarchy.
        """
        if loss is None:
            loss = HierarchicalLoss(self.hierarchy)
        if isinstance(loss, HierarchicalLoss) and loss.hierarchy != self.hierarchy:
            raise ValueError(
                f"the loss decodes another hierarchy than the model: loss {loss.hierarchy!r}, model {self.hierarchy!r}"
            )
        super().compile(optimizer=optimizer, loss=loss, **kwargs)
        self._build_compiled_loss_and_metrics()

    def _build_compiled_loss_and_metrics(self) -> None:
        """Build the compiled loss and metrics on the structures the train/test steps pass them.

        Under a ``tf.distribute`` strategy Keras builds them before the first step from ``model(x)`` (the
        prediction dict), which is not what the loss (teacher-forced ``[B, L, N]``) or the metrics (leaf
        probabilities ``[B, K]``) receive here; building them first on a one-sample batch of the right shapes
        makes Keras skip that. Metric states are reset afterwards.
        """
        h = self.hierarchy
        labels = ops.one_hot(ops.zeros((1,), dtype="int32"), h.num_leaves)
        with self.distribute_strategy.scope():
            self.compute_loss(y=labels, y_pred=ops.full((1, h.max_depth, h.num_nodes), 1.0 / h.num_nodes),
                              training=False)
            self.compute_metrics(None, labels, ops.full((1, h.num_leaves), 1.0 / h.num_leaves))
        self.reset_metrics()

    def compile_from_config(self, config):
        """Re-compile on reload (``dermkit.load_model``): Keras skips models whose ``compile`` is overridden."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def _track_loss(self, loss, x) -> None:
        # As Keras' own train_step: the reported loss is the global one (undo the 1/replicas scaling).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss * ops.cast(replicas, loss.dtype)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss, sample_weight=ops.shape(x)[0])

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        labels = leaf_indices(y, self.hierarchy.num_leaves)
        with tf.GradientTape() as tape:
            features = self.encoder(x, training=True)
            forced = self.decoder.teacher_forced(features, labels, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=forced["probabilities"], sample_weight=sample_weight,
                                     training=True)
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        self._track_loss(loss, x)
        probabilities = self.decoder.leaf_probabilities(ops.stop_gradient(features), training=False)
        return self.compute_metrics(x, y, probabilities, sample_weight=sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        labels = leaf_indices(y, self.hierarchy.num_leaves)
        features = self.encoder(x, training=False)
        forced = self.decoder.teacher_forced(features, labels, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=forced["probabilities"], sample_weight=sample_weight,
                                 training=False)
        self._track_loss(loss, x)
        probabilities = self.decoder.leaf_probabilities(features, training=False)
        return self.compute_metrics(x, y, probabilities, sample_weight=sample_weight)

    # -------------------------------------------------------------------------------------- attention maps

    def attention_maps(self, images, *, labels=None, batch_size: int = 20) -> dict[str, np.ndarray]:
        """The decoder's attention at every step (barata2020 Figs. 3–4: "the first selected channel and the
        spatial attention map for the last decision").

        Args:
            images: ``[N, H, W, 3]`` as the model takes them (RGB in [0, 1] with ``preprocess=True``).
            labels: None (default) — the greedy path, as at test time; or class indices ``[N]`` / one-hot
                ``[N, K]`` — the true path, teacher-forced.
            batch_size: images per forward pass. Default 20.

        Returns:
            NumPy arrays: ``path`` ``[N, L]`` (-1 past the end), ``depth`` ``[N]`` (decisions made),
            ``spatial`` ``[N, L, h, w]`` (α of each step, at the feature resolution), ``channel`` ``[N, L, C]``
            (β), ``last_spatial`` ``[N, h, w]`` and ``last_channel`` ``[N, C]`` (the last decision's),
            ``best_channel`` ``[N]`` (argmax of ``last_channel``) and ``best_channel_map`` ``[N, h, w]`` (that
            channel of the encoder features, for display).
        """
        images = np.asarray(images)
        label_array = None
        if labels is not None:
            label_array = np.asarray(leaf_indices(np.asarray(labels), self.hierarchy.num_leaves))
            if len(label_array) != len(images):
                raise ValueError(f"labels has {len(label_array)} entries for {len(images)} images.")
        parts: dict[str, list] = {}
        for start in range(0, len(images), batch_size):
            features = self.encoder(images[start:start + batch_size], training=False)
            if label_array is None:
                decoded = self.decoder.greedy(features, training=False, return_attention=True)
                path = np.asarray(decoded["path"])
            else:
                chunk = label_array[start:start + batch_size]
                decoded = self.decoder.teacher_forced(features, chunk, training=False)
                path = self.hierarchy.paths[chunk]
            h, w = int(features.shape[1]), int(features.shape[2])
            spatial = np.asarray(decoded["spatial"]).reshape(len(path), -1, h, w)
            channel = np.asarray(decoded["channel"])
            depth = (path >= 0).sum(axis=1)
            rows = np.arange(len(path))
            last_channel = channel[rows, depth - 1]
            best = last_channel.argmax(axis=1)
            feature_array = np.asarray(ops.cast(features, "float32"))
            batch = {
                "path": path, "depth": depth, "spatial": spatial, "channel": channel,
                "last_spatial": spatial[rows, depth - 1], "last_channel": last_channel, "best_channel": best,
                "best_channel_map": feature_array[rows, :, :, best],
            }
            for key, value in batch.items():
                parts.setdefault(key, []).append(value)
        return {key: np.concatenate(value) for key, value in parts.items()}

    # -------------------------------------------------------------------------------------- serialisation

    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "hierarchy": self.hierarchy.get_config(),
            "units": self.units,
            "dropout": self.dropout,
            "ratio": self.ratio,
            "embedding_dim": self.embedding_dim,
        })
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"), custom_objects=custom_objects)
        return cls(encoder, **config)


# =============================================================================================== builders


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")


def _check_rate(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1). Received: {name}={value!r}")


def _validate_common(input_shape, encoder_weights, weights, preprocess, dropout) -> None:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 3
        or shape[2] != 3
        or not all(s is None or (isinstance(s, int) and not isinstance(s, bool) and s >= _MIN_INPUT) for s in shape[:2])
    ):
        raise ValueError(
            f"input_shape must be (H, W, 3) with H, W >= {_MIN_INPUT} (or None). Received: input_shape={input_shape!r}"
        )
    if encoder_weights is not None and not isinstance(encoder_weights, (str, os.PathLike)):
        raise ValueError(
            "encoder_weights must be None, 'imagenet' or a path to the Keras VGG16 notop .h5 file. "
            f"Received: encoder_weights={encoder_weights!r}"
        )
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights must be None, a registry name or a path to an .h5 file. Received: weights={weights!r}"
        )
    if not isinstance(preprocess, bool):
        raise ValueError(f"preprocess must be True or False. Received: preprocess={preprocess!r}")
    _check_rate("dropout", dropout)


def _vgg16_features(input_shape, encoder_weights, preprocess, until: str):
    """``image`` → (``preprocess``) → VGG16 layers up to ``until``: (inputs, features)."""
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = ImageNetPreprocess("caffe", name="preprocess")(inputs) if preprocess else inputs
    encoder = build_encoder("vgg16", encoder_weights=encoder_weights, input_tensor=x)
    return inputs, encoder.get_layer(until).output


def vgg16_cbam_classifier(
    input_shape=(299, 299, 3),
    *,
    num_classes: int = 7,
    encoder_weights=None,
    weights=None,
    preprocess: bool = True,
    dropout: float = 0.5,
    name: str = "vgg16_cbam",
) -> keras.Model:
    """barata2020's flat model (Section 4.1): VGG16 → CBAM → global average pooling → dropout → softmax.

    Layers: ``image`` → ``preprocess`` (:class:`~dermkit.models.layers.ImageNetPreprocess`, caffe mode, when
    ``preprocess=True``) → ``block1_conv1`` … ``block5_pool`` (Keras VGG16, 9×9×512 at 299²) → ``cbam``
    (:class:`CBAM`, r = 16, 7×7) → ``avg_pool`` (GlobalAveragePooling2D) → ``dropout`` (rate ``dropout``) →
    ``predictions`` (Dense ``num_classes``, softmax, float32 also under mixed precision).

    The head is dermkit's reading of the paper: it says only that CBAM acts "on the output of the last
    max-pooling layer" and that "the final layer of the network is a fully connected, with the same number of
    neurons as the number of classes", with dropout 0.5 "in several layers"; dermkit pools the attended
    features globally (average) and applies dropout 0.5 before that layer (VGG16's 4096-unit fc layers are
    not used).

    Where the flat model drops out, and why (dermkit's choice; the paper is silent and this study has no
    public code): once, on the pooled 512-d CBAM output (layer ``dropout``), right before ``predictions``.
    VGG16's own dropout sits in its fc6 / fc7 layers, which this model does not have, and its convolutional
    blocks have none — adding some there would change the ImageNet features the paper starts from. The
    single fully connected layer is the flat model's only dense layer, so it is the one place left; the
    paper's "several layers" is met by the hierarchical model (:func:`hierarchical_classifier`: initial state,
    LSTM input and pre-classifier dropouts of 0.5, as in the authors' earlier code).

    Every argument after ``input_shape`` is keyword-only.

    Args:
        input_shape: ``(H, W, 3)``, H, W ≥ 32 or None. Default ``(299, 299, 3)`` (the paper's).
        num_classes: softmax units (≥ 2). Default 7 (ISIC 2018).
        encoder_weights: ``None`` (random), ``"imagenet"`` (the paper's initialisation) or a path to the Keras
            VGG16 notop file (:func:`dermkit.weights.build_encoder`). Not downloaded when ``weights`` is given.
        weights: ``None``, a registry name or a path to full-model weights (:func:`dermkit.weights.load_weights`).
        preprocess: True — the model takes RGB float32 in [0, 1] and applies VGG16's ImageNet (caffe)
            preprocessing inside; False — inputs are already preprocessed. Default True.
        dropout: rate of the dropout before the classification layer, in [0, 1). Default 0.5.
        name: model name. Default ``"vgg16_cbam"``.

    Returns:
        An uncompiled ``keras.Model`` from ``[B, H, W, 3]`` to float32 ``[B, num_classes]`` probabilities. Its
        CBAM maps: :func:`cbam_attention_maps`.

    Raises:
        ValueError: a bad argument (the message names it and ends with ``Received: ...``).
        DermkitFileNotFoundError, DermkitDataError, OSError: from ``build_encoder`` / ``load_weights``.
    """
    _validate_common(input_shape, encoder_weights, weights, preprocess, dropout)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2 (softmax head). Received: num_classes={num_classes!r}")
    if weights is not None:
        encoder_weights = None  # every weight is overwritten by the loaded file: do not download
    inputs, features = _vgg16_features(input_shape, encoder_weights, preprocess, "block5_pool")
    x = CBAM(ratio=16, kernel_size=7, name="cbam")(features)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name)
    load_weights(model, weights, head=("predictions",))  # the declared head: re-initialised if the file's differs
    return model


def cbam_attention_maps(model: keras.Model, images, *, layer_name: str = "cbam",
                        batch_size: int = 20) -> dict[str, np.ndarray]:
    """The CBAM maps of a :func:`vgg16_cbam_classifier` model on ``images`` (no change to the model).

    Returns NumPy arrays: ``channel`` ``[N, C]`` (M_c), ``spatial`` ``[N, h, w]`` (M_s), ``best_channel`` ``[N]``
    (argmax of M_c) and ``best_channel_map`` ``[N, h, w]`` (that channel of CBAM's input features).

    Raises:
        ValueError: the model has no :class:`CBAM` layer named ``layer_name``.
    """
    try:
        layer = model.get_layer(layer_name)
    except ValueError as err:
        raise ValueError(f"model {model.name!r} has no layer {layer_name!r}.") from err
    if not isinstance(layer, CBAM):
        raise ValueError(f"layer {layer_name!r} of model {model.name!r} is a {type(layer).__name__}, not a CBAM.")
    features_model = keras.Model(model.input, layer.input, name=f"{model.name}_cbam_input")
    parts: dict[str, list] = {}
    images = np.asarray(images)
    for start in range(0, len(images), batch_size):
        features = features_model(images[start:start + batch_size], training=False)
        _, channel, spatial = layer(features, return_attention=True)
        channel, spatial = np.asarray(channel), np.asarray(spatial)
        best = channel.argmax(axis=1)
        feature_array = np.asarray(ops.cast(features, "float32"))
        batch = {"channel": channel, "spatial": spatial, "best_channel": best,
                 "best_channel_map": feature_array[np.arange(len(best)), :, :, best]}
        for key, value in batch.items():
            parts.setdefault(key, []).append(value)
    return {key: np.concatenate(value) for key, value in parts.items()}


def hierarchical_classifier(
    input_shape=(299, 299, 3),
    *,
    hierarchy: ClassHierarchy = ISIC2018_HIERARCHY,
    encoder_weights=None,
    weights=None,
    preprocess: bool = True,
    units: int = 512,
    dropout: float = 0.5,
    ratio: int = DYNAMIC_RATIO,
    embedding_dim: int = EMBEDDING_DIM,
    name: str = "vgg16_hierarchical",
) -> HierarchicalClassifier:
    """barata2020's hierarchical model (Section 4.1): VGG16 to ``block5_conv3`` → LSTM with dynamic attention.

    The encoder (``vgg16_encoder``: ``image`` → ``preprocess`` → ``block1_conv1`` … ``block5_conv3``, no pool;
    18×18×512 at 299²) feeds a :class:`HierarchicalAttentionDecoder` (``decoder``) that decodes the class path
    one level per step (module docstring). Outputs, training contract and attention maps:
    :class:`HierarchicalClassifier`. Tables use the greedy ``"diagnosis"``; ``"probabilities"`` are the leaf
    probabilities by the product rule.

    Every argument after ``input_shape`` is keyword-only.

    Args:
        input_shape: ``(H, W, 3)``, H, W ≥ 32 or None. Default ``(299, 299, 3)``.
        hierarchy: the taxonomy (:class:`ClassHierarchy`). Default :data:`ISIC2018_HIERARCHY`.
        encoder_weights: ``None``, ``"imagenet"`` or a path to the Keras VGG16 notop file. Not downloaded when
            ``weights`` is given.
        weights: ``None``, a registry name or a path to full-model weights (e.g. a ``.weights.h5`` checkpoint).
        preprocess: True — RGB float32 in [0, 1] in, VGG16's caffe preprocessing inside. Default True.
        units: LSTM units. Default 512 (the state fed to attention and classifier is 1024-d).
        dropout: rate of the initial-state, LSTM-input and pre-classifier dropouts. Default 0.5.
        ratio: dynamic channel attention's reduction ratio. Default 2 (reference notes).
        embedding_dim: label-embedding width. Default 50 (the authors' GloVe width).
        name: model name. Default ``"vgg16_hierarchical"``.

    Returns:
        An uncompiled :class:`HierarchicalClassifier`.

    Raises:
        ValueError: a bad argument (the message names it and ends with ``Received: ...``).
        DermkitFileNotFoundError, DermkitDataError, OSError: from ``build_encoder`` / ``load_weights``.
    """
    _validate_common(input_shape, encoder_weights, weights, preprocess, dropout)
    hierarchy = _as_hierarchy(hierarchy)
    _check_positive_int("units", units)
    _check_positive_int("ratio", ratio)
    _check_positive_int("embedding_dim", embedding_dim)
    if weights is not None:
        encoder_weights = None
    inputs, features = _vgg16_features(input_shape, encoder_weights, preprocess, "block5_conv3")
    encoder = keras.Model(inputs, features, name="vgg16_encoder")
    model = HierarchicalClassifier(encoder, hierarchy=hierarchy, units=units, dropout=dropout, ratio=ratio,
                                   embedding_dim=embedding_dim, name=name)
    load_weights(model, weights, head=("node_logits",))  # the declared head (the decoder's output Dense)
    return model


import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered with Keras)
