"""Photos (issue #18): an upload is judged by its content, refused when too big or a
decompression bomb, stripped of its metadata, turned upright, made small and re-encoded
(WebP and JPEG) off the event loop, kept under its content hash in the state dir,
served with long-lived cache headers, pushed to every client, removable, and audited."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from daemonkit import make_config, running_daemon, wait_for
from photokit import CAMERA, bomb_png, phone_photo, png_with_alpha, webp_photo
from PIL import Image

from micboardd.photos.image import MAX_UPLOAD_BYTES, TILE_PX, PhotoRefused, process
from micboardd.server.auth import hash_token

TOKEN = "photo-operator-token"


@pytest.fixture(scope="module")
def phone() -> bytes:
    return phone_photo(1)


def test_a_phone_photo_is_made_small_upright_and_clean(phone: bytes) -> None:
    enc = process(phone)
    assert enc.source_format == "JPEG" and (enc.source_width, enc.source_height) == (4032, 3024)
    # EXIF orientation 6: the camera was turned, the photo is a portrait
    assert (enc.width, enc.height) == (TILE_PX * 3024 // 4032, TILE_PX)
    for data, fmt in ((enc.webp, "WEBP"), (enc.jpeg, "JPEG")):
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == fmt and img.size == (enc.width, enc.height)
            assert img.mode == "RGB"
            assert not img.getexif() and "icc_profile" not in img.info
            assert "exif" not in img.info and "xmp" not in img.info
        assert b"Exif" not in data and CAMERA.encode() not in data
    assert CAMERA.encode() in phone and b"ICC_PROFILE" in phone  # what was there before
    # the figure to beat: a phone photo at least 8x smaller (docs/benchmarks.md)
    assert len(phone) / len(enc.webp) > 8 and len(phone) / len(enc.jpeg) > 8


def test_png_with_transparency_and_webp_are_taken() -> None:
    enc = process(png_with_alpha())
    assert enc.source_format == "PNG" and max(enc.width, enc.height) == TILE_PX
    with Image.open(io.BytesIO(enc.jpeg)) as img:
        corner = img.convert("RGB").getpixel((2, 2))  # outside the opaque circle
    assert isinstance(corner, tuple) and max(corner) < 40  # the dark backdrop, not white
    assert process(webp_photo()).source_format == "WEBP"


@pytest.mark.parametrize(("data", "status"), [
    (b"<html>not a photo</html>" * 40, 415),  # whatever the file is called
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 200, 415),  # HEIC
    (b"GIF89a" + b"\0" * 200, 415),
    ("truncated", 422),
    ("bomb", 413),
    ("huge", 413),
])
def test_what_is_not_a_photo_is_refused_with_a_reason(phone: bytes, data: Any,
                                                      status: int) -> None:
    if data == "truncated":
        data = phone[:2000]
    elif data == "bomb":
        data = bomb_png()
        assert len(data) < 100_000  # small on disk, 400 megapixels declared
    elif data == "huge":
        data = phone + b"\0" * MAX_UPLOAD_BYTES
    with pytest.raises(PhotoRefused) as exc:
        process(data)
    assert exc.value.status == status, str(exc.value)
    assert str(exc.value)


def _form(data: bytes, **fields: Any) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for k, v in fields.items():
        form.add_field(k, str(v))
    # the name and the type the browser claims mean nothing: the content decides
    form.add_field("file", data, filename="IMG_0001.txt", content_type="text/plain")
    return form


async def _audit(base: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/api/audit") as r:
        return list((await r.json())["audit"])


async def test_upload_serve_replace_and_remove(tmp_path: Path, phone: bytes) -> None:
    cfg = make_config([], slots=[{"slot": 1, "label_name": "Pastor Mike"}])
    async with running_daemon(cfg, tmp_path) as d:
        base = f"http://127.0.0.1:{d.http_port}"
        seen: list[Any] = []
        d.store.subscribe(lambda seq, patch, meter: seen.append(patch.get("photos")))
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/api/photos",
                              data=_form(phone, name="  PASTOR   Mike ")) as r:
                entry = await r.json()
                assert r.status == 200, entry
            assert entry["key"] == "name:pastor mike" and entry["name"] == "PASTOR   Mike"
            assert entry["source"]["bytes"] == len(phone)
            await wait_for(lambda: any(p and "name:pastor mike" in p for p in seen))
            assert d.store.sections["photos"]["name:pastor mike"] == entry
            for url, ctype in ((entry["webp"], "image/webp"), (entry["jpeg"], "image/jpeg")):
                async with s.get(base + url) as r:
                    body = await r.read()
                    assert r.status == 200 and r.headers["Content-Type"] == ctype
                    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
                # named by its content
                assert url.rsplit("/", 1)[1].split(".")[0] == hashlib.sha256(
                    body).hexdigest()[:32]
            first = entry
            # another photo for the same name replaces it; the old files go
            async with s.post(f"{base}/api/photos", data=_form(webp_photo(), name="pastor mike")
                              ) as r:
                entry = await r.json()
                assert r.status == 200, entry
            async with s.get(base + first["webp"]) as r:
                assert r.status == 404
            async with s.get(f"{base}/api/photos") as r:
                assert [p["key"] for p in (await r.json())["photos"]] == ["name:pastor mike"]
            async with s.delete(f"{base}/api/photos/name/Pastor%20Mike") as r:
                assert r.status == 200 and (await r.json())["removed"]["key"] == entry["key"]
            async with s.delete(f"{base}/api/photos/name/Pastor%20Mike") as r:
                assert r.status == 404
            async with s.get(base + entry["jpeg"]) as r:
                assert r.status == 404
            assert "name:pastor mike" not in d.store.sections["photos"]
        await d.history.writer.sync()
        rows = [a for a in await _audit(base) if a["action"].startswith("photo")]
        assert [a["action"] for a in rows] == ["photo", "photo", "photo.remove"]
        assert not list((tmp_path / "state" / "photos").glob("*.webp"))


async def test_photos_survive_a_restart_and_refusals_keep_nothing(tmp_path: Path,
                                                                  phone: bytes) -> None:
    cfg = make_config([])
    async with running_daemon(cfg, tmp_path) as d:
        base = f"http://127.0.0.1:{d.http_port}"
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/api/photos", data=_form(phone, slot=3)) as r:
                assert r.status == 200
            for form, status in ((_form(bomb_png(), slot=4), 413),
                                 (_form(b"GIF89a" + b"\0" * 99, slot=4), 415),
                                 (_form(phone, slot=4, name="Both"), 400),
                                 (_form(phone), 400),
                                 (_form(phone, slot="0"), 400)):
                async with s.post(f"{base}/api/photos", data=form) as r:
                    assert r.status == status, await r.text()
                    assert (await r.json())["error"]
            # a body that only claims to be multipart: a part header that is not one
            junk = b"--XX\r\nnot a header line\r\n\r\nx\r\n--XX--\r\n"
            async with s.post(f"{base}/api/photos", data=junk, headers={
                    "Content-Type": "multipart/form-data; boundary=XX"}) as r:
                assert r.status == 400 and "multipart" in (await r.json())["error"]
    files = sorted(p.name for p in (tmp_path / "state" / "photos").iterdir())
    assert len(files) == 3 and "index.json" in files
    async with running_daemon(cfg, tmp_path) as d:
        assert list(d.store.sections["photos"]) == ["slot:3"]


async def test_the_upload_is_the_one_write_that_takes_multipart(tmp_path: Path,
                                                                phone: bytes) -> None:
    cfg = make_config([], http={"tokens": [{"name": "foh", "sha256": hash_token(TOKEN)}]})
    async with running_daemon(cfg, tmp_path) as d:
        base = f"http://127.0.0.1:{d.http_port}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/api/photos", data=_form(phone, slot=1)) as r:
                assert r.status == 401  # no token
            async with s.post(f"{base}/api/photos", data=_form(phone, slot=1), headers={
                    **auth, "Origin": "http://evil.example"}) as r:
                assert r.status == 403  # another page, token or not
            async with s.post(f"{base}/api/photos", json={"slot": 1}, headers=auth) as r:
                assert r.status == 415 and "multipart/form-data" in (await r.json())["error"]
            async with s.put(f"{base}/api/slots", data=_form(phone, slot=1), headers=auth) as r:
                assert r.status == 415 and "JSON" in (await r.json())["error"]
            # the daemon's own page, with the token
            async with s.post(f"{base}/api/photos", data=_form(phone, slot=1), headers={
                    **auth, "Origin": base}) as r:
                assert r.status == 200, await r.text()
        assert d.store.sections["photos"]["slot:1"]["by"] == "foh"


async def test_the_files_path_is_not_also_a_delete_resource(tmp_path: Path) -> None:
    """``DELETE /api/photos/slot/{key}`` and ``/api/photos/name/{key}`` only: a stored
    photo's path (/api/photos/files/...) answers 405 with exactly the documented methods."""
    async with running_daemon(make_config([]), tmp_path) as d:
        base = f"http://127.0.0.1:{d.http_port}"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/api/openapi.json") as r:
                paths = (await r.json())["paths"]
            assert set(paths["/api/photos/files/{file}"]) == {"get"}
            for kind in ("slot", "name"):
                assert set(paths[f"/api/photos/{kind}/{{key}}"]) == {"delete"}
            for method in ("DELETE", "OPTIONS"):
                async with s.request(method, f"{base}/api/photos/files/{'0' * 32}.webp") as r:
                    assert r.status == 405 and r.headers["Allow"] == "GET", method
            async with s.delete(f"{base}/api/photos/slot/7") as r:
                assert r.status == 404  # still the delete handler: no photo for slot 7
