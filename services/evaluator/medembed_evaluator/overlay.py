"""Burned-in text, as ultrasound and X-ray machines stamp it onto images.

Uses Pillow's built-in font (`ImageFont.load_default(size=...)`), so no font file is needed.
"""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont


def render_text(
    image: Image.Image,
    text: str,
    *,
    size_frac: float = 0.07,
    position: tuple[float, float] = (0.04, 0.04),
    contrast: float = 0.9,
) -> Image.Image:
    """A copy of `image` with `text` burned in.

    size_frac: font size as a fraction of the image height.
    position: top-left corner of the text as fractions of (width, height).
    contrast: 0 leaves the image unchanged, 1 draws pure white text; in between blends toward white.
    """
    if not 0.0 < size_frac <= 1.0:
        raise ValueError(f"size_frac must be in (0, 1], got {size_frac}")
    if not 0.0 <= contrast <= 1.0:
        raise ValueError(f"contrast must be in [0, 1], got {contrast}")
    if image.mode not in ("L", "RGB", "RGBA"):
        raise ValueError(f"render_text supports L, RGB and RGBA images, got mode {image.mode}")
    mask = Image.new("L", image.size, 0)
    anchor = (round(position[0] * image.width), round(position[1] * image.height))
    font = _font(max(1, round(size_frac * image.height)))
    ImageDraw.Draw(mask).text(anchor, text, fill=round(255 * contrast), font=font)
    return Image.composite(Image.new(image.mode, image.size, "white"), image, mask)


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)
