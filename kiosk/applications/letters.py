"""Letter inquiry at the kiosk: answered from the last synced letters index.

The kiosk is often offline, so the answer always says how old the copy is
(`as_of`, `age_seconds`): a citizen told "with the Ministry since Tuesday" must
also be told that this was true at the last sync.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from contract import letters_index
from contract.errors import UrError
from kiosk import datasets

DATASET = "letters"


def inquire(session: Session, number: str, letter_date: str, now: int) -> dict[str, Any]:
    ds = datasets.current(session, DATASET)
    if ds is None:
        raise UrError("no letters index on this kiosk yet (it has not synced)")
    index = letters_index.decode(ds.body)
    matches = letters_index.find(index, number, letter_date)
    generated = int(index.get("generated_at", 0))
    checked = ds.checked_at if ds.checked_at.tzinfo else ds.checked_at.replace(tzinfo=UTC)
    return {
        "found": bool(matches),
        "number": letters_index.norm_number(number),
        "date": letters_index.norm_date(letter_date),
        "letters": matches,
        "as_of": datetime.fromtimestamp(generated, UTC).isoformat().replace("+00:00", "Z"),
        "age_seconds": max(0, now - generated),
        "last_checked": checked.isoformat(),
        "source": f"offline copy v{ds.version}",
    }
