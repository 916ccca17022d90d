"""The letters index central publishes for kiosks (dataset "letters"), and its lookup rules.

Shared so both sides agree on the shape and on how a citizen's typed number
and date are matched: Arabic-Indic and Persian/Kurdish digits become ASCII,
surrounding spaces go, and the date is ISO `YYYY-MM-DD`. The subject is left
out of the kiosk copy: a public kiosk only says where a letter is and its status.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from contract.errors import UrError, ValidationError

FORMAT = 1
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def norm_number(number: str) -> str:
    n = " ".join(number.translate(_DIGITS).split())
    if not n or len(n) > 64:
        raise ValidationError("bad letter number", [f"letter number must be 1..64 characters, got {len(n)}"])
    return n


def norm_date(value: str) -> str:
    v = value.strip().translate(_DIGITS)
    try:
        return date.fromisoformat(v).isoformat()
    except ValueError:
        raise ValidationError("bad letter date", [f"date {value!r} must be YYYY-MM-DD"]) from None


def encode(generated_at: int, letters: list[dict[str, Any]]) -> bytes:
    return json.dumps({"v": FORMAT, "generated_at": generated_at, "letters": letters},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def decode(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UrError(f"letters index is not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("v") != FORMAT or not isinstance(data.get("letters"), list):
        raise UrError("letters index has an unknown format")
    return data


def find(index: dict[str, Any], number: str, letter_date: str) -> list[dict[str, Any]]:
    n, d = norm_number(number), norm_date(letter_date)
    return [entry for entry in index["letters"] if entry.get("number") == n and entry.get("date") == d]
