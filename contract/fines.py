"""The "fines" dataset both sides share: central publishes it, kiosks look plates up in it.

Fines are issued centrally (traffic police) and synced down; the kiosk never
invents or edits an amount: what the citizen pays is the amount in the dataset.
Dataset body: JSON {"fines": [{"id", "plate", "amount", "offence", "issued"}]}.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from contract.errors import UrError, ValidationError

DATASET = "fines"
_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,40}$")


@dataclass(frozen=True)
class Fine:
    id: str
    plate: str
    amount: int  # whole dinars
    offence: str
    issued: str


def normalize_plate(text: str) -> str:
    """Plates are compared without spaces, dashes or case ("12 B-345" == "12b345")."""
    plate = re.sub(r"[\s\-_.]", "", str(text)).upper()
    if not plate or len(plate) > 16 or not plate.isalnum():
        raise UrError(f"{text!r} is not a plate number (letters and digits, at most 16)")
    return plate


def parse(body: bytes) -> list[Fine]:
    """The fines dataset, checked item by item (problems name the index and field)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValidationError("fines dataset is not JSON", [str(e)]) from None
    items = doc.get("fines") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ValidationError("fines dataset has no 'fines' list", ["fines: missing or not a list"])
    out: list[Fine] = []
    problems: list[str] = []
    for i, it in enumerate(items):
        if not isinstance(it, dict):
            problems.append(f"fines[{i}]: not an object")
            continue
        fid, amount = it.get("id"), it.get("amount")
        if not isinstance(fid, str) or not _ID_RE.match(fid):
            problems.append(f"fines[{i}].id: must be 1-40 letters, digits or dashes")
            continue
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= 100_000_000:
            problems.append(f"fines[{i}].amount: must be a whole number of dinars 1..100000000")
            continue
        try:
            plate = normalize_plate(str(it.get("plate", "")))
        except UrError as e:
            problems.append(f"fines[{i}].plate: {e}")
            continue
        out.append(Fine(fid, plate, amount, str(it.get("offence", ""))[:200], str(it.get("issued", ""))[:32]))
    if problems:
        raise ValidationError("fines dataset is invalid", problems)
    return out


def dump(fines: list[dict[str, Any]]) -> bytes:
    """Canonical body (sorted), so publishing the same fines twice is the same version."""
    return json.dumps({"fines": sorted(fines, key=lambda f: f["id"])}, sort_keys=True,
                      ensure_ascii=False, separators=(",", ":")).encode()


