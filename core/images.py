"""One image file (or archive member) to the uint8 (32, 32, 3) RGB array the model sees, the same
for the data sources and ``--predict``: every PNG/JPEG mode converted as it looks (16-bit grey
scaled, not clipped to white; palette and alpha composited on white), EXIF orientation applied
(a phone photo stands upright), and images too large to be a photo refused before decoding.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

#: No CIFAR image, and no photo worth classifying at 32x32, is larger (a decompression bomb is).
MAX_IMAGE_PIXELS = 50_000_000
#: Bytes of one image file or archive member read at most.
MAX_IMAGE_BYTES = 32 * 1024 * 1024
SIZE = (32, 32)
#: Behind transparent pixels: white, as a viewer shows the image on a page.
BACKGROUND = (255, 255, 255)


class ImageProblem(ValueError):
    """Why an image cannot be used, in words (the caller names the file)."""


def decode(source: bytes | Path) -> np.ndarray:
    """``source`` (a file's bytes or its path) as uint8 (32, 32, 3); ImageProblem otherwise."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # corrupt EXIF: Pillow's warnings are noise lines
            rgb = _upright_rgb(Image.open(_stream(source)))
    except ImageProblem:
        raise
    except Image.DecompressionBombError:  # Pillow's own limit, met while reading the header
        raise ImageProblem(
            f"larger than any photo this reads (at most {MAX_IMAGE_PIXELS:,} pixels)"
        ) from None
    except UnidentifiedImageError:
        raise ImageProblem("not an image this program can read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageProblem(f"cannot decode: {first_line(exc)}") from None
    if rgb.size != SIZE:
        rgb = rgb.resize(SIZE, Image.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def _upright_rgb(opened: Any) -> Any:
    """An opened image, refused when too large (before its pixels are decoded), turned as its
    EXIF orientation says, as RGB."""
    from PIL import ImageOps

    with opened as im:
        width, height = im.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageProblem(
                f"{width}x{height} pixels is larger than any photo this reads "
                f"(at most {MAX_IMAGE_PIXELS:,} pixels)"
            )
        upright = ImageOps.exif_transpose(im)  # a copy, turned as its EXIF says
        return to_rgb(upright if upright is not None else im)


def _stream(source: bytes | Path) -> Any:
    return io.BytesIO(source) if isinstance(source, bytes) else source


def to_rgb(im: Any) -> Any:
    """An image of any mode as 8-bit RGB, as it looks."""
    from PIL import Image

    mode = im.mode
    if mode.startswith("I;16") or mode == "I":  # 16-bit grey (PNG): scale, never clip
        wide = np.asarray(im, dtype=np.float64)
        grey = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "F":
        raise ImageProblem("floating-point pixels (mode F) are not an image this reads")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0][:200] if text else ""
    return f"{exc.__class__.__name__}: {line}" if line else exc.__class__.__name__
