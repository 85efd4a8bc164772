"""HTTP endpoints for photos: list them, upload one for a slot or a performer name
(``multipart/form-data``, operator, audited), remove one, and fetch the stored files
(named by their content's hash, so they are cached for a year)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from micboardd.photos.image import MAX_UPLOAD_BYTES
from micboardd.photos.library import MAX_NAME, PhotoLibrary, name_key
from micboardd.server.auth import Principal, authorize
from micboardd.server.endpoints import Endpoint
from micboardd.server.params import ISSPACE as NAME_SPACE
from micboardd.server.responses import error, json_response

JSON = dict[str, Any]
UPLOAD_TIMEOUT_S = 60.0
#: the multipart envelope around the file (boundaries, headers, the other fields)
ENVELOPE = 64 * 1024
IMMUTABLE = "public, max-age=31536000, immutable"
#: a performer name: something besides white space (name_key is not empty)
NAME = f"[^{NAME_SPACE}]"
#: an uploaded name, as _fields reads it: 1..MAX_NAME characters once stripped
UPLOAD_NAME = (rf"^[{NAME_SPACE}]*[^{NAME_SPACE}]([\s\S]{{0,{MAX_NAME - 2}}}[^{NAME_SPACE}])?"
               rf"[{NAME_SPACE}]*$")
TYPES = {"webp": "image/webp", "jpg": "image/jpeg"}
#: what an upload's file may be (judged by its content: 415 otherwise)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


class PhotoUpload(BaseModel):
    """``multipart/form-data`` with the photo in ``file`` and what it is for: ``slot``
    (its number) or ``name`` (a performer name, matched to the name a tile shows).
    Documents what read_upload takes (a form field has no null: one of them is absent)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": ["slot"], "properties": {"name": False}},
                  {"required": ["name"], "properties": {"slot": False}}]})

    file: bytes = Field(description=f"JPEG, PNG or WebP (judged by content), at most "
                                    f"{MAX_UPLOAD_BYTES // 2**20} MiB and 50 megapixels")
    slot: Annotated[int, Field(ge=1, le=10000)] | SkipJsonSchema[None] = None
    name: Annotated[str, Field(pattern=UPLOAD_NAME)] | SkipJsonSchema[None] = Field(
        None, description=f"at most {MAX_NAME} characters, white space around them aside")


class PhotoEntry(BaseModel):
    key: str = Field(description='"slot:<n>" or "name:<name in lower case>"')
    slot: int | None
    name: str | None
    webp: str
    jpeg: str
    width: int
    height: int
    source: dict[str, Any] = Field(description="format (by content), width, height, bytes")
    bytes: dict[str, int] = Field(description="bytes of the webp and the jpeg")
    updated: float
    by: str


class PhotoList(BaseModel):
    photos: list[PhotoEntry]


class PhotoRemoved(BaseModel):
    ok: bool
    removed: PhotoEntry


class SlotPhotoPath(BaseModel):
    key: int = Field(ge=1, le=10000, description="the slot's number")


class NamePhotoPath(BaseModel):
    key: str = Field(pattern=NAME, description="the performer name (case and white space "
                                                "as the tile shows it do not matter)")


class FilePath(BaseModel):
    file: str = Field(pattern=r"^[0-9a-f]{32}\.(webp|jpg)$")


