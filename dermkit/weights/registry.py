"""Registry of released weights dermkit can load: pure data, no logic and no imports of TensorFlow.

One :class:`WeightsEntry` per released file (after timm's pretrained configs): where it comes from (URL,
file name, sha256), which builder and arguments rebuild its model, what input it expects, how the layer
names of a legacy Keras 2 file map onto dermkit's names, and its provenance. ``sha256=None`` means the
hash has not been verified yet: :func:`dermkit.weights.fetch_weights` then prints the file's hash so that a
maintainer can fill it in here. Listed, with instructions, in ``weights/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["WeightsEntry", "REGISTRY", "KAWAHARA2018_LEGACY_NAME_MAP", "KERAS_CACHE_SUBDIR"]

#: Sub-folder of the Keras cache (``$KERAS_HOME`` or ``~/.keras``) where weight files are kept.
KERAS_CACHE_SUBDIR = "models"


@dataclass(frozen=True)
class WeightsEntry:
    """One released weights file.

    Attributes:
        name: registry name (what ``weights=`` takes).
        file_name: file name in the Keras cache (``~/.keras/models/<file_name>``).
        url: where :func:`~dermkit.weights.fetch_weights` downloads it from.
        sha256: expected SHA-256 hex digest, or ``None`` when not yet verified.
        file_format: ``"keras3"``, ``"legacy"`` (Keras 2 HDF5) or ``"segmentation_models"``.
        builder: name of the ``dermkit.models`` builder that rebuilds the model.
        builder_kwargs: arguments to give that builder (besides ``weights``).
        input_size: ``(height, width)`` the model was trained at.
        preprocess: ``keras.applications`` preprocessing mode (``"caffe"``, ``"torch"``, ``"tf"``) applied
            inside the model when the builder's ``preprocess=True``.
        channel_order: channel order of the images given to the model (before preprocessing).
        class_names: meaning of the output channels, in order.
        legacy_name_map: file layer name → dermkit layer name for auto-named Keras 2 layers (others map to
            themselves).
        paper: source paper (short name and full reference).
        license: license of the weights as released, as far as known.
        origin: who released them and where.
        notes: anything else a user must know.
    """

    name: str
    file_name: str
    url: str
    sha256: str | None
    file_format: str
    builder: str
    builder_kwargs: Mapping[str, object] = field(default_factory=dict)
    input_size: tuple[int, int] = (224, 224)
    preprocess: str = "caffe"
    channel_order: str = "RGB"
    class_names: tuple[str, ...] = ()
    legacy_name_map: Mapping[str, str] = field(default_factory=dict)
    paper: str = ""
    license: str = ""
    origin: str = ""
    notes: str = ""


#: Keras 2 auto-names of the layers kawahara2018 added to VGG16 → dermkit's names (reference/kawahara2018.md).
#: conv2d_2 and conv2d_3 both hold 1×1×512×32 kernels: only the order below is right (tests recompute it).
KAWAHARA2018_LEGACY_NAME_MAP = MappingProxyType(
    {
        "conv2d_1": "reduce_block4",  # block4_conv3 → 1×1 conv, 64 filters
        "conv2d_2": "reduce_block5",  # block5_conv3 → 1×1 conv, 32 filters
        "conv2d_3": "reduce_pool5",  # block5_pool  → 1×1 conv, 32 filters
        "conv2d_4": "head_conv",  # 576 → K = 4
    }
)

REGISTRY: Mapping[str, WeightsEntry] = MappingProxyType(
    {
        "isic2017-part2_vgg_f1-batch_aug": WeightsEntry(
            name="isic2017-part2_vgg_f1-batch_aug",
            file_name="isic2017-part2_vgg_f1-batch_aug.h5",
            url=(
                "https://github.com/jeremykawahara/skinisic/releases/download/v0.0.1/"
                "isic2017-part2_vgg_f1-batch_aug.h5"
            ),
            sha256=None,
            file_format="legacy",
            builder="vgg16_fcn",
            builder_kwargs=MappingProxyType(
                {"num_classes": 4, "reduce_deep": True, "extra_conv": False, "backbone": "vgg16",
                 "connection": "skip"}
            ),
            input_size=(336, 336),
            preprocess="caffe",
            channel_order="RGB",
            class_names=("pigment_network", "negative_network", "milia_like_cyst", "streaks"),
            legacy_name_map=KAWAHARA2018_LEGACY_NAME_MAP,
            paper=(
                "kawahara2018: J. Kawahara and G. Hamarneh, 'Fully Convolutional Neural Networks to Detect "
                "Clinical Dermoscopic Features', IEEE JBHI 2018"
            ),
            license="not stated by the release; ask the authors before redistributing",
            origin="J. Kawahara, GitHub release v0.0.1 of jeremykawahara/skinisic",
            notes=(
                "Dice-F1 channel-batch loss, augmentation and class over-sampling (Table III d / Table IV "
                "last row); ISIC 2017 Part 2 winner. Keras 2.2.4 / TF 1.12 weights-only HDF5."
            ),
        ),
    }
)
