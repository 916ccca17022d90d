"""One error family for everything a person or a peer can get wrong.

Parsers and services raise `UrError` (or a subclass) with a message that names
what is wrong; the CLIs and screens show that message as it is, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class UrError(Exception):
    """Bad input or a refused request; `str(e)` is the message for the person."""


class CodedError(UrError):
    """A refusal with a short machine `code` (what counters count by) beside the
    message for a person: `str(e)` is "code: message"."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{code}: {message}")


class Problem(str):
    """One broken rule: where (`field`: a field name, "file: path", or "" for
    the whole input), which rule (`code`: short and stable, for a screen to pick
    its own words or a counter to count by: "required", "too_long", "invalid",
    "unknown", ...) and the sentence for a person (the string itself, also
    `message`). A str, so code that shows or joins problems keeps working."""

    field: str
    code: str

    def __new__(cls, field: str, code: str, message: str) -> Problem:
        obj = super().__new__(cls, message)
        obj.field, obj.code = field, code
        return obj

    @property
    def message(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Problem({self.field!r}, {self.code!r}, {self.message!r})"


class ValidationError(UrError):
    """Data (a file, a form, a frame) broke rules; `problems` lists each one as
    a `Problem`. `str(e)` stays the readable "message: problem; problem".

    Problems may be given as `Problem`s, (field, code, message) tuples, or plain
    sentences (field "" and code "invalid": for rules that have no field)."""

    def __init__(self, message: str, problems: Iterable[Problem | tuple[str, str, str] | str] | None = None) -> None:
        given = [_problem(p) for p in problems or ()]
        self.problems: list[Problem] = given or [Problem("", "invalid", message)]
        super().__init__(message if not given else message + ": " + "; ".join(p.message for p in given))

    def fields(self) -> dict[str, list[Problem]]:
        """Problems by field, in order (for a form that marks each field)."""
        out: dict[str, list[Problem]] = {}
        for p in self.problems:
            out.setdefault(p.field, []).append(p)
        return out


def _problem(p: Problem | tuple[str, str, str] | str) -> Problem:
    if isinstance(p, Problem):
        return p
    if isinstance(p, tuple):
        return Problem(*p)
    return Problem("", "invalid", p)
