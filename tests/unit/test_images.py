"""churnlake.monitoring.images on small generated pictures."""

import pytest
from PIL import Image, ImageDraw

from churnlake.monitoring import images


def _picture(path, size=(400, 1000), box=(50, 100, 350, 900)):
    img = Image.new("RGB", size, (236, 238, 241))
    ImageDraw.Draw(img).rectangle(box, fill=(20, 120, 20))
    img.save(path)
    return path


def test_trim_keeps_the_content_and_a_margin(tmp_path):
    png = images.trim(_picture(tmp_path / "a.png"), margin=10)
    with Image.open(png) as img:
        assert img.size == (301 + 20, 801 + 20)


def test_a_blank_picture_is_an_error(tmp_path):
    Image.new("RGB", (50, 50), "white").save(tmp_path / "b.png")
    with pytest.raises(ValueError, match="blank"):
        images.trim(tmp_path / "b.png")


def test_tiles_cover_every_row_at_the_target_size(tmp_path):
    png = _picture(tmp_path / "tall.png", size=(300, 1500), box=(0, 0, 299, 1499))
    parts = images.tiles(png, tmp_path / "t", (400, 600), overlap=50)
    assert len(parts) == 3  # 1500 rows in bands of 600 that advance by 550
    for part in parts:
        with Image.open(part) as img:
            assert img.size == (400, 600)


def test_crop_fraction_checks_its_box(tmp_path):
    png = _picture(tmp_path / "c.png")
    images.crop_fraction(png, (0, 0, 0.5, 0.25))
    with Image.open(png) as img:
        assert img.size == (200, 250)
    with pytest.raises(ValueError, match="not within"):
        images.crop_fraction(png, (0.5, 0, 0.4, 1))


def test_trim_to_a_drawing_on_a_panel_ignores_the_panels_faint_border(tmp_path):
    img = Image.new("RGB", (600, 400), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((10, 10, 589, 389), fill=(236, 238, 241), outline=(225, 226, 228))  # panel + faint border
    draw.line((200, 100, 300, 250), fill=(120, 120, 120), width=2)  # the drawing
    img.save(tmp_path / "p.png")
    images.trim(tmp_path / "p.png", margin=0, background="dominant", threshold=40)
    with Image.open(tmp_path / "p.png") as out:
        assert abs(out.width - 101) <= 3 and abs(out.height - 151) <= 3
