"""Image / PNG I/O: missing, corrupt and truncated files fail with the file's name; writers are atomic."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from dermkit import DermkitDataError, DermkitFileNotFoundError
from dermkit.data.imageio import (
    check_image_end,
    image_info,
    image_size,
    read_image,
    read_mask,
    read_rgb_png,
    write_jpeg,
    write_png,
)

RNG = np.random.default_rng(0)
NOISE = RNG.integers(0, 255, (48, 64, 3), dtype=np.uint8)


def _save(path, image, fmt):
    """Save an array or a PIL image with PIL in the given format."""
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(path, format=fmt)
    return path


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 5])
    return path


def test_header_and_decode(tmp_path):
    png = _save(tmp_path / "a.png", NOISE, "PNG")
    assert image_size(png) == (48, 64)
    assert image_info(png) == (48, 64, "RGB", "PNG")
    np.testing.assert_array_equal(read_image(png), NOISE)
    np.testing.assert_array_equal(read_rgb_png(png), NOISE)
    rgba = _save(tmp_path / "rgba.png", np.dstack([NOISE, np.full((48, 64), 7, np.uint8)]), "PNG")
    np.testing.assert_array_equal(read_rgb_png(rgba), NOISE)
    grey = _save(tmp_path / "grey.png", NOISE[..., 1], "PNG")
    assert read_image(grey).shape == (48, 64, 3)
    np.testing.assert_array_equal(read_mask(grey), NOISE[..., 1])
    np.testing.assert_array_equal(read_mask(png), NOISE[..., 0])  # RGB masks: first channel


@pytest.mark.parametrize("reader", [image_size, read_image, read_mask, read_rgb_png])
def test_missing_file(tmp_path, reader):
    with pytest.raises(DermkitFileNotFoundError, match=re.escape("nope.png: file not found")):
        reader(tmp_path / "nope.png")
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError, and a ValueError
        reader(tmp_path / "nope.png")


@pytest.mark.parametrize("reader", [image_size, read_image, read_mask, read_rgb_png])
@pytest.mark.parametrize("content", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 10])
def test_corrupt_file(tmp_path, reader, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(DermkitDataError, match="bad.png"):
        reader(path)


@pytest.mark.parametrize(
    ("fmt", "reader"), [("PNG", read_image), ("JPEG", read_image), ("PNG", read_mask), ("PNG", read_rgb_png)]
)
def test_truncated_file_fails_on_decode_not_header(tmp_path, fmt, reader):
    array = NOISE[..., 0] if reader is read_mask else NOISE
    path = _truncate(_save(tmp_path / f"cut.{fmt.lower()}", array, fmt))
    assert image_size(path) == (48, 64)  # the header is intact
    with pytest.raises(DermkitDataError, match=re.escape(f"cut.{fmt.lower()}: corrupt or truncated")):
        reader(path)


def test_read_rgb_png_refuses_what_cannot_hold_an_index(tmp_path):
    with pytest.raises(DermkitDataError, match="found mode 'P'"):
        read_rgb_png(_save(tmp_path / "pal.png", Image.fromarray(NOISE).convert("P"), "PNG"))
    with pytest.raises(DermkitDataError, match="found format 'JPEG'"):
        read_rgb_png(_save(tmp_path / "lossy.png", NOISE, "JPEG"))


def test_writers_round_trip_atomic_and_no_overwrite(tmp_path):
    png = write_png(tmp_path / "m.png", NOISE[..., 0])
    np.testing.assert_array_equal(read_mask(png), NOISE[..., 0])
    with pytest.raises(FileExistsError, match="m.png"):
        write_png(png, NOISE[..., 0])
    write_png(png, NOISE, overwrite=True)
    np.testing.assert_array_equal(read_rgb_png(png), NOISE)
    smooth = np.dstack([np.add.outer(np.arange(48), np.arange(64)).astype(np.uint8)] * 3)
    jpg = write_jpeg(tmp_path / "i.jpg", smooth, quality=95)
    assert np.abs(read_image(jpg).astype(int) - smooth).max() <= 4
    with pytest.raises(DermkitDataError, match="uint8"):
        write_png(tmp_path / "f.png", NOISE.astype(np.float32))
    with pytest.raises(DermkitDataError, match=re.escape("[H, W, 3]")):
        write_jpeg(tmp_path / "g.jpg", NOISE[..., 0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.jpg", "m.png"]  # no temporary left behind


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_check_image_end_finds_a_cut_short_file_from_its_last_bytes(tmp_path, fmt):
    path = _save(tmp_path / f"a.{fmt.lower()}", NOISE, fmt)
    check_image_end(path)  # complete: passes
    image_size(_truncate(path))  # the header survives the cut...
    with pytest.raises(DermkitDataError, match=re.escape(f"a.{fmt.lower()}: corrupt or truncated image")):
        check_image_end(path)  # ...the end marker does not


@pytest.mark.parametrize(
    "fmt, tail", [("JPEG", b"\x00" * 100), ("JPEG", b"vendor data after EOI"), ("PNG", b"\x00" * 8)]
)
def test_check_image_end_accepts_padding_and_trailers_that_decode(tmp_path, fmt, tail):
    path = _save(tmp_path / f"a.{fmt.lower()}", NOISE, fmt)
    path.write_bytes(path.read_bytes() + tail)
    check_image_end(path)


def test_check_image_end_names_a_missing_file_and_skips_other_formats(tmp_path):
    with pytest.raises(DermkitFileNotFoundError, match="gone.png"):
        check_image_end(tmp_path / "gone.png")
    check_image_end(_save(tmp_path / "a.bmp", NOISE, "BMP"))


# ----------------------------------------------------------------------------------------------------------
# Issue 17: a pixel-corrupt JPEG (headers and end marker intact) is refused as TensorFlow refuses it
# ----------------------------------------------------------------------------------------------------------
def _entropy_start(data: bytes) -> int:
    sos = data.index(b"\xff\xda")
    return sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")


def test_pixel_corrupt_jpeg_that_pil_decodes_is_refused_naming_the_file(tmp_path):
    path = write_jpeg(tmp_path / "ISIC_0000007.jpg", NOISE[:40, :48])
    data = bytearray(path.read_bytes())
    start = _entropy_start(data)
    # An APP4 marker in the pixel data whose length runs past the end of the file (random bytes often do this).
    data[start:-2] = b"\xff\xe4\x7f\xff" + bytes(len(data) - 2 - start - 4)
    path.write_bytes(bytes(data))
    with Image.open(path) as im:  # PIL alone returns a picture without a word
        im.load()
    tf = pytest.importorskip("tensorflow")
    with pytest.raises(tf.errors.InvalidArgumentError, match="jpeg::Uncompress failed"):
        tf.io.decode_jpeg(bytes(data), channels=3)
    named = r"ISIC_0000007\.jpg: corrupt or truncated image \(JPEG marker 0xe4 at byte \d+ declares 32767 bytes, past"
    with pytest.raises(DermkitDataError, match=named):
        read_image(path)


@pytest.mark.parametrize("kwargs", [{}, {"progressive": True}, {"optimize": True, "quality": 60},
                                    {"exif": b"Exif\x00\x00" + bytes(64)}])
def test_sound_jpegs_pass_the_structure_check(tmp_path, kwargs):
    path = tmp_path / "ok.jpg"
    Image.fromarray(NOISE).save(path, format="JPEG", **kwargs)
    with open(path, "ab") as f:
        f.write(b"\x00trailing camera data after EOI\xff\xd8")  # some cameras append data: not refused
    np.testing.assert_array_equal(read_image(path), np.asarray(Image.open(path).convert("RGB")))
