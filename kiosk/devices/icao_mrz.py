"""The machine readable zone (ICAO Doc 9303 Parts 3-6): check digits, the BAC key
material typed by the citizen, and the MRZ that DG1 holds.

Pure functions and value objects: no I/O. Every rejection is a `MrzError` that
names the field and what is wrong with it, so the screen can say it to the citizen.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from contract.errors import UrError

_WEIGHTS = (7, 3, 1)
_ALLOWED = re.compile(r"^[0-9A-Z<]*$")


class MrzError(UrError):
    """An MRZ field (typed or read from the chip) that is not what ICAO 9303 allows."""


def _value(ch: str) -> int:
    if ch.isdigit():
        return int(ch)
    if "A" <= ch <= "Z":
        return ord(ch) - ord("A") + 10
    if ch == "<":
        return 0
    raise MrzError(f"character {ch!r} is not allowed in an MRZ (0-9, A-Z, <)")


def check_digit(field: str) -> str:
    """The 7-3-1 weighted check digit of Doc 9303 Part 3, 4.9."""
    return str(sum(_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(field)) % 10)


def _date(field: str, what: str) -> str:
    if not re.fullmatch(r"\d{6}", field):
        raise MrzError(f"{what}: {field!r} is not a date in the form YYMMDD (six digits)")
    month, day = int(field[2:4]), int(field[4:6])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise MrzError(f"{what}: {field!r} has no month {month:02d} / day {day:02d}")
    return field


@dataclass(frozen=True)
class MrzKey:
    """What BAC derives its keys from: document number, birth date, expiry date
    (each YYMMDD), as the citizen types them or a camera reads the MRZ."""

    document_number: str
    birth_date: str
    expiry_date: str

    @classmethod
    def parse(cls, document_number: str, birth_date: str, expiry_date: str) -> MrzKey:
        doc = document_number.strip().upper().replace(" ", "")
        if not doc:
            raise MrzError("document number: empty")
        if not _ALLOWED.match(doc) or len(doc) > 22:
            raise MrzError(f"document number: {document_number!r} must be up to 22 letters A-Z "
                           "and digits")
        return cls(doc, _date(birth_date.strip(), "birth date"), _date(expiry_date.strip(), "expiry date"))

    def information(self) -> bytes:
        """MRZ_information of Doc 9303 Part 11, 9.7.2: each field with its check digit,
        the document number filled with '<' to nine characters."""
        doc = self.document_number.ljust(9, "<")
        s = (doc + check_digit(doc) + self.birth_date + check_digit(self.birth_date)
             + self.expiry_date + check_digit(self.expiry_date))
        return s.encode("ascii")


@dataclass(frozen=True)
class MrzData:
    """The fields of an MRZ as DG1 stores them, dates still YYMMDD."""

    document_code: str
    issuing_state: str
    document_number: str
    surname: str
    given_names: str
    nationality: str
    birth_date: str
    sex: str  # "M", "F" or "X" (unspecified)
    expiry_date: str
    optional_data: str
    check_digits_ok: bool

    def key(self) -> MrzKey:
        return MrzKey(self.document_number, self.birth_date, self.expiry_date)


def _name(field: str) -> tuple[str, str]:
    primary, _, secondary = field.partition("<<")
    return (primary.replace("<", " ").strip(),
            secondary.replace("<", " ").strip())


def _field(s: str) -> str:
    return s.replace("<", " ").strip()


def _checks(pairs: list[tuple[str, str]]) -> bool:
    return all(check_digit(f) == cd for f, cd in pairs)


def parse_mrz(text: str) -> MrzData:
    """TD1 (3 x 30, ID cards), TD2 (2 x 36) or TD3 (2 x 44, passports), lines joined or not."""
    mrz = "".join(text.split()).upper()
    if not _ALLOWED.match(mrz):
        bad = sorted(set(re.sub(r"[0-9A-Z<]", "", mrz)))
        raise MrzError(f"MRZ holds characters outside 0-9, A-Z, <: {''.join(bad)!r}")
    if len(mrz) == 90:
        return _td1(mrz[:30], mrz[30:60], mrz[60:])
    if len(mrz) == 72:
        return _td23(mrz[:36], mrz[36:], 36)
    if len(mrz) == 88:
        return _td23(mrz[:44], mrz[44:], 44)
    raise MrzError(f"MRZ of {len(mrz)} characters: expected 90 (TD1), 72 (TD2) or 88 (TD3)")


def _td1(l1: str, l2: str, l3: str) -> MrzData:
    doc, doc_cd, opt1 = l1[5:14], l1[14], l1[15:30]
    if doc_cd == "<" and opt1.strip("<"):
        # Long document number: it continues in the optional data, its check digit last.
        ext = opt1.split("<", 1)[0]
        doc, doc_cd, opt1 = doc + ext[:-1], ext[-1], opt1[len(ext):]
        doc_field = l1[5:14] + ext[:-1]
    else:
        doc_field = doc
    surname, given = _name(l3)
    ok = _checks([(doc_field, doc_cd), (l2[0:6], l2[6]), (l2[8:14], l2[14]),
                  (l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29])])
    return MrzData(_field(l1[0:2]), _field(l1[2:5]), doc.replace("<", ""), surname, given,
                   _field(l2[15:18]), l2[0:6], l2[7].replace("<", "X"), l2[8:14],
                   _field(opt1 + l2[18:29]), ok)


def _td23(l1: str, l2: str, width: int) -> MrzData:
    surname, given = _name(l1[5:])
    opt_end = width - 1 if width == 36 else 42
    doc, doc_field, doc_cd, opt = l2[0:9], l2[0:9], l2[9], l2[28:opt_end]
    if doc_cd == "<" and opt.strip("<") and width == 36:
        # Long document number (TD2): continued in the optional data, check digit last.
        ext = opt.split("<", 1)[0]
        doc_field, doc_cd, opt = doc + ext[:-1], ext[-1], opt[len(ext):]
        doc = doc_field
    pairs = [(doc_field, doc_cd), (l2[13:19], l2[19]), (l2[21:27], l2[27])]
    if width == 44:
        if l2[28:42].strip("<") or l2[42] != "<":
            pairs.append((l2[28:42], l2[42]))
        pairs.append((l2[0:10] + l2[13:20] + l2[21:43], l2[43]))
    else:
        pairs.append((l2[0:10] + l2[13:20] + l2[21:35], l2[35]))
    return MrzData(_field(l1[0:2]), _field(l1[2:5]), doc.replace("<", ""), surname, given,
                   _field(l2[10:13]), l2[13:19], l2[20].replace("<", "X"), l2[21:27],
                   _field(opt), _checks(pairs))


def iso_date(yymmdd: str, kind: str, today: dt.date | None = None) -> str:
    """YYMMDD -> YYYY-MM-DD. A birth date is never in the future; an expiry date is
    taken in this century unless that puts it more than 50 years ahead."""
    today = today or dt.date.today()
    yy = int(yymmdd[:2])
    year = 2000 + yy
    if kind == "birth" and year > today.year:
        year -= 100
    elif kind == "expiry" and year > today.year + 50:
        year -= 100
    try:
        return dt.date(year, int(yymmdd[2:4]), int(yymmdd[4:6])).isoformat()
    except ValueError:
        raise MrzError(f"{kind} date {yymmdd!r} is not a calendar date") from None
