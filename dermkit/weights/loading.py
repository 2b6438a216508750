"""The weights rules shared by every dermkit builder.

- ``encoder_weights`` ∈ {``None``, ``"imagenet"``, path to a Keras "notop" file}: :func:`build_encoder`.
  ``"imagenet"`` uses the file in the Keras cache (``$KERAS_HOME/models`` or ``~/.keras/models``) when it is
  there, downloads it otherwise, and, offline, fails naming the exact file, its URL and where to put it.
- ``weights`` ∈ {``None``, registry name, path}: :func:`load_weights`. Files are recognised from their HDF5
  attributes (:func:`detect_weights_format`): Keras 3 ``.weights.h5``, legacy Keras 2 HDF5 (matched by
  layer name, with the builder's map for auto-named layers) or segmentation-models files (delegated to
  :mod:`dermkit.weights.segmentation_models`).
- Registry names are resolved by :func:`fetch_weights`: explicit path > Keras cache > URL, with a SHA-256
  check that is on by default.

Nothing here downloads at import.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dermkit.errors import DermkitDataError, DermkitFileNotFoundError
from dermkit.weights.legacy import (
    assign_layer_weights,
    head_message,
    legacy_layer_names,
    read_legacy_h5,
    reinitialise_layer,
)
from dermkit.weights.registry import KERAS_CACHE_SUBDIR, REGISTRY, WeightsEntry

__all__ = [
    "ENCODERS",
    "EncoderSpec",
    "WEIGHTS_FORMATS",
    "WeightsUnavailableError",
    "build_encoder",
    "detect_weights_format",
    "fetch_weights",
    "keras_cache_dir",
    "load_weights",
    "resolve_encoder_weights",
    "sha256sum",
    "weights_info",
]

logger = logging.getLogger(__name__)

WEIGHTS_FORMATS = ("keras3", "legacy", "segmentation_models")
_APPLICATIONS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


class WeightsUnavailableError(OSError):
    """A weights file is neither in the Keras cache nor downloadable (offline, URL unreachable).

    The message names the file, its URL and where to place it by hand. An ``OSError``, so code that catches
    ``OSError`` keeps working; ``dermkit`` commands print the message and exit with code 1.
    """


@dataclass(frozen=True)
class EncoderSpec:
    """A ``keras.applications`` encoder and its ImageNet "notop" weights file."""

    application: str  # attribute of keras.applications
    notop_file: str
    url: str
    md5: str  # the hash keras.applications itself checks
    min_size: int
    preprocess: str  # ImageNetPreprocess mode


def _spec(application, folder, notop_file, md5, min_size, preprocess) -> EncoderSpec:
    return EncoderSpec(application, notop_file, f"{_APPLICATIONS_URL}{folder}/{notop_file}", md5, min_size,
                       preprocess)


ENCODERS: Mapping[str, EncoderSpec] = {
    "vgg16": _spec("VGG16", "vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                   "6d6bbae143d832006294945121d1f1fc", 32, "caffe"),
    "resnet50": _spec("ResNet50", "resnet", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                      "4d473c1dd8becc155b73f8504c6f6626", 32, "caffe"),
    "densenet121": _spec("DenseNet121", "densenet", "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
                         "30ee3e1110167f948a6b9946edeeb738", 32, "torch"),
    "inception_resnet_v2": _spec(
        "InceptionResNetV2", "inception_resnet_v2",
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "d19885ff4a710c122648d3b5c3b684e4", 75, "tf"),
}


# --------------------------------------------------------------------------------------------- cache


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: ``$KERAS_HOME/models``, else ``~/.keras/models``."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / KERAS_CACHE_SUBDIR


def _cache_candidates(file_name: str) -> list[Path]:
    # keras.utils.get_file falls back to /tmp/.keras when the home folder is not writable.
    return [keras_cache_dir() / file_name, Path(tempfile.gettempdir()) / ".keras" / KERAS_CACHE_SUBDIR / file_name]


def _cached(file_name: str) -> Path | None:
    for candidate in _cache_candidates(file_name):
        if candidate.is_file():
            return candidate
    return None


def sha256sum(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(file_name: str, url: str, what: str, file_hash: str | None = None) -> Path:
    """``keras.utils.get_file`` into the Keras cache; offline, say what to place where."""
    import keras

    target = keras_cache_dir() / file_name
    try:
        path = keras.utils.get_file(
            file_name, origin=url, cache_dir=str(target.parent.parent), cache_subdir=KERAS_CACHE_SUBDIR,
            file_hash=file_hash,
        )
    except Exception as err:  # urllib errors arrive wrapped in a bare Exception by keras
        raise WeightsUnavailableError(
            f"Could not download {what} {file_name} from {url} ({type(err).__name__}: {err}). Without network "
            f"access, download it elsewhere and place it at {target} (the Keras cache, ~/.keras/models/ "
            "unless $KERAS_HOME is set), or pass the file's path instead."
        ) from err
    return Path(path)


# ------------------------------------------------------------------------------------------- encoders


def build_encoder(application: str, *, encoder_weights=None, input_tensor=None, input_shape=None, **kwargs):
    """A ``keras.applications`` encoder without its classification top.

    Args:
        application: one of ``"vgg16"``, ``"resnet50"``, ``"densenet121"``, ``"inception_resnet_v2"``.
        encoder_weights: ``None`` (random initialisation), ``"imagenet"`` (the Keras "notop" file: taken
            from the Keras cache when present, downloaded otherwise), or a path to that notop file.
        input_tensor: Keras tensor to build on (the encoder's layers then join the caller's graph).
        input_shape: ``(H, W, 3)``; ``H``/``W`` may be ``None``.
        **kwargs: passed to the application (e.g. ``pooling``).

    Returns:
        The encoder ``keras.Model`` (``include_top=False``).

    Raises:
        ValueError: unknown ``application`` or ``encoder_weights`` value (message lists the allowed ones).
        DermkitFileNotFoundError: ``encoder_weights`` is a path that does not exist.
        WeightsUnavailableError: (an ``OSError``) ``"imagenet"`` and the file is neither cached nor
            downloadable; the message names the file, its URL and the folder to place it in.
    """
    import keras

    if application not in ENCODERS:
        raise ValueError(f"application must be one of {sorted(ENCODERS)}. Received: application={application!r}")
    spec = ENCODERS[application]
    weights_path = resolve_encoder_weights(application, encoder_weights)
    if "include_top" in kwargs:
        raise ValueError(
            f"build_encoder always uses include_top=False. Received: include_top={kwargs['include_top']!r}"
        )
    constructor = getattr(keras.applications, spec.application)
    return constructor(
        include_top=False, weights=None if weights_path is None else str(weights_path),
        input_tensor=input_tensor, input_shape=input_shape, **kwargs,
    )


def resolve_encoder_weights(application: str, encoder_weights) -> Path | None:
    """``encoder_weights`` → ``None`` or the path of an existing notop file (cache first, then download)."""
    spec = ENCODERS[application]
    if encoder_weights is None:
        return None
    if isinstance(encoder_weights, str) and encoder_weights == "imagenet":
        cached = _cached(spec.notop_file)
        if cached is not None:
            return cached
        return _download(spec.notop_file, spec.url, f"the ImageNet weights of {spec.application}", spec.md5)
    if isinstance(encoder_weights, (str, os.PathLike)):
        path = Path(encoder_weights)
        if not path.is_file():
            raise DermkitFileNotFoundError(
                f"{path}: encoder weights file not found (expected the Keras notop file {spec.notop_file}, "
                f"from {spec.url})."
            )
        return path
    raise ValueError(
        "encoder_weights must be None, 'imagenet' or a path to a Keras notop .h5 file "
        f"({spec.notop_file}). Received: encoder_weights={encoder_weights!r}"
    )


# ------------------------------------------------------------------------------------------- registry


def weights_info(name: str) -> WeightsEntry:
    """The registry entry for ``name``.

    Raises:
        ValueError: unknown name; the message lists close matches and every registered name.
    """
    if name in REGISTRY:
        return REGISTRY[name]
    close = difflib.get_close_matches(str(name), list(REGISTRY), n=3, cutoff=0.4)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"unknown weights name {name!r}.{hint} Registered: {sorted(REGISTRY)}.")


def fetch_weights(name: str, *, verify: bool = True) -> Path:
    """Path of the registered file ``name``: from the Keras cache, downloaded there when missing.

    With ``verify=True`` (default) the file's SHA-256 must equal the registry's; an entry whose hash is not
    verified yet (``sha256=None``) logs and prints the file's hash so a maintainer can fill it in.

    Raises:
        ValueError: unknown name (close matches listed).
        WeightsUnavailableError: (an ``OSError``) not cached and not downloadable; the message names the URL
            and where to place the file.
        DermkitDataError: the hash does not match.
    """
    entry = weights_info(name)
    path = _cached(entry.file_name)
    if path is None:
        path = _download(entry.file_name, entry.url, f"the weights {entry.name!r}")
    if verify:
        digest = sha256sum(path)
        if entry.sha256 is None:
            message = (
                f"weights {entry.name!r}: the registry has no verified sha256 yet; {path} has sha256 {digest} "
                "(fill it into dermkit/weights/registry.py once checked against the release)."
            )
            logger.warning(message)
            print(message)
        elif digest != entry.sha256:
            raise DermkitDataError(
                f"{path}: sha256 {digest} does not match the registered {entry.sha256} for weights "
                f"{entry.name!r}; delete the file and fetch it again from {entry.url}."
            )
    return path


# ------------------------------------------------------------------------------------------- formats


def detect_weights_format(path: str | os.PathLike) -> str:
    """``"keras3"``, ``"legacy"`` or ``"segmentation_models"``, read from the HDF5 file's layout.

    Keras 3 ``.weights.h5`` files hold ``layers``/``vars`` groups; Keras 2 files have a ``layer_names``
    attribute (at the root, or in ``model_weights`` for ``model.save`` files). A Keras 2 file is taken as
    segmentation-models' when a layer name contains ``'/'`` (keras-applications 1.0.8 names such as
    ``conv1/conv``) or starts with ``decoder_stage``.

    Raises:
        DermkitFileNotFoundError: no such file.
        DermkitDataError: not HDF5, or none of the three layouts.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DermkitFileNotFoundError(f"{path}: weights file not found.")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DermkitDataError(f"{path}: not a readable HDF5 weights file ({err}).") from err
    with f:
        has_legacy = "layer_names" in f.attrs or ("model_weights" in f and "layer_names" in f["model_weights"].attrs)
        if not has_legacy:
            if "layers" in f or "vars" in f:
                return "keras3"
            raise DermkitDataError(
                f"{path}: not a Keras weights file (no 'layer_names' attribute and no Keras 3 "
                f"'layers'/'vars' groups; top-level keys: {sorted(f.keys())})."
            )
    names = legacy_layer_names(path)
    if any("/" in n or n.startswith("decoder_stage") for n in names):
        return "segmentation_models"
    return "legacy"


