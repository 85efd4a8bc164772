"""What a tile needs from an uploaded photo: checked, cleaned and made small.

The upload is identified by its content (Pillow reads the file's signature; the name and
the type the browser claims are ignored), refused above :data:`MAX_UPLOAD_BYTES` and
:data:`MAX_PIXELS` (a small file can declare a huge image: a decompression bomb), turned
upright by its EXIF orientation, reduced to :data:`TILE_PX` on its longest side and
encoded anew from its pixels only, as WebP and as a JPEG fallback. Nothing of the
original file travels on: no EXIF (a phone's GPS position, its serial number), no XMP,
no ICC profile, no comment.

Pure functions on bytes, run in a worker thread by :mod:`micboardd.photos.part`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

#: the largest upload read (a 48 MP phone photo is 10-20 MB)
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
#: the most pixels an upload may declare: 48 MP phone photos pass; a bomb does not
MAX_PIXELS = 50_000_000
#: the longest side of what is kept: a tile on a 4K TV showing nine tiles, or a
#: mic-storage screen's photo tile, is about this big
TILE_PX = 720
#: what is taken, by content
FORMATS = ("JPEG", "PNG", "WEBP")  # a phone's MPO (several pictures) opens as JPEG
WEBP_QUALITY = 78
JPEG_QUALITY = 80
#: a transparent photo is shown on this (the tiles' own dark background)
BACKDROP = (18, 23, 29)


#: the EXIF Orientation tag, and what turns each of its values upright (EXIF 2.3, 4.6.4 A)
_ORIENTATION = 0x0112
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


class PhotoRefused(Exception):
    """An upload that is not made into a photo: ``status`` is the HTTP answer (413 too
    big, 415 not an image of a type taken, 422 an image that cannot be decoded)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Encoded:
    webp: bytes
    jpeg: bytes
    width: int
    height: int
    #: what came in: its format (by content), pixel size and bytes
    source_format: str
    source_width: int
    source_height: int
    source_bytes: int


def process(data: bytes) -> Encoded:
    """``data`` (an uploaded file) as a tile's photo; PhotoRefused when it is not one."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PhotoRefused(413, f"the photo is larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
    try:
        img = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise PhotoRefused(415, "not a JPEG, PNG or WebP image (judged by its content; "
                                "HEIC photos: export them as JPEG)") from None
    except Image.DecompressionBombError:
        raise PhotoRefused(413, f"the image declares more than {MAX_PIXELS:,} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise PhotoRefused(422, f"the image cannot be read: {exc}") from None
    with img:
        fmt = str(img.format)
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise PhotoRefused(413, f"the image declares {w}x{h} pixels, more than "
                                    f"{MAX_PIXELS:,}")
        try:
            small = _reduce(img)
        except Image.DecompressionBombError:
            raise PhotoRefused(413, f"the image has more than {MAX_PIXELS:,} pixels") from None
        except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
            raise PhotoRefused(422, f"the image cannot be decoded: {exc}") from None
    return Encoded(webp=_encode(small, "WEBP", quality=WEBP_QUALITY, method=5),
                   jpeg=_encode(small, "JPEG", quality=JPEG_QUALITY, optimize=True,
                                progressive=True),
                   width=small.width, height=small.height, source_format=fmt,
                   source_width=w, source_height=h, source_bytes=len(data))


def _reduce(img: Image.Image) -> Image.Image:
    """Upright, at most TILE_PX on the longest side, RGB, with no metadata at all."""
    # a JPEG decodes at 1/2, 1/4 or 1/8 scale straight away: a 48 MP photo never
    # needs its full size in memory (Any: Pillow 10.3 does not type draft)
    draft: Any = img.draft
    draft("RGB", (TILE_PX * 2, TILE_PX * 2))
    turn = _UPRIGHT.get(img.getexif().get(_ORIENTATION, 1))
    upright = img.transpose(turn) if turn is not None else img.copy()
    w, h = upright.size
    if max(w, h) > TILE_PX:
        scale = TILE_PX / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        upright = upright.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
        rgba = upright.convert("RGBA")
        rgb = Image.new("RGB", rgba.size, BACKDROP)
        rgb.paste(rgba, mask=rgba.getchannel("A"))
    else:
        rgb = upright.convert("RGB")
    # a new image from the pixels alone: no info (EXIF, XMP, ICC, comments) comes along
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())


def _encode(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()
