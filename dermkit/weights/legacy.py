"""Reading legacy Keras 2 HDF5 weight files and assigning them to Keras 3 layers by name.

Keras 2 ``save_weights("x.h5")`` layout: root attributes ``layer_names`` (every layer, in topological
order), ``keras_version`` and ``backend``; one group per layer with attribute ``weight_names`` (e.g.
``block1_conv1/kernel:0``) and a dataset at each of those paths inside the group. ``model.save("x.h5")``
files hold the same under a ``model_weights`` group. Keras 3's own ``load_weights`` on such a file matches
by topological order, which silently swaps layers of identical shapes when the order differs; dermkit
matches by (mapped) name and refuses a file that does not fit, listing everything that differs.

Needs h5py and NumPy only (no TensorFlow) to read; assigning needs a Keras model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from dermkit._io import atomic_path
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = ["read_legacy_h5", "assign_layer_weights", "legacy_layer_names", "write_legacy_h5", "reinitialise_layer",
           "head_message"]

NameMap = Mapping[str, str] | Callable[[str], str] | None

#: A layer's variable attribute and the initializer attribute that re-creates it (Dense, Conv*, Embedding...).
_INITIALISED = (("kernel", "kernel_initializer"), ("bias", "bias_initializer"),
                ("embeddings", "embeddings_initializer"), ("gamma", "gamma_initializer"),
                ("beta", "beta_initializer"), ("moving_mean", "moving_mean_initializer"),
                ("moving_variance", "moving_variance_initializer"))


def reinitialise_layer(layer) -> None:
    """Draw fresh values for every variable of ``layer`` from its own initializers (``kernel_initializer``,
    ``bias_initializer``, ...): what a newly built classifier head holds. (A Keras 3 initializer created
    without a seed fixes one when it is created, so the layer gets back the values it was built with.)

    Raises:
        DermkitDataError: the layer holds a variable with no initializer attribute (naming the layer and the
            variable), so it cannot be re-initialised.
    """
    covered = set()
    updates = []
    for var_attr, init_attr in _INITIALISED:
        var = getattr(layer, var_attr, None)
        init = getattr(layer, init_attr, None)
        if var is None or init is None or not hasattr(var, "assign"):
            continue
        updates.append((var, init))
        covered.add(id(var))
    left = [v.path if hasattr(v, "path") else str(v) for v in layer.weights if id(v) not in covered]
    if left:
        raise DermkitDataError(f"layer {layer.name} ({type(layer).__name__}) cannot be re-initialised: no initializer "
                               f"for {left}")
    for var, init in updates:
        var.assign(init(tuple(var.shape), dtype=var.dtype))


def head_message(source: str, heads: list[tuple[str, list | None, list]]) -> str:
    """The one log line of a head re-initialisation: ``source: classifier head fc8 re-initialised (file:
    [(4096, 10575), (10575,)], model: [(4096, 3), (3,)]); every other layer loaded``."""
    parts = [f"{name} (file: {'absent' if got is None else got}, model: {expected})" for name, got, expected in heads]
    return (f"{source}: classifier head {', '.join(parts)} re-initialised from its initializers "
            "(absent from the file or of another shape); every other layer loaded from the file")


def _decode(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _weights_group(f, source: str):
    """The group holding ``layer_names``: the root (save_weights) or ``model_weights`` (model.save)."""
    if "layer_names" in f.attrs:
        return f
    if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
        return f["model_weights"]
    raise DermkitDataError(
        f"{source}: not a legacy Keras 2 HDF5 weights file (no 'layer_names' attribute at the root or in a "
        "'model_weights' group)."
    )


def legacy_layer_names(path: str | os.PathLike) -> list[str]:
    """The file's ``layer_names`` attribute (every layer of the saved model, in topological order)."""
    import h5py

    path = Path(path)
    with h5py.File(path, "r") as f:
        return [_decode(n) for n in _weights_group(f, str(path)).attrs["layer_names"]]