def load_weights(model, weights, *, name_map: Mapping[str, str] | Callable[[str], str] | None = None,
                 head: Sequence[str] = (), skip: Sequence[str] = ()):
    """Load ``weights`` into ``model`` and return it.

    The classifier head is a declared notion: a builder passes the layers of its head (AlexNet ``("fc8",)``,
    the classifiers' ``("predictions",)``, ...). Every layer whose shapes match is loaded; a head layer that
    the file lacks or holds with other shapes (a face-recognition AlexNet's 10,575-way fc8; a converted file
    with no fc8) is re-initialised from its initializers and one log line (logger ``dermkit.weights.loading``,
    WARNING) says so with the shapes. Any other mismatch stays an error listing the shapes, and nothing is
    loaded. Same rule for Keras 3 ``.weights.h5`` and legacy Keras 2 ``.h5`` files.

    Args:
        model: the built Keras model.
        weights: ``None`` (no-op), a registry name (see ``weights/README.md``) or a path to a Keras 3
            ``.weights.h5``, legacy Keras 2 ``.h5`` or segmentation-models ``.h5`` file. A Keras 3 file
            saved from a compiled, trained model (e.g. a ``best.weights.h5`` checkpoint) also holds the
            optimizer's variables: the model's arrays are checked and loaded, and the optimizer state is
            restored into ``model.optimizer`` when that is built with the same layout (Keras'
            ``load_weights``), ignored otherwise.
        name_map: for legacy files, file layer name → model layer name (dict or callable; identity by
            default). For a registry name it defaults to the entry's ``legacy_name_map``.
        head: the model's classifier-head layer names (above). Default none: every layer must fit.
        skip: names of file layers to ignore when the model has no such layer (the CHAI embedding loading an
            AlexNet file skips its fc6–fc8). Keras 3 files are matched by their recorded layer names here.

    Raises:
        ValueError: unknown registry name, or ``weights`` of the wrong type.
        DermkitFileNotFoundError: the path does not exist.
        DermkitDataError: the file does not fit the model (every difference listed; nothing loaded).
        NotImplementedError: a segmentation-models file but :mod:`dermkit.weights.segmentation_models` is
            not available.
    """
    if weights is None:
        return model
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights must be None, a registry name ({sorted(REGISTRY)}) or a path to an .h5 file. "
            f"Received: weights={weights!r}"
        )
    path = Path(weights)
    if isinstance(weights, str) and not path.exists() and weights in REGISTRY:
        entry = REGISTRY[weights]
        path = fetch_weights(weights)
        if name_map is None:
            name_map = dict(entry.legacy_name_map)
    elif not path.exists():
        if isinstance(weights, str) and not weights.endswith((".h5", ".hdf5", ".keras")) and os.sep not in weights:
            weights_info(weights)  # raises with close matches
        raise DermkitFileNotFoundError(f"{path}: weights file not found.")
    fmt = detect_weights_format(path)
    if fmt == "keras3":
        heads = _load_keras3(model, path, head=head, skip=skip)
    elif fmt == "legacy":
        heads = assign_layer_weights(model, read_legacy_h5(path), name_map=name_map, source=str(path), head=head,
                                     skip=skip)
    else:
        heads = []
        try:
            module = importlib.import_module("dermkit.weights.segmentation_models")
            importer = module.import_segmentation_models
        except (ImportError, AttributeError) as err:
            raise NotImplementedError(
                f"{path} is a segmentation-models file; loading it needs "
                "dermkit.weights.segmentation_models.import_segmentation_models, which is not available "
                f"({err})."
            ) from err
        importer(model, path)
    if heads:
        logger.warning(head_message(str(path), heads))
    return model


