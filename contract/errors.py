"""One error family for everything a person or a peer can get wrong.

Parsers and services raise `UrError` (or a subclass) with a message that names
what is wrong; the CLIs and screens show that message as it is, never a traceback.
"""

from __future__ import annotations


class UrError(Exception):
    """Bad input or a refused request; `str(e)` is the message for the person."""


class CodedError(UrError):
    """A refusal with a short machine `code` (what counters count by) beside the
    message for a person: `str(e)` is "code: message"."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"{code}: {message}")


class ValidationError(UrError):
    """Data (a file, a form, a frame) broke a rule; `problems` lists each one."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message if not problems else message + ": " + "; ".join(problems))