def read_legacy_h5(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Read a Keras 2 HDF5 weights file into ``{layer name: [arrays in weight_names order]}``.

    Layers are in the order of the file's ``layer_names`` attribute; layers without weights (input,
    pooling, activation, concatenation layers) are kept with an empty list.

    Raises:
        DermkitFileNotFoundError: ``path`` does not exist.
        DermkitDataError: the file is not in the legacy layout (message names the file and what is missing).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DermkitFileNotFoundError(f"{path}: weights file not found.")
    out: dict[str, list[np.ndarray]] = {}
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DermkitDataError(f"{path}: not a readable HDF5 file ({err}).") from err
    with f:
        group = _weights_group(f, str(path))
        for layer_name in (_decode(n) for n in group.attrs["layer_names"]):
            if layer_name not in group:
                raise DermkitDataError(f"{path}: layer {layer_name!r} is listed in layer_names but has no group.")
            layer_group = group[layer_name]
            weight_names = [_decode(n) for n in layer_group.attrs.get("weight_names", [])]
            arrays = []
            for weight_name in weight_names:
                if weight_name not in layer_group:
                    raise DermkitDataError(
                        f"{path}: layer {layer_name!r} lists weight {weight_name!r} but has no such dataset."
                    )
                arrays.append(np.asarray(layer_group[weight_name]))
            out[layer_name] = arrays
    return out


def _mapper(name_map: NameMap) -> Callable[[str], str]:
    if name_map is None:
        return lambda name: name
    if callable(name_map):
        return name_map
    if isinstance(name_map, Mapping):
        return lambda name: name_map.get(name, name)
    raise TypeError(f"name_map must be None, a mapping or a callable. Received: name_map={name_map!r}")


def assign_layer_weights(
    model,
    weights_by_layer: Mapping[str, list[np.ndarray]],
    *,
    name_map: NameMap = None,
    source: str = "",
    head: Sequence[str] = (),
    skip: Sequence[str] = (),
) -> list[tuple[str, list | None, list]]:
    """Set each model layer's weights from ``weights_by_layer``, matching layers by (mapped) name.

    All or nothing: every problem is collected first — file layers (with weights) that match no model
    layer, model layers with weights that nothing in the file provides, two file layers mapped onto one
    model layer, a different number of weights or a different shape — and if there is any, nothing is set
    and one error lists them all (with the shapes).

    The classifier head the builder declares (``head``: model layer names, e.g. AlexNet's ``("fc8",)``) is
    the exception: a head layer absent from the file, or there with other shapes (a CASIA-WebFace AlexNet's
    10,575-way fc8 against a 3-way one), is re-initialised (:func:`reinitialise_layer`) instead of being an
    error; everything else is loaded. File layers named in ``skip`` that the model lacks are ignored (an
    AlexNet file's fc6–fc8 loaded into the CHAI embedding).

    Args:
        model: a Keras model (nested models are searched by their layers' names too).
        weights_by_layer: ``{file layer name: [arrays]}``, e.g. from :func:`read_legacy_h5`; layers with
            no arrays are ignored.
        name_map: file layer name → model layer name, as a dict (unlisted names map to themselves) or a
            callable; identity by default.
        source: what the weights came from (a path), put at the start of the error message.
        head: the model's classifier-head layers (re-initialised when the file does not fit them); a name
            the model's layers do not hold (a sublayer of a custom layer) changes nothing.
        skip: file layer names ignored when the model has no layer of that (mapped) name.

    Returns:
        The re-initialised head layers, ``[(name, file shapes or None when absent, model shapes)]`` (empty when
        the file fitted entirely); the caller logs them (:func:`head_message`).

    Raises:
        DermkitDataError: the weights do not fit the model outside the head; the message lists every
            difference with the shapes.
    """
    mapper = _mapper(name_map)
    head, skip = set(_names(head, "head")), set(_names(skip, "skip"))
    heads: list[tuple[str, list | None, list]] = []
    layers = {layer.name: layer for layer in _all_layers(model)}
    problems: list[str] = []
    assignments: list[tuple[object, list[np.ndarray]]] = []
    used: dict[str, str] = {}
    for file_name, arrays in weights_by_layer.items():
        if not arrays:
            continue
        target = mapper(file_name)
        layer = layers.get(target)
        label = file_name if target == file_name else f"{file_name} (→ {target})"
        if layer is None:
            if file_name not in skip and target not in skip:
                problems.append(f"file layer {label} has no layer of that name in the model")
            continue
        if target in used:
            problems.append(f"file layers {used[target]} and {file_name} both map onto model layer {target}")
            continue
        used[target] = file_name
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if target in head and expected != got:
            heads.append((target, got, expected))
        elif len(expected) != len(got):
            problems.append(
                f"layer {label}: the file has {len(got)} weights {got}, the model layer has {len(expected)} "
                f"{expected}"
            )
        elif expected != got:
            problems.append(f"layer {label}: shapes differ, file {got} vs model {expected}")
        else:
            assignments.append((layer, list(arrays)))
    for name, layer in layers.items():
        if layer.weights and name not in used and not _has_weighted_sublayers(layer):
            if name in head:
                heads.append((name, None, [tuple(w.shape) for w in layer.weights]))
            else:
                problems.append(f"model layer {name} has weights but nothing in the file maps onto it (model "
                                f"shapes {[tuple(w.shape) for w in layer.weights]})")
    if problems:
        prefix = f"{source}: " if source else ""
        raise DermkitDataError(
            f"{prefix}the weights do not fit the model ({len(problems)} difference(s)); nothing was loaded:\n  - "
            + "\n  - ".join(problems)
        )
    for layer, arrays in assignments:
        layer.set_weights(arrays)
    for name, _, _ in heads:
        reinitialise_layer(layers[name])
    return heads