#: Top-level group of a Keras 3 ``.weights.h5`` file that holds the optimizer's state (``optimizer/vars/0``
#: ...: iteration count, learning rate, slots), present when the model was compiled and trained.
_KERAS3_OPTIMIZER_GROUP = "optimizer"


def _keras3_file_entries(path: Path) -> dict[str, tuple[str | None, list]]:
    """A Keras 3 weights file's model arrays: ``{object path: (recorded layer name or None, [arrays])}``.

    Keras 3 writes each object's variables under ``<object path>/vars/<i>`` (``layers/conv2d_1/vars/0``; the
    object path from class-derived names in layer order and attribute names, ``saving_lib``'s walk), with
    the layer's name as the ``name`` attribute of the ``vars`` group (Keras ≥ 3.6), and, after ``compile`` +
    ``fit``, the optimizer's under ``optimizer/vars/<i>`` (left out here).
    """
    import h5py

    entries: dict[str, tuple[str | None, list]] = {}

    def visit(name: str, obj) -> None:
        if not isinstance(obj, h5py.Group) or name.rsplit("/", 1)[-1] != "vars":
            return
        owner = name[: -len("vars")].rstrip("/")
        if owner.split("/", 1)[0] == _KERAS3_OPTIMIZER_GROUP:
            return
        arrays = [obj[key] for key in sorted(obj.keys(), key=int) if isinstance(obj[key], h5py.Dataset)]
        if arrays:
            recorded = obj.attrs.get("name")
            entries[owner] = (None if recorded is None else str(recorded), [np.asarray(a) for a in arrays])

    with h5py.File(path, "r") as f:
        if "vars" in f:
            visit("vars", f["vars"])
        f.visititems(visit)
    return entries


