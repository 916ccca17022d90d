"""Why reading the citizen's card gave no document. Every one is a `CardReadError`,
so the form catches one class and lets the citizen type instead; the message says
what happened in words a citizen or technician can act on."""

from __future__ import annotations

from contract.errors import UrError


class CardReadError(UrError):
    """Reading the card did not give a document; the citizen types instead."""


class ReaderUnavailable(CardReadError):
    """No PC/SC service (pcscd) or no card reader attached."""


class NoCard(CardReadError):
    """The reader is there but holds no card (or the card does not answer reset)."""


class NotAnEmrtd(CardReadError):
    """The card answers but has no ICAO travel-document application."""


class BacFailed(CardReadError):
    """The chip and the terminal do not share the MRZ-derived keys (wrong MRZ typed)."""


class TornRead(CardReadError):
    """The card stopped answering, or answered inconsistently, part way through."""


class BadCardData(CardReadError):
    """A file from the chip that is not the structure ICAO 9303 Part 10 defines."""
