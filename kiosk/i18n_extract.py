"""Babel extraction methods for the kiosk's message keys (named in `babel.cfg`).

Screens look texts up by key: `self.t("home.title")`, `self.tn("service.duration", n)`
for a count, and `N_("...")` for a key kept in a variable. `extract_screens` is
Babel's Python extractor with those names, reporting them as `gettext`/`ngettext`
so `pybabel extract -F babel.cfg` needs no keyword flags and a counted key becomes
a plural entry (msgid_plural = key + `.plural`). Some keys are built from a value
the service contract defines (`kind.<kind>`, `status.<status>` ...):
`extract_value_sets` lists every one of them from `kiosk.ui_services`, and
`FAMILIES` is the only place a screen may build a key from a value (a test holds
the screens to it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any, cast

from babel.messages.extract import extract_python

from kiosk import ui_services as ui
from kiosk.i18n import PLURAL_SUFFIX

# key template ("{}" = a value) -> every value the contract allows there
FAMILIES: dict[str, tuple[str, ...]] = {
    "kind.{}": ui.KINDS,
    "hint.{}": (*ui.FIELD_TYPES, "tracking", "latin", "pin"),
    "pay.stage.{}": (*ui.PAY_STAGES, "starting"),
    "status.{}": ui.TRACK_STATUSES,
    "verdict.{}": ui.VERDICTS,
    "verdict.{}.help": ui.VERDICTS,
    "letter.status.{}": ui.LETTER_STATUSES,
    "strip.paper.{}": ui.PAPER_STATES,
    "device.{}": ui.DEVICES,
    "device.state.{}": ui.DEVICE_STATES,
    "complaint.cat.{}": ui.COMPLAINT_CATEGORIES,
    "pin.role.{}": ("cashier", "technician"),
    "cashier.{}_done": ("void", "refund"),
}
# keys a service hands to a screen whole (form errors, print problems, ID card read failures)
SERVICE_KEYS: tuple[str, ...] = (*ui.ERROR_KEYS, *ui.PRINT_PROBLEMS, *ui.CARD_REASONS)
SCREEN_KEYWORDS = ("t", "tr", "N_")
COUNT_KEYWORDS = ("tn", "ntr")

Result = tuple[int, str, Any, list[str]]


def value_set_keys() -> list[str]:
    keys = [tpl.format(v) for tpl, values in FAMILIES.items() for v in values]
    return [*keys, *SERVICE_KEYS]


def extract_screens(fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str],
                    options: dict[str, Any]) -> Iterator[Result]:
    kw: dict[str, Any] = {**dict.fromkeys(keywords), **dict.fromkeys(SCREEN_KEYWORDS), **dict.fromkeys(COUNT_KEYWORDS)}
    # Babel's stubs type the extractor's result loosely: (line, funcname, messages, comments) at run time.
    results: Iterator[Any] = extract_python(fileobj, kw, comment_tags, cast(Any, options))
    for lineno, funcname, messages, comments in results:
        first = messages[0] if isinstance(messages, tuple) else messages
        if funcname in SCREEN_KEYWORDS:
            yield lineno, "gettext", first, comments
        elif funcname in COUNT_KEYWORDS:
            yield lineno, "ngettext", (first, None if first is None else first + PLURAL_SUFFIX), comments
        else:
            yield lineno, funcname, messages, comments


def extract_value_sets(fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str],
                       options: dict[str, Any]) -> Iterator[Result]:
    for key in value_set_keys():
        yield 0, "gettext", key, []
