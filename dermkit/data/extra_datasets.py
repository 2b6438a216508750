"""Readers for the two extra datasets of bisla2019 (Section 3.1): PH² and the Edinburgh Dermofit Image Library.

The paper adds 40 melanoma and 80 nevus images from PH² and 76 melanoma, 331 nevus and 257 seborrhoeic
keratosis images from Dermofit to ISIC. Neither is redistributable; a user who has them points the readers
at their folders. A dataset that is not there is *reported* (:func:`find_extra_datasets`), not an error; one
that is there but malformed raises :class:`~dermkit.errors.DermkitDataError` naming the file.

PH² (Mendonça et al., EMBC 2013), the published layout::

    <root>/PH2_dataset.txt                                    the '||'-delimited table (below)
    <root>/PH2 Dataset images/IMD002/IMD002_Dermoscopic_Image/IMD002.bmp
    <root>/PH2 Dataset images/IMD002/IMD002_lesion/IMD002_lesion.bmp      (lesion mask, 0/255)

``PH2_dataset.txt``: a header row (``|| Name || Histological Diagnosis || Clinical Diagnosis || ...``,
required: a table without it is refused, not read from its second line), then one row per image,
``|| IMD003 || <histology> || 0 || ...``: split on ``||``, field 1 is the name and field 3 the clinical
diagnosis, 0 common nevus, 1 atypical nevus, 2 melanoma (80 / 80 / 40 images); the rows end at the first
line that does not start with ``|`` (the legend).
Common nevi are ``"nevus"``; atypical nevi ``"atypical_nevus"`` (the paper's 80 PH² nevi are one of the two
groups of 80; ``atypical_as="nevus"`` merges them).

Dermofit (Ballerini et al. 2013; 1,300 images, 10 classes), the release layout: one folder per class code
(``AK``, ``BCC``, ``DF``, ``IEC``, ``MEL``, ``ML``, ``PYO``, ``SCC``, ``SK``, ``VASC``), one folder per lesion inside,
holding the image ``<id>.png`` and its mask ``<id>mask.png``::

    <root>/MEL/B211/B211.png, <root>/MEL/B211/B211mask.png

``MEL`` → ``"melanoma"`` (76), ``ML`` (melanocytic nevus) → ``"nevus"`` (331), ``SK`` → ``"seborrheic_keratosis"``
(257); other codes keep their lower-cased code as label. The class folders may sit one level down (the
archive's top folder).

An image id listed twice (PH²) or found in two class folders (Dermofit) is refused, naming both places.

Both readers return a DataFrame with columns ``image_id, image_path, segmentation_path, label, diagnosis,
source`` (``diagnosis`` as the dataset names it), sorted by ``image_id``; ``classes=`` keeps only those labels.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = [
    "load_ph2",
    "load_dermofit",
    "find_extra_datasets",
    "PH2_TABLE",
    "PH2_IMAGES",
    "PH2_DIAGNOSES",
    "DERMOFIT_LABELS",
    "BISLA_CLASSES",
]

#: PH² file and folder names.
PH2_TABLE = "PH2_dataset.txt"
PH2_IMAGES = "PH2 Dataset images"
#: PH²'s clinical diagnosis codes.
PH2_DIAGNOSES = {0: "common_nevus", 1: "atypical_nevus", 2: "melanoma"}
#: Dermofit class codes with a bisla2019 label.
DERMOFIT_LABELS = {"MEL": "melanoma", "ML": "nevus", "SK": "seborrheic_keratosis"}
DERMOFIT_CODES = ("AK", "BCC", "DF", "IEC", "MEL", "ML", "PYO", "SCC", "SK", "VASC")
#: The three classes bisla2019 uses.
BISLA_CLASSES = ("melanoma", "nevus", "seborrheic_keratosis")
_COLUMNS = ["image_id", "image_path", "segmentation_path", "label", "diagnosis", "source"]


def _keep(df: pd.DataFrame, classes) -> pd.DataFrame:
    if classes is not None:
        df = df[df["label"].isin([str(c) for c in classes])]
    return df.sort_values("image_id").reset_index(drop=True)


def load_ph2(root: str | os.PathLike, *, classes=BISLA_CLASSES, atypical_as: str = "atypical_nevus") -> pd.DataFrame:
    """Read a PH² folder (module docstring).

    Args:
        root: the folder holding ``PH2_dataset.txt`` and ``PH2 Dataset images``.
        classes: labels to keep (None: all). Default melanoma, nevus, seborrhoeic keratosis.
        atypical_as: label of atypical nevi, ``"atypical_nevus"`` (default; dropped by the default classes) or
            ``"nevus"``.

    Raises:
        DermkitFileNotFoundError: the table, the images folder or a listed image/mask is missing.
        DermkitDataError: a table without its header row; a row of the table that cannot be read (the line is
            quoted); an image listed twice (both line numbers named).
        ValueError: a bad ``atypical_as``.
    """
    if atypical_as not in ("atypical_nevus", "nevus"):
        raise ValueError(f"atypical_as must be 'atypical_nevus' or 'nevus'. Received: atypical_as={atypical_as!r}")
    root = Path(root)
    table = root / PH2_TABLE
    images = root / PH2_IMAGES
    for path in (table, images):
        if not path.exists():
            raise DermkitFileNotFoundError(f"{path}: not found (PH2 layout: {PH2_TABLE} and '{PH2_IMAGES}/')")
    rows = []
    lines = table.read_text(encoding="utf-8", errors="replace").splitlines()
    header = [f.strip().lower() for f in lines[0].split("||")] if lines else []
    if len(header) < 4 or header[1] != "name" or header[3] != "clinical diagnosis":
        first = lines[0] if lines else ""
        raise DermkitDataError(
            f"{table}:1: expected the header row '|| Name || Histological Diagnosis || Clinical Diagnosis || ...'; "
            f"found {first[:120]!r} (a table without its header would lose its first image row)")
    seen: dict[str, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if not line.lstrip().startswith("|"):
            break  # the legend after the table
        fields = [f.strip() for f in line.split("||")]
        try:
            name, code = fields[1], int(fields[3])
            diagnosis = PH2_DIAGNOSES[code]
        except (IndexError, ValueError, KeyError) as exc:
            raise DermkitDataError(f"{table}:{number}: cannot read name and clinical diagnosis from {line!r}") from exc
        if name in seen:
            raise DermkitDataError(f"{table}:{number}: {name} is listed twice (first at line {seen[name]})")
        seen[name] = number
        folder = images / name
        image = folder / f"{name}_Dermoscopic_Image" / f"{name}.bmp"
        mask = folder / f"{name}_lesion" / f"{name}_lesion.bmp"
        missing = [str(p) for p in (image, mask) if not p.is_file()]
        if missing:
            raise DermkitFileNotFoundError(f"{table}:{number} lists {name}, but {missing} not found")
        label = {"common_nevus": "nevus", "atypical_nevus": atypical_as}.get(diagnosis, diagnosis)
        rows.append([name, str(image), str(mask), label, diagnosis, "ph2"])
    if not rows:
        raise DermkitDataError(f"{table}: no image rows found")
    return _keep(pd.DataFrame(rows, columns=_COLUMNS), classes)


def _dermofit_base(root: Path) -> Path | None:
    for base in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if any((base / code).is_dir() for code in DERMOFIT_CODES):
            return base
    return None


def load_dermofit(root: str | os.PathLike, *, classes=BISLA_CLASSES) -> pd.DataFrame:
    """Read a Dermofit Image Library folder (module docstring).

    Args:
        root: the folder holding the class folders (or one level above them).
        classes: labels to keep (None: all). Default melanoma, nevus, seborrhoeic keratosis.

    Raises:
        DermkitFileNotFoundError: no class folder found; a lesion folder without its image or mask.
        DermkitDataError: one image id in two class folders (both named).
    """
    root = Path(root)
    base = _dermofit_base(root) if root.is_dir() else None
    if base is None:
        raise DermkitFileNotFoundError(f"{root}: no Dermofit class folder ({', '.join(DERMOFIT_CODES)}) found")
    rows = []
    seen: dict[str, Path] = {}
    for code in DERMOFIT_CODES:
        for lesion in sorted(p for p in (base / code).glob("*") if p.is_dir()):
            if lesion.name in seen:
                raise DermkitDataError(f"Dermofit image id {lesion.name} is in two class folders: {seen[lesion.name]} "
                                       f"and {lesion}")
            seen[lesion.name] = lesion
            files = {p.name: p for p in lesion.iterdir() if p.is_file()}
            masks = [p for n, p in files.items() if Path(n).stem.lower() == f"{lesion.name.lower()}mask"]
            images = [p for n, p in files.items() if Path(n).stem == lesion.name
                      and p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")]
            if not images or not masks:
                raise DermkitFileNotFoundError(
                    f"{lesion}: expected {lesion.name}.png and {lesion.name}mask.png; found {sorted(files)}")
            rows.append([lesion.name, str(images[0]), str(masks[0]), DERMOFIT_LABELS.get(code, code.lower()), code,
                         "dermofit"])
    return _keep(pd.DataFrame(rows, columns=_COLUMNS), classes)


def find_extra_datasets(*, ph2=None, dermofit=None, classes=BISLA_CLASSES) -> dict:
    """Read whichever of PH² and Dermofit is present; report the absent ones.

    Args:
        ph2, dermofit: folders (or None when the user has not got the dataset).
        classes: passed to the readers.

    Returns:
        ``{"ph2": DataFrame | None, "dermofit": DataFrame | None, "report": list[str]}`` — one line per dataset:
        how many images per label were read, or that it is absent and where it was looked for.

    Raises:
        DermkitDataError: a dataset folder that exists but is malformed (absence is not an error).
    """
    out: dict = {"report": []}
    for name, folder, reader in (("ph2", ph2, load_ph2), ("dermofit", dermofit, load_dermofit)):
        title = "PH2" if name == "ph2" else "Dermofit"
        if folder is None or not Path(folder).exists():
            where = "no folder given" if folder is None else f"{folder} does not exist"
            out[name] = None
            out["report"].append(f"{title}: absent ({where}); continuing without it")
            continue
        df = reader(folder, classes=classes)
        out[name] = df
        counts = ", ".join(f"{label} {n}" for label, n in df["label"].value_counts().sort_index().items())
        out["report"].append(f"{title}: {len(df)} images from {folder} ({counts or 'none of the classes'})")
    return out