def _keras3_model_entries(model) -> dict[str, tuple[object, list]]:
    """The model's variables by the object path Keras 3 saves them under: ``{path: (layer, [variables])}``.

    Follows Keras' own walk (``keras.src.saving.saving_lib._walk_saveable``, the function ``save_weights``
    uses, with the same class-derived names for list members), so paths agree with the file's exactly. The
    model's optimizer is not walked (its state is Keras' business, see :func:`_load_keras3`).
    """
    from keras.src.saving.keras_saveable import KerasSaveable
    from keras.src.saving.saving_lib import _walk_saveable
    from keras.src.utils import naming

    entries: dict[str, tuple[object, list]] = {}
    visited: set[int] = set()

    def own_variables(obj) -> list:
        if not hasattr(obj, "save_own_variables"):
            return []
        store: dict = {}
        obj.save_own_variables(store)
        return [store[k] for k in sorted(store, key=int)]

    def walk(obj, path: str) -> None:
        if id(obj) in visited:
            return
        visited.add(id(obj))
        variables = own_variables(obj)
        if variables:
            entries[path] = (obj, variables)
        for attr, child in _walk_saveable(obj):
            if obj is model and attr == _KERAS3_OPTIMIZER_GROUP:
                continue
            child_path = f"{path}/{attr}" if path else attr
            if isinstance(child, KerasSaveable):
                walk(child, child_path)
            elif isinstance(child, (list, tuple, dict)):
                container(child, child_path, set())

    def container(items, path: str, seen: set[int]) -> None:
        if id(items) in seen:
            return
        seen.add(id(items))
        used: dict[str, int] = {}
        for item in (list(items.values()) if isinstance(items, dict) else items):
            if isinstance(item, KerasSaveable):
                base = naming.to_snake_case(item.__class__.__name__)
            elif isinstance(item, (list, tuple, dict)):
                base = "container"
            else:
                continue
            used[base] = used.get(base, -1) + 1
            name = base if used[base] == 0 else f"{base}_{used[base]}"
            if isinstance(item, KerasSaveable):
                walk(item, f"{path}/{name}")
            else:
                container(item, f"{path}/{name}", seen)

    walk(model, "")
    return entries


