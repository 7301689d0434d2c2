"""Synthetic breast-ultrasound phantoms: a dataset that needs no download.

Each image is a tissue echogenicity map (skin line, subcutaneous fat, fibroglandular layer, chest
wall) multiplied by smoothed Rayleigh speckle, attenuated with depth and log-compressed:
- benign: smooth, wider-than-tall, homogeneous hypoechoic oval with posterior enhancement;
- malignant: irregular, spiculated, taller-than-wide, heterogeneous lesion with an echogenic rim
  and a posterior acoustic shadow;
- normal: no lesion; every class may show darker fat lobules.
Lesion size, position, contrast and posterior effect vary, so raw pixels separate the classes
well but not perfectly.
Every image comes from its own seed (dataset seed, label, index), so a sample renders the same
bytes whatever `n_per_class` is, and images render lazily when their bytes are asked for.

Optionally a word is burned in (see `overlay.render_text`), with `text_correlation` the
probability that it is the class's own word rather than one drawn uniformly from all class words:
0 makes the text carry no class information, 1 makes it a perfect shortcut.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from medembed_evaluator.datasets.base import Dataset, Sample
from medembed_evaluator.errors import DatasetError
from medembed_evaluator.overlay import render_text

PHANTOM_CLASSES = ("benign", "malignant", "normal")
DEFAULT_TEXT_STRINGS = {"benign": "BREAST", "malignant": "AXILLA", "normal": "LT"}
_TEXT_STREAM, _IMAGE_STREAM = 0, 1
_DB_FLOOR, _DB_CEILING = -20.0, 14.0


@dataclass(frozen=True)
class PhantomOptions:
    """Options of the `phantoms` kind: images per class, side in pixels, seed, and the burned-in words."""

    n_per_class: int = 60
    size: int = 224
    seed: int = 0
    overlay: bool = True
    text_correlation: float = 0.0
    text_strings: dict[str, str] | None = None
    """Each class's own word; default BREAST / AXILLA / LT for benign / malignant / normal."""

    def __post_init__(self) -> None:
        if self.n_per_class < 1:
            raise DatasetError(f"n_per_class must be at least 1, got {self.n_per_class}")
        if self.size < 32:
            raise DatasetError(f"size must be at least 32, got {self.size}")
        if not 0.0 <= self.text_correlation <= 1.0:
            raise DatasetError(f"text_correlation must be in [0, 1], got {self.text_correlation}")
        if self.text_strings is not None and set(self.text_strings) != set(PHANTOM_CLASSES):
            raise DatasetError(f"text_strings needs exactly the classes {', '.join(PHANTOM_CLASSES)}")


def load_phantoms(options: PhantomOptions, root: Path | None = None) -> Dataset:
    """n_per_class phantoms of each class (benign, malignant, normal), rendered lazily; `root` is unused."""
    words = options.text_strings or DEFAULT_TEXT_STRINGS
    pool = [words[c] for c in PHANTOM_CLASSES]
    samples = []
    for label, class_name in enumerate(PHANTOM_CLASSES):
        for index in range(options.n_per_class):
            text = _choose_text(options, label, index, words[class_name], pool) if options.overlay else None
            samples.append(
                Sample(
                    key=f"{class_name}/{index:04d}.png",
                    label=label,
                    metadata={"overlay_text": text} if text is not None else {},
                    load_bytes=partial(render_phantom_png, options.seed, label, index, options.size, text),
                )
            )
    return Dataset("phantoms", list(PHANTOM_CLASSES), samples)


def _choose_text(options: PhantomOptions, label: int, index: int, own: str, pool: list[str]) -> str:
    rng = np.random.default_rng([options.seed, label, index, _TEXT_STREAM])
    if rng.random() < options.text_correlation:
        return own
    return pool[int(rng.integers(len(pool)))]


