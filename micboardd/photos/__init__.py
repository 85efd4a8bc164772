"""Photos: performer photos for the tiles, checked and made small (image.py), kept in
the state dir by content hash (library.py), served over HTTP (api.py); the part
(part.py) runs them off the event loop."""

from micboardd.photos.part import PhotosPart

__all__ = ["PhotosPart"]
