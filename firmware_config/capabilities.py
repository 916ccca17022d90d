"""Printer capabilities per model, from python-escpos's shipped capability database.

Why not our own table: python-escpos ships `capabilities.json` (built from the
community escpos-printer-db: paper widths, code pages, QR and cutter support
for ~35 models). A profile names the model id there and overrides only what
differs on the unit the kiosk has.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from contract.errors import UrError


@lru_cache(maxsize=1)
def database() -> dict[str, Any]:
    try:
        text = resources.files("escpos").joinpath("capabilities.json").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as e:
        raise UrError(f"python-escpos capability database not found: {e}") from None
    db: dict[str, Any] = json.loads(text)
    return db


def model_ids() -> list[str]:
    return sorted(database()["profiles"])


def capabilities(model_id: str) -> dict[str, Any]:
    """The capability record of `model_id` (KeyError-free: UrError naming the id)."""
    profiles = database()["profiles"]
    if model_id not in profiles:
        raise UrError(f"printer model {model_id!r} is not in the python-escpos capability "
                      f"database (known: {', '.join(sorted(profiles))})")
    record: dict[str, Any] = profiles[model_id]
    return record


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def summary(model_id: str) -> dict[str, Any]:
    """What the kiosk uses: width in dots, native QR, cutter, code pages, font columns."""
    c = capabilities(model_id)
    feats = c.get("features", {})
    media = c.get("media", {})
    width = media.get("width", {}) if isinstance(media.get("width"), dict) else {}
    return {
        "vendor": c.get("vendor", ""),
        "name": c.get("name", model_id),
        "paper_width_dots": _int_or_none(width.get("pixels")),
        "paper_width_mm": width.get("mm") if isinstance(width.get("mm"), int | float) else None,
        "dpi": _int_or_none(media.get("dpi")),
        "native_qr": bool(feats.get("qrCode", False)),
        "cutter": bool(feats.get("paperFullCut", False) or feats.get("paperPartCut", False)),
        "raster": bool(feats.get("bitImageRaster", False)),
        "code_pages": {int(k): v for k, v in c.get("codePages", {}).items()},
        "font_a_columns": c.get("fonts", {}).get("0", {}).get("columns"),
    }