def render_phantom_png(seed: int, label: int, index: int, size: int, text: str | None) -> bytes:
    """The phantom (seed, label, index) as uncompressed PNG bytes, size x size gray, with `text`
    burned in when given; the same arguments always give the same bytes.
    """
    rng = np.random.default_rng([seed, label, index, _IMAGE_STREAM])
    image = Image.fromarray(render_phantom(PHANTOM_CLASSES[label], rng, size))
    if text is not None:
        position = (rng.uniform(0.03, 0.08), rng.uniform(0.02, 0.05))
        image = render_text(
            image, text, size_frac=rng.uniform(0.06, 0.08), position=position, contrast=rng.uniform(0.8, 1.0)
        )
    buffer = io.BytesIO()
    # compress_level=0 keeps the bytes (and so the content hash) independent of the zlib build.
    image.save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def render_phantom(class_name: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """One grayscale uint8 phantom image of the given class."""
    y = (np.arange(size, dtype=np.float32) / size)[:, None]
    x = (np.arange(size, dtype=np.float32) / size)[None, :]
    echo = _fat_lobules(_tissue(rng, size, x, y), rng, x, y)
    if class_name != "normal":
        echo = _lesion(echo, class_name == "malignant", rng, size, x, y)
    speckle = _speckle(rng, size)
    # Display like a scanner: decibels over a fixed dynamic range, so brightness keeps its meaning.
    decibels = 20.0 * np.log10(echo * speckle * np.exp(-1.4 * y) + 1e-4)
    image = (decibels - _DB_FLOOR) / (_DB_CEILING - _DB_FLOOR)
    return (np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _tissue(rng: np.random.Generator, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    fat_bottom = 0.24 + 0.06 * _wave(rng, x)
    gland_bottom = 0.80 + 0.04 * _wave(rng, x)
    texture = _field(rng, size, 7)
    echo = np.where(y < 0.025, 0.25, 1.6)  # coupling gel, then the bright skin line
    echo = np.where(y >= 0.045, 0.55 * (1.0 + 0.25 * texture), echo)  # subcutaneous fat
    echo = np.where(y >= fat_bottom, 1.0 * (1.0 + 0.3 * _field(rng, size, 10)), echo)  # fibroglandular
    striations = 1.0 + 0.3 * np.sin(2 * np.pi * (38.0 * y + 0.5 * texture))
    echo = np.where(y >= gland_bottom, 0.7 * striations, echo)  # pectoral muscle / chest wall
    for _ in range(int(rng.integers(3, 7))):  # Cooper's ligaments: thin bright curved lines
        depth = rng.uniform(0.08, 0.7) + 0.05 * _wave(rng, x)
        echo = echo + 1.2 * np.exp(-(((y - depth) / 0.006) ** 2)) * (rng.uniform(0, 1) < x) * (
            x < rng.uniform(0.4, 1.2)
        )
    return echo.astype(np.float32)


def _lesion(
    echo: np.ndarray, malignant: bool, rng: np.random.Generator, size: int, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    cx, cy = rng.uniform(0.28, 0.72), rng.uniform(0.38, 0.6)
    r0 = rng.uniform(0.07, 0.13)
    if malignant:
        ax, ay, tilt = r0 * rng.uniform(0.85, 1.05), r0 * rng.uniform(1.1, 1.35), rng.uniform(-0.2, 0.2)
    else:
        ax, ay, tilt = r0 * rng.uniform(1.3, 1.7), r0 * rng.uniform(0.65, 0.85), rng.uniform(-0.25, 0.25)
    dx, dy = x - cx, y - cy
    u = (dx * np.cos(tilt) + dy * np.sin(tilt)) / ax
    v = (-dx * np.sin(tilt) + dy * np.cos(tilt)) / ay
    rho, theta = np.hypot(u, v), np.arctan2(v, u)
    if malignant:
        boundary = _irregular_boundary(rng, theta)
        inside = np.clip((boundary - rho) / 0.04, 0.0, 1.0)
        rim = np.clip(1.0 - (rho - boundary) / 0.3, 0.0, 1.0) * (rho > boundary)
        lesion_echo = np.clip(rng.uniform(0.15, 0.4) * (1.0 + 0.7 * _field(rng, size, 14)), 0.03, None)
        echo = echo * (1.0 + 0.45 * rim)
        posterior_change = -rng.uniform(0.25, 0.7)
    else:
        inside = np.clip((1.0 - rho) / 0.08, 0.0, 1.0)
        lesion_echo = rng.uniform(0.3, 0.55) * (1.0 + 0.05 * _field(rng, size, 5))
        posterior_change = rng.uniform(0.1, 0.5)
    echo = echo * (1.0 - inside) + lesion_echo * inside
    # Behind the lesion: shadow (malignant) or enhancement (benign), over the lesion's width.
    columns = _smooth_1d(inside.max(axis=0), width=max(3, size // 16))[None, :]
    behind = np.clip((y - (cy + 0.8 * ay)) / 0.08, 0.0, 1.0) * np.exp(-1.0 * np.clip(y - cy, 0.0, None))
    return (echo * (1.0 + posterior_change * columns * behind)).astype(np.float32)


def _irregular_boundary(rng: np.random.Generator, theta: np.ndarray) -> np.ndarray:
    """Lobulated outline plus narrow spicules, as a radius per angle (1 = the base ellipse)."""
    angles = np.linspace(-np.pi, np.pi, 721)
    radius = np.ones_like(angles)
    for k in range(2, 8):
        radius += rng.uniform(0.0, 0.1) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
    for spicule in rng.uniform(-np.pi, np.pi, size=int(rng.integers(8, 15))):
        gap = (angles - spicule + np.pi) % (2 * np.pi) - np.pi
        radius += rng.uniform(0.15, 0.4) * np.exp(-((gap / 0.05) ** 2))
    return np.interp(theta, angles, radius).astype(np.float32)


def _fat_lobules(echo: np.ndarray, rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Hypoechoic fat lobules, in every class: a dark oval alone does not mean a lesion."""
    for _ in range(int(rng.integers(0, 4))):
        cx, cy = rng.uniform(0.15, 0.85), rng.uniform(0.1, 0.6)
        ax, ay = rng.uniform(0.05, 0.12), rng.uniform(0.03, 0.06)
        inside = np.clip((1.0 - np.hypot((x - cx) / ax, (y - cy) / ay)) / 0.2, 0.0, 1.0)
        echo = echo * (1.0 - rng.uniform(0.2, 0.45) * inside)
    return echo


def _field(rng: np.random.Generator, size: int, grid: int) -> np.ndarray:
    """Smooth random texture in about [-1, 1]: a coarse Gaussian grid, bilinearly upsampled."""
    coarse = Image.fromarray(rng.standard_normal((grid, grid)).astype(np.float32) / 2.0)
    return np.asarray(coarse.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def _wave(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    knots = np.linspace(0.0, 1.0, 6)
    return np.interp(x, knots, rng.uniform(-1.0, 1.0, size=knots.size)).astype(np.float32)


def _speckle(rng: np.random.Generator, size: int) -> np.ndarray:
    """Rayleigh speckle with grains about 2 px deep and 3 px wide, as a finite beam resolves it."""
    grains = rng.rayleigh(1.0, (max(2, size // 2), max(2, size // 3))).astype(np.float32)
    return np.asarray(Image.fromarray(grains).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def _smooth_1d(profile: np.ndarray, width: int) -> np.ndarray:
    kernel = np.ones(width, dtype=np.float32) / width
    return np.convolve(profile, kernel, mode="same")