def _names(value: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{what} must be a sequence of layer names (e.g. ('fc8',)). Received: {what}={value!r}")
    return tuple(value)


def _has_weighted_sublayers(layer) -> bool:
    """Nested models are matched through their own layers, not as a whole."""
    return hasattr(layer, "layers") and any(sub.weights for sub in layer.layers)


def _all_layers(model):
    """Every layer of ``model``, descending into nested models (depth first)."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def write_legacy_h5(
    path: str | os.PathLike,
    weights_by_layer: Mapping[str, list[np.ndarray]],
    *,
    weight_names: Mapping[str, list[str]] | None = None,
    keras_version: str = "2.2.4",
    backend: str = "tensorflow",
    overwrite: bool = False,
) -> Path:
    """Write ``{layer name: [arrays]}`` in the Keras 2 ``save_weights`` HDF5 layout (for Keras 2 tools, tests).

    Layers are listed in ``layer_names`` in the mapping's order (layers with no arrays included, as Keras 2
    lists every layer). Weight names default to ``<layer>/kernel:0``, ``<layer>/bias:0`` for two arrays and
    ``<layer>/weight_<i>:0`` otherwise. Written atomically.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: a ``weight_names`` entry does not have one name per array.
    """
    import h5py

    with atomic_path(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode("utf-8") for n in weights_by_layer])
        f.attrs["keras_version"] = keras_version.encode("utf-8")
        f.attrs["backend"] = backend.encode("utf-8")
        for layer_name, arrays in weights_by_layer.items():
            group = f.create_group(layer_name)
            names = (weight_names or {}).get(layer_name)
            if names is None:
                names = (
                    [f"{layer_name}/kernel:0", f"{layer_name}/bias:0"]
                    if len(arrays) == 2
                    else [f"{layer_name}/weight_{i}:0" for i in range(len(arrays))]
                )
            if len(names) != len(arrays):
                raise ValueError(
                    f"layer {layer_name!r}: {len(arrays)} arrays but {len(names)} weight names. Received: {names!r}"
                )
            group.attrs["weight_names"] = np.array([n.encode("utf-8") for n in names])
            for weight_name, array in zip(names, arrays):
                group.create_dataset(weight_name, data=np.asarray(array))
    return Path(path)
