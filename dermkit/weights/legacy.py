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
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from dermkit._io import atomic_path
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = ["read_legacy_h5", "assign_layer_weights", "legacy_layer_names", "write_legacy_h5"]

NameMap = Mapping[str, str] | Callable[[str], str] | None


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
) -> None:
    """Set each model layer's weights from ``weights_by_layer``, matching layers by (mapped) name.

    All or nothing: every problem is collected first — file layers (with weights) that match no model
    layer, model layers with weights that nothing in the file provides, two file layers mapped onto one
    model layer, a different number of weights or a different shape — and if there is any, nothing is set
    and one error lists them all.

    Args:
        model: a Keras model (nested models are searched by their layers' names too).
        weights_by_layer: ``{file layer name: [arrays]}``, e.g. from :func:`read_legacy_h5`; layers with
            no arrays are ignored.
        name_map: file layer name → model layer name, as a dict (unlisted names map to themselves) or a
            callable; identity by default.
        source: what the weights came from (a path), put at the start of the error message.

    Raises:
        DermkitDataError: the weights do not fit the model; the message lists every difference.
    """
    mapper = _mapper(name_map)
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
            problems.append(f"file layer {label} has no layer of that name in the model")
            continue
        if target in used:
            problems.append(f"file layers {used[target]} and {file_name} both map onto model layer {target}")
            continue
        used[target] = file_name
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if len(expected) != len(got):
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
            problems.append(f"model layer {name} has weights but nothing in the file maps onto it")
    if problems:
        head = f"{source}: " if source else ""
        raise DermkitDataError(
            f"{head}the weights do not fit the model ({len(problems)} difference(s)); nothing was loaded:\n  - "
            + "\n  - ".join(problems)
        )
    for layer, arrays in assignments:
        layer.set_weights(arrays)


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
