"""PH² and Dermofit readers on small trees in their published layouts; absence is reported."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dermkit.data.extra_datasets import find_extra_datasets, load_dermofit, load_ph2
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

PH2_HEADER = ("||  Name  || Histological Diagnosis || Clinical Diagnosis || Asymmetry || Pigment Network || "
              "Dots/Globules || Streaks || Regression Areas || Blue-Whitish Veil ||   White  ||    Red   ||")


def _bmp(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 5, 3), value, np.uint8)).save(path, format="BMP")


def _ph2(root, rows):
    lines = [PH2_HEADER]
    for name, code in rows:
        lines.append(f"|| {name} ||                        ||          {code}         ||     0     ||   T  ||")
        folder = root / "PH2 Dataset images" / name
        _bmp(folder / f"{name}_Dermoscopic_Image" / f"{name}.bmp")
        _bmp(folder / f"{name}_lesion" / f"{name}_lesion.bmp", 255)
    lines += ["", "Legends:", "Clinical Diagnosis: 0 - Common Nevus; 1 - Atypical Nevus; 2 - Melanoma."]
    (root / "PH2_dataset.txt").write_text("\n".join(lines) + "\n")
    return root


def test_ph2_layout(tmp_path):
    root = _ph2(tmp_path, [("IMD003", 0), ("IMD002", 2), ("IMD010", 1)])
    df = load_ph2(root)
    assert df["image_id"].tolist() == ["IMD002", "IMD003"]  # the atypical nevus is left out
    assert df["label"].tolist() == ["melanoma", "nevus"]
    assert df["diagnosis"].tolist() == ["melanoma", "common_nevus"]
    assert df["image_path"][0].endswith("IMD002/IMD002_Dermoscopic_Image/IMD002.bmp")
    assert df["segmentation_path"][0].endswith("IMD002/IMD002_lesion/IMD002_lesion.bmp")
    merged = load_ph2(root, atypical_as="nevus")
    assert merged["label"].tolist() == ["melanoma", "nevus", "nevus"]


def test_ph2_errors_name_the_file(tmp_path):
    root = _ph2(tmp_path, [("IMD003", 0)])
    (root / "PH2 Dataset images" / "IMD003" / "IMD003_lesion" / "IMD003_lesion.bmp").unlink()
    with pytest.raises(DermkitFileNotFoundError, match="IMD003_lesion.bmp"):
        load_ph2(root)
    (root / "PH2_dataset.txt").write_text(PH2_HEADER + "\n|| IMD003 || || x ||\n")
    with pytest.raises(DermkitDataError, match=r"PH2_dataset.txt:2"):
        load_ph2(root)


def _dermofit(root):
    for code, lesion in [("MEL", "B211"), ("ML", "A12"), ("SK", "C5"), ("BCC", "D1")]:
        folder = root / "Dermofit" / code / lesion
        folder.mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / f"{lesion}.png")
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / f"{lesion}mask.png")
    return root


def test_dermofit_layout(tmp_path):
    root = _dermofit(tmp_path)
    df = load_dermofit(root)  # class folders one level down
    assert sorted(zip(df["image_id"], df["label"])) == [("A12", "nevus"), ("B211", "melanoma"),
                                                         ("C5", "seborrheic_keratosis")]
    assert load_dermofit(root, classes=None)["label"].tolist().count("bcc") == 1
    (root / "Dermofit" / "SK" / "C5" / "C5mask.png").unlink()
    with pytest.raises(DermkitFileNotFoundError, match="C5mask.png"):
        load_dermofit(root)


def test_absence_is_reported_not_an_error(tmp_path):
    root = _ph2(tmp_path / "ph2", [("IMD002", 2)])
    found = find_extra_datasets(ph2=root, dermofit=tmp_path / "nowhere")
    assert found["dermofit"] is None and len(found["ph2"]) == 1
    assert found["report"][0].startswith("PH2: 1 images") and "melanoma 1" in found["report"][0]
    assert "Dermofit: absent" in found["report"][1] and "nowhere" in found["report"][1]
    none = find_extra_datasets()
    assert none["ph2"] is None and none["dermofit"] is None and len(none["report"]) == 2
    with pytest.raises(DermkitFileNotFoundError):
        find_extra_datasets(dermofit=tmp_path)  # there but not Dermofit: malformed is an error


def test_ph2_table_without_header_is_refused_not_cut(tmp_path):
    """Today's data loss: a table without its header lost its first image row. Now it is refused, line 1 named."""
    root = _ph2(tmp_path, [("IMD003", 0), ("IMD002", 2)])
    table = root / "PH2_dataset.txt"
    table.write_text("\n".join(table.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(DermkitDataError, match=r"PH2_dataset.txt:1: expected the header row"):
        load_ph2(root)
    table.write_text("")
    with pytest.raises(DermkitDataError, match="header row"):
        load_ph2(root)


def test_ph2_id_listed_twice_is_refused(tmp_path):
    root = _ph2(tmp_path, [("IMD003", 0), ("IMD002", 2), ("IMD003", 0)])
    with pytest.raises(DermkitDataError, match=r"PH2_dataset.txt:4: IMD003 is listed twice \(first at line 2\)"):
        load_ph2(root)


def test_dermofit_id_in_two_classes_is_refused(tmp_path):
    root = _dermofit(tmp_path)
    folder = root / "Dermofit" / "SK" / "B211"  # B211 is also under MEL
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "B211.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / "B211mask.png")
    with pytest.raises(DermkitDataError, match=r"B211 is in two class folders: .*MEL.*B211 and .*SK.*B211"):
        load_dermofit(root)
