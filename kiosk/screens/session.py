"""The citizen's session: everything one person entered, in one object.

The idle timeout replaces it with a fresh one and rebuilds every screen, so nothing
typed by one person is visible to the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CitizenSession:
    """All the citizen typed or chose; wiped by the idle timeout and by Home→new."""

    query: str = ""
    institution: str | None = None
    kind: str | None = None
    service_id: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    form_errors: dict[str, str] = field(default_factory=dict)
    focus: str = ""  # name of the field the keyboard types into
    submitted: Any = None
    pay_reference: str = ""
    pay_amount: int = 0
    pay_return: str = "home"
    receipt: Any = None
    inputs: dict[str, str] = field(default_factory=dict)  # track / letter / fines / complaint ...
    results: dict[str, Any] = field(default_factory=dict)  # screen name -> the answer it shows
    sent: dict[str, Any] = field(default_factory=dict)  # screen name -> the form it filed (never twice)
    message: str = ""  # a message key or text shown on the current screen
    message_tone: str = ""  # "ok" / "danger": the colour of `message` (end of day)
    staff_found: Any = None  # the cashier's looked-up payable (never a citizen's result)
    eod_confirm: bool = False  # end of day asked, waiting for the cashier's yes

    def is_empty(self) -> bool:
        return self == CitizenSession()
