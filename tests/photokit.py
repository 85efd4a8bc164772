"""Test photos made here, like the ones a crew uploads: a phone's 12 MP JPEG (EXIF with a
GPS position, the camera's name and a rotation, an ICC profile), a PNG with
transparency, a WebP; and files that only look like photos. Seeded: the same bytes on
every run, so the sizes in docs/benchmarks.md can be made again (bench/photos.py)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageChops, ImageDraw, ImageFilter

PHONE = (4032, 3024)  # a 12 MP phone camera, landscape as the sensor reads it
#: what the EXIF of a phone photo says and a tile must never show or serve
GPS_LATITUDE = (51.0, 30.0, 26.46)
CAMERA = "micboardd test phone"


def scene(size: tuple[int, int], seed: int) -> Image.Image:
    """A photo-like picture: smooth light, a few shapes, texture and sensor noise."""
    rnd = random.Random(seed)
    w, h = size
    coarse = Image.new("RGB", (6, 5))
    coarse.putdata([(rnd.randrange(40, 220), rnd.randrange(40, 220), rnd.randrange(40, 220))
                    for _ in range(30)])
    img = coarse.resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(14):  # a person, a stand, the set: soft-edged shapes
        x, y = rnd.randrange(w), rnd.randrange(h)
        rx, ry = rnd.randrange(w // 20, w // 4), rnd.randrange(h // 20, h // 3)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(6))
    # texture (fabric, hair) and sensor noise: what makes a phone photo megabytes
    grain = Image.effect_noise((w // 2, h // 2), 26).resize(size, Image.Resampling.BILINEAR)
    fine = Image.effect_noise(size, 5)
    texture = ImageChops.add(grain, fine, scale=1.0, offset=-128)
    return ImageChops.add(img, Image.merge("RGB", (texture, texture, texture)), offset=-128)


def phone_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "micboardd"  # Make
    exif[0x0110] = CAMERA  # Model
    exif[0x0112] = orientation  # Orientation: 6 = the camera was turned (portrait)
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = GPS_LATITUDE
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 39.1)
    return exif


def phone_photo(seed: int = 1, size: tuple[int, int] = PHONE, quality: int = 92) -> bytes:
    """A phone camera's JPEG: 4:2:0, EXIF with GPS and orientation, an ICC profile."""
    out = io.BytesIO()
    scene(size, seed).save(out, "JPEG", quality=quality, exif=phone_exif(),
                           icc_profile=_ICC, subsampling=2)
    return out.getvalue()


def png_with_alpha(seed: int = 2, size: tuple[int, int] = (1600, 1600)) -> bytes:
    img = scene(size, seed).convert("RGBA")
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((100, 100, size[0] - 100, size[1] - 100), fill=255)
    img.putalpha(mask)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def webp_photo(seed: int = 3, size: tuple[int, int] = (2000, 1500)) -> bytes:
    out = io.BytesIO()
    scene(size, seed).save(out, "WEBP", quality=90, exif=phone_exif(1))
    return out.getvalue()


def bomb_png(side: int = 20_000) -> bytes:
    """A small PNG that declares side x side pixels (400 MP at the default): a bomb."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG", optimize=True)
    return out.getvalue()


def sample_set() -> list[tuple[str, bytes]]:
    """The photos docs/benchmarks.md measures: four phone photos and two others."""
    return [*((f"phone-{s}.jpg", phone_photo(s)) for s in (1, 2, 3, 4)),
            ("cutout.png", png_with_alpha()), ("photo.webp", webp_photo())]


def _srgb_icc() -> bytes:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return bytes(profile.tobytes())


_ICC = _srgb_icc()