def _load_keras3(model, path: Path, *, head: Sequence[str] = (), skip: Sequence[str] = ()) -> list:
    """Load a Keras 3 file into ``model``, its objects matched by Keras' object paths (the rule of Keras'
    ``load_weights``), after checking every array: a file that fits entirely goes through Keras'
    ``model.load_weights`` (so a built optimizer of the same layout gets its state back); a file that fits
    but for the declared ``head`` is assigned array by array and the head re-initialised. Returns the
    re-initialised head layers ``[(name, file shapes or None, model shapes)]``.

    Raises:
        DermkitDataError: the file does not fit outside the head (array counts, the shapes only in the file
            and only in the model, and each differing layer are listed); nothing is loaded.
    """
    from collections import Counter

    head, skip = set(head), set(skip)
    file_entries = _keras3_file_entries(path)
    model_entries = _keras3_model_entries(model)
    problems: list[str] = []
    heads: list[tuple[str, list | None, list]] = []
    assignments: list[tuple[list, list]] = []
    for obj_path, (layer, variables) in model_entries.items():
        name = getattr(layer, "name", obj_path)
        expected = [tuple(v.shape) for v in variables]
        entry = file_entries.get(obj_path)
        got = None if entry is None else [tuple(a.shape) for a in entry[1]]
        if got == expected:
            assignments.append((variables, entry[1]))
        elif name in head:
            heads.append((name, got, expected))
        elif got is None:
            problems.append(f"model layer {name} ({obj_path}) {expected} is not in the file")
        else:
            problems.append(f"layer {name} ({obj_path}): file {got} vs model {expected}")
    for obj_path, (recorded, arrays) in file_entries.items():
        if obj_path not in model_entries and recorded not in skip:
            label = f"{recorded} ({obj_path})" if recorded else obj_path
            problems.append(f"file layer {label} {[tuple(a.shape) for a in arrays]} is not in the model")
    if problems:
        file_shapes = Counter(tuple(a.shape) for _, arrays in file_entries.values() for a in arrays)
        model_shapes = Counter(tuple(w.shape) for w in model.weights)
        only_file = sorted((file_shapes - model_shapes).elements())
        only_model = sorted((model_shapes - file_shapes).elements())
        raise DermkitDataError(
            f"{path}: the Keras 3 weights do not fit the model: the file holds {sum(file_shapes.values())} arrays, "
            f"the model {sum(model_shapes.values())}; shapes only in the file: {only_file}; only in the model: "
            f"{only_model}. Nothing was loaded. Differences:\n  - " + "\n  - ".join(problems)
        )
    if not heads and len(file_entries) == len(model_entries):
        _keras_load_weights(model, path)
        return []
    for variables, arrays in assignments:
        for variable, array in zip(variables, arrays):
            variable.assign(array)
    by_name = {getattr(layer, "name", p): layer for p, (layer, _) in model_entries.items()}
    for name, _, _ in heads:
        reinitialise_layer(by_name[name])
    return heads


def _keras_load_weights(model, path: Path) -> None:
    """``model.load_weights`` on a Keras 3 file (which Keras recognises by the ``.weights.h5`` suffix)."""
    try:
        if path.name.endswith(".weights.h5"):
            model.load_weights(path)
            return
        with tempfile.TemporaryDirectory() as tmp:
            alias = Path(tmp) / "alias.weights.h5"
            try:
                os.symlink(path.resolve(), alias)
            except OSError:
                shutil.copyfile(path, alias)
            model.load_weights(alias)
    except (ValueError, KeyError) as err:
        raise DermkitDataError(f"{path}: the Keras 3 weights do not fit the model: {err}") from err
