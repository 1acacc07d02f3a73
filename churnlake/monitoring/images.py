"""Pillow helpers for captured pages: crop a part, trim empty margins, cut into tiles.

Used by the screenshots (:mod:`churnlake.monitoring.screenshots`) and the walkthrough video,
so a page taller than a screen (the whole Luigi graph) is shown in legible pieces instead of
being shrunk or cut off.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageChops


def crop_fraction(png: Path, box: tuple[float, float, float, float]) -> Path:
    """Keep the part ``(left, top, right, bottom)`` of ``png`` (fractions of its size), in place."""
    left, top, right, bottom = box
    if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
        raise ValueError(f"crop box {box} is not within (0, 0, 1, 1)")
    with Image.open(png) as img:
        w, h = img.size
        part = img.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))
        part.load()
    part.save(png)
    return png


def content_box(img: Image.Image, margin: int = 16, *, background: str = "corner",
                threshold: int = 0) -> tuple[int, int, int, int]:
    """Bounding box of everything that differs from the background by more than ``threshold``
    (0-255, the largest channel difference), plus ``margin``. The background is the colour of
    the bottom-right corner, or with ``background="dominant"`` the most frequent colour (the
    panel a drawing sits on, whose faint borders stay under the threshold)."""
    rgb = img.convert("RGB")
    if background == "dominant":
        colour = max(rgb.getcolors(rgb.width * rgb.height))[1]
    else:
        colour = rgb.getpixel((rgb.width - 1, rgb.height - 1))
    diff = ImageChops.difference(rgb, Image.new("RGB", rgb.size, colour))
    channels = diff.split()
    mask = ImageChops.lighter(ImageChops.lighter(channels[0], channels[1]), channels[2])
    box = mask.point(lambda v: 255 if v > threshold else 0).getbbox()
    if box is None:
        raise ValueError("the image is blank: one colour everywhere")
    left, top, right, bottom = box
    return (max(0, left - margin), max(0, top - margin), min(rgb.width, right + margin),
            min(rgb.height, bottom + margin))


def trim(png: Path, margin: int = 16, *, background: str = "corner", threshold: int = 0) -> Path:
    """Cut the empty margins off ``png`` in place (see :func:`content_box`)."""
    with Image.open(png) as img:
        part = img.crop(content_box(img, margin, background=background, threshold=threshold))
        part.load()
    part.save(png)
    return png


def tiles(png: Path, out_dir: Path, size: tuple[int, int], overlap: int = 40) -> list[Path]:
    """Cut ``png`` into horizontal bands that fit ``size`` (width, height) without scaling down
    more than needed for the width; each band is centred on a white ``size`` canvas. Bands
    overlap by ``overlap`` pixels so no row of the picture falls between two tiles."""
    width, height = size
    out_dir.mkdir(parents=True, exist_ok=True)
    with Image.open(png) as img:
        img = img.convert("RGB")
        if img.width > width:
            img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
        step = height - overlap
        count = max(1, -(-(img.height - overlap) // step))
        paths = []
        for i in range(count):
            top = min(i * step, max(0, img.height - height))
            band = img.crop((0, top, img.width, min(img.height, top + height)))
            canvas = Image.new("RGB", size, "white")
            canvas.paste(band, ((width - band.width) // 2, (height - band.height) // 2))
            path = out_dir / f"{png.stem}-{i + 1}.png"
            canvas.save(path)
            paths.append(path)
    return paths
