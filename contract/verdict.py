"""The answer a verifier gives about one secured document.

Both central (online) and the kiosk (offline) print the same JSON shape:
`{"status": ..., "reason": ..., "document": {...}}`. `document` holds the
fields the clerk must compare with the paper, because a valid code pasted onto
a forged letter still verifies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    VALID = "VALID"
    REVOKED = "REVOKED"
    INVALID = "INVALID"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    STALE = "STALE"


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str
    document: dict[str, Any] | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.status is Status.VALID

    def to_json(self) -> dict[str, Any]:
        return {"status": str(self.status), "reason": self.reason, "document": self.document}