class BadUpload(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


Upload = Callable[[Principal, bytes, int | None, str | None], Awaitable[web.Response]]
Remove = Callable[[Principal, str], Awaitable[web.Response]]


class PhotosApi:
    def __init__(self, library: PhotoLibrary, upload: Upload, remove: Remove) -> None:
        self.library = library
        self.upload = upload
        self.remove = remove

    async def get_photos(self, request: web.Request) -> web.StreamResponse:
        return json_response({"photos": list(self.library.entries.values())})

    async def get_photo_file(self, request: web.Request) -> web.StreamResponse:
        file = request.match_info["file"]
        path = self.library.path_of(file)
        if path is None:
            return error(404, "no such photo")
        return web.FileResponse(path, headers={
            "Cache-Control": IMMUTABLE, "Content-Type": TYPES[file.rsplit(".", 1)[1]]})

    async def post_photo(self, request: web.Request) -> web.StreamResponse:
        who = await authorize(request)
        try:
            async with asyncio.timeout(UPLOAD_TIMEOUT_S):
                data, slot, name = await read_upload(request)
        except TimeoutError:
            return error(408, "the upload did not arrive in time")
        except BadUpload as exc:
            return error(exc.status, str(exc))
        return await self.upload(who, data, slot, name)

    async def delete_slot_photo(self, request: web.Request) -> web.StreamResponse:
        who = await authorize(request)
        raw = request.match_info["key"]
        if not (raw.isdigit() and raw.isascii()):
            return error(400, "expected /api/photos/slot/<number>")
        return await self.remove(who, f"slot:{int(raw)}")

    async def delete_name_photo(self, request: web.Request) -> web.StreamResponse:
        who = await authorize(request)
        key = name_key(request.match_info["key"])
        if not key:
            return error(400, "expected /api/photos/name/<name>")
        return await self.remove(who, f"name:{key}")

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("GET", "/api/photos", self.get_photos,
                     "Photos and what each is for (a slot or a performer name)",
                     response=PhotoList, tag="photos"),
            Endpoint("POST", "/api/photos", self.post_photo,
                     "Upload a photo for a slot or a performer name (operator): checked "
                     "by content, metadata stripped, resized, kept as WebP and JPEG",
                     response=PhotoEntry, body=PhotoUpload, body_type="multipart/form-data",
                     body_encoding={"file": {"contentType": ", ".join(IMAGE_TYPES)}},
                     errors=(400, 408, 413, 415, 422, 503), write=True, tag="photos"),
            # one route per kind (not a catch-all segment), so /api/photos/files/ is not
            # also a DELETE resource (its 405 answers Allow: GET, as documented), and each
            # key is documented as what its kind takes
            Endpoint("DELETE", "/api/photos/slot/{key}", self.delete_slot_photo,
                     "Remove the photo of a slot (operator)", response=PhotoRemoved,
                     path_params=SlotPhotoPath, errors=(400, 404, 503), write=True,
                     tag="photos"),
            Endpoint("DELETE", "/api/photos/name/{key}", self.delete_name_photo,
                     "Remove the photo of a performer name (operator)", response=PhotoRemoved,
                     path_params=NamePhotoPath, errors=(400, 404, 503), write=True,
                     tag="photos"),
            Endpoint("GET", "/api/photos/files/{file}", self.get_photo_file,
                     "A stored photo (named by its content: cached for a year)",
                     path_params=FilePath, errors=(404,), content_type="image/*",
                     tag="photos"),
        ]


async def read_upload(request: web.Request) -> tuple[bytes, int | None, str | None]:
    """The file and the slot or name of a multipart upload; BadUpload when it is not
    one (413 past the size limit, without reading the rest)."""
    if request.content_type != "multipart/form-data":
        raise BadUpload(415, "a photo is uploaded as multipart/form-data")
    length = request.content_length
    if length is not None and length > MAX_UPLOAD_BYTES + ENVELOPE:
        raise BadUpload(413, f"the photo is larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
    fields: dict[str, bytes] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name not in ("file", "slot", "name"):
                raise BadUpload(400, "the form takes the fields file, and slot or name")
            limit = MAX_UPLOAD_BYTES if part.name == "file" else 1024
            fields[part.name] = await _read_part(part, limit)
    except (ValueError, AssertionError, RuntimeError, LookupError, EOFError,
            HttpProcessingError) as exc:  # a part's headers that do not parse
        raise BadUpload(400, f"not a multipart/form-data body: {exc}") from None
    return _fields(fields)


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    buf = bytearray()
    while chunk := await part.read_chunk(256 * 1024):
        buf += chunk
        if len(buf) > limit:
            what = "the photo" if part.name == "file" else f"the field {part.name}"
            raise BadUpload(413, f"{what} is larger than {limit:,} bytes")
    return bytes(buf)


def _fields(fields: dict[str, bytes]) -> tuple[bytes, int | None, str | None]:
    if not fields.get("file"):
        raise BadUpload(400, "the photo is missing (form field file)")
    try:
        slot_text = fields["slot"].decode().strip() if "slot" in fields else ""
        name = fields["name"].decode().strip() if "name" in fields else ""
    except UnicodeDecodeError:
        raise BadUpload(400, "slot and name are UTF-8 text") from None
    if bool(slot_text) == bool(name):
        raise BadUpload(400, "say what the photo is for: a slot or a name (one of them)")
    slot = None
    if slot_text:
        if not (slot_text.isascii() and slot_text.isdigit() and 1 <= int(slot_text) <= 10000):
            raise BadUpload(400, "slot: a slot number from 1 to 10000")
        slot = int(slot_text)
    if name and (len(name) > MAX_NAME or not name_key(name)):
        raise BadUpload(400, f"name: a performer name of at most {MAX_NAME} characters")
    return fields["file"], slot, name or None
