"""How much smaller a photo gets: the test photos (tests/photokit.py: four 12 MP phone
JPEGs with EXIF, GPS and an ICC profile, a PNG with transparency, a WebP), each through
the daemon's own pipeline (micboardd/photos/image.py: checked, upright, stripped,
720 px, WebP and JPEG), with the bytes before and after and the time it took.

It prints a table (or JSON); it asserts nothing.

    .venv/bin/python bench/photos.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from photokit import sample_set  # noqa: E402

from micboardd.photos.image import process  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for name, data in sample_set():
        t0 = time.perf_counter()
        enc = process(data)
        ms = (time.perf_counter() - t0) * 1000
        rows.append({"photo": name, "in_bytes": len(data),
                     "in_px": f"{enc.source_width}x{enc.source_height}",
                     "out_px": f"{enc.width}x{enc.height}", "webp_bytes": len(enc.webp),
                     "jpeg_bytes": len(enc.jpeg),
                     "webp_x": round(len(data) / len(enc.webp), 1),
                     "jpeg_x": round(len(data) / len(enc.jpeg), 1), "ms": round(ms)})
    phones = [r for r in rows if r["photo"].startswith("phone")]
    summary = {
        "phone_in_bytes": sum(r["in_bytes"] for r in phones),
        "phone_webp_bytes": sum(r["webp_bytes"] for r in phones),
        "phone_jpeg_bytes": sum(r["jpeg_bytes"] for r in phones),
        "load": os.getloadavg()[0],
    }
    summary["phone_webp_x"] = round(summary["phone_in_bytes"] / summary["phone_webp_bytes"], 1)
    summary["phone_jpeg_x"] = round(summary["phone_in_bytes"] / summary["phone_jpeg_bytes"], 1)
    if args.json:
        print(json.dumps({"photos": rows, "summary": summary}, indent=2))
        return
    head = list(rows[0])
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(str(r[k]) for k in head))
    print(f"phone photos: {summary['phone_in_bytes']:,} B -> WebP "
          f"{summary['phone_webp_bytes']:,} B ({summary['phone_webp_x']}x), JPEG "
          f"{summary['phone_jpeg_bytes']:,} B ({summary['phone_jpeg_x']}x); "
          f"load {summary['load']:.1f}")


if __name__ == "__main__":
    main()
