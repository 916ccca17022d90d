"""Service catalogue model, form validation, fee lookup and catalogue deltas,
shared by central (which publishes it) and kiosks (which show, search and
validate against it offline).

Interface the rest of the code relies on:
  - `parse(data: bytes | str) -> Catalogue` (JSON; raises ValidationError)
  - `Catalogue.version`, `Catalogue.service(service_id) -> Service` (UrError if unknown)
  - `Service.id`, `Service.fee_total` (IQD), `Service.accepts_applications`
  - `validate_form(service, fields: dict[str, str]) -> dict[str, str]` (normalised
    values; ValidationError listing every bad field)
  - `fee_for(catalogue, service_id) -> FeeQuote`: the only fee a cashier may charge
    for an application made under that catalogue version.
  - `canonical(catalogue) -> bytes`, `make_delta(old, new) -> bytes`,
    `apply_delta(old_body, delta) -> bytes`: a kiosk rebuilds the exact bytes
    central published, so the sha256 check before switching is meaningful.

Kinds (Ur portal classification): informational (no application), participatory
(moves between agencies, the citizen never carries papers), procedural (one visit
to sign, fingerprint or collect), interactive (e-form; a visit only when asked).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic import ValidationError as PydanticError

from contract import input_limits
from contract.errors import Problem, UrError, ValidationError

Kind = Literal["informational", "participatory", "procedural", "interactive"]
KINDS: tuple[str, ...] = ("informational", "participatory", "procedural", "interactive")
LANGS: tuple[str, ...] = ("ar", "ckb", "en")
FIELD_TYPES: tuple[str, ...] = ("text", "arabic_text", "national_id", "mobile", "plate", "date",
                                "choice", "number")
_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"
MAX_TEXT = 4000  # a name, step or description; the longest in the seed is ~250
MAX_BODY = 64 * 1024 * 1024  # a whole catalogue (5,000 services are ~8 MB)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Texts(_Strict):
    """The same text in Arabic, Kurdish (Sorani) and English; none may be empty."""

    ar: str = Field(min_length=1, max_length=MAX_TEXT)
    ckb: str = Field(min_length=1, max_length=MAX_TEXT)
    en: str = Field(min_length=1, max_length=MAX_TEXT)

    def get(self, lang: str) -> str:
        return str(getattr(self, lang if lang in LANGS else "ar"))


class Office(_Strict):
    id: str = Field(pattern=_ID)
    name: Texts
    city: str = ""


class Institution(_Strict):
    id: str = Field(pattern=_ID)
    name: Texts
    offices: list[Office] = Field(default_factory=list)


class Document(_Strict):
    """A document the citizen brings, or that the state already holds (once-only)."""

    name: Texts
    original: bool = True
    copies: int = Field(default=0, ge=0, le=20)
    held_by_state: bool = False  # the agency fetches it itself: the citizen brings nothing
    proxy_allowed: bool = True  # a relative/lawyer may bring it instead of the citizen


class FormField(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")
    type: Literal["text", "arabic_text", "national_id", "mobile", "plate", "date", "choice",
                  "number"] = "text"
    required: bool = True
    choices: list[str] = Field(default_factory=list)
    label: Texts | None = None
    max_length: int = Field(default=200, ge=1, le=5000)

    @model_validator(mode="after")
    def _choices(self) -> FormField:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"choice field {self.name!r} needs a non-empty 'choices' list")
        if self.type != "choice" and self.choices:
            raise ValueError(f"field {self.name!r} of type {self.type} cannot have choices")
        return self


class Fees(_Strict):
    """Whole dinars (IQD). Statutory = the legal fee; service = the e-service charge."""

    statutory: int = Field(default=0, ge=0, le=100_000_000)
    service: int = Field(default=0, ge=0, le=100_000_000)


class Service(_Strict):
    id: str = Field(pattern=_ID)
    name: Texts
    description: Texts | None = None
    kind: Kind
    institution: str
    agencies: list[str] = Field(default_factory=list)  # other institutions a participatory file visits
    steps: list[Texts] = Field(default_factory=list)  # what the citizen does, in order
    documents: list[Document] = Field(default_factory=list)
    fees: Fees = Field(default_factory=Fees)
    duration_days: int = Field(default=0, ge=0, le=365)
    # Visits the citizen makes; None = the kind's usual number (procedural 1, others 0).
    visits: int | None = Field(default=None, ge=0, le=5)
    e_payment: bool = False
    form: list[FormField] = Field(default_factory=list)
    workflow: str | None = None  # per-service workflow override (central/workflow_data)

    @property
    def fee_total(self) -> int:
        return self.fees.statutory + self.fees.service

    @property
    def accepts_applications(self) -> bool:
        return self.kind != "informational"

    @property
    def visit_count(self) -> int:
        if self.visits is not None:
            return self.visits
        return 1 if self.kind == "procedural" else 0

    @model_validator(mode="after")
    def _kind_rules(self) -> Service:
        names = [f.name for f in self.form]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"form field names repeated: {', '.join(dup)}")
        visits = self.visit_count
        if self.kind == "informational" and (self.form or visits):
            raise ValueError("an informational service takes no application: no form, no visits")
        if self.kind == "procedural" and visits != 1:
            raise ValueError("a procedural service has exactly one visit (visits: 1)")
        if self.kind == "participatory" and visits != 0:
            raise ValueError("a participatory service needs no visit (visits: 0): the file moves, not the citizen")
        if self.kind == "participatory" and not [a for a in self.agencies if a != self.institution]:
            raise ValueError("a participatory service names at least one other agency in 'agencies'")
        if self.kind == "interactive" and visits > 1:
            raise ValueError("an interactive service asks for at most one visit")
        if self.accepts_applications and not self.form:
            raise ValueError(f"a {self.kind} service needs an application form")
        return self


class Catalogue(_Strict):
    version: int = 0
    institutions: list[Institution] = Field(default_factory=list)
    services: list[Service]
    _by_id: dict[str, Service] = PrivateAttr(default_factory=dict)
    _inst: dict[str, Institution] = PrivateAttr(default_factory=dict)
    _key: tuple[int, ...] = PrivateAttr(default=())

    @field_validator("services")
    @classmethod
    def _unique(cls, v: list[Service]) -> list[Service]:
        seen: set[str] = set()
        for s in v:
            if s.id in seen:
                raise ValueError(f"service id {s.id!r} used twice")
            seen.add(s.id)
        return v

    @model_validator(mode="after")
    def _refs(self) -> Catalogue:
        ids = [i.id for i in self.institutions]
        if len(set(ids)) != len(ids):
            raise ValueError("institution ids repeated")
        if ids:  # a catalogue listing institutions must reference only those
            known = set(ids)
            for s in self.services:
                for ref in [s.institution, *s.agencies]:
                    if ref not in known:
                        raise ValueError(f"service {s.id!r} names unknown institution {ref!r}")
        return self

    def _lookups(self) -> None:
        # Rebuilt when the lists were replaced (model_copy(update=...) keeps private attrs).
        key = (id(self.services), len(self.services), id(self.institutions), len(self.institutions))
        if self._key != key:
            self._by_id = {s.id: s for s in self.services}
            self._inst = {i.id: i for i in self.institutions}
            self._key = key

    def service(self, service_id: str) -> Service:
        self._lookups()
        try:
            return self._by_id[service_id]
        except KeyError:
            raise UrError(f"unknown service {service_id!r}") from None

    def institution(self, inst_id: str) -> Institution | None:
        self._lookups()
        return self._inst.get(inst_id)


def pydantic_problems(e: PydanticError, prefix: str = "") -> list[str]:
    """One 'path: reason' line per problem, paths like services[3].fees.statutory."""
    out = []
    for err in e.errors():
        path = prefix
        for p in err["loc"]:
            path += f"[{p}]" if isinstance(p, int) else (f".{p}" if path else str(p))
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{path or '(top)'}: {msg}")
    return out


def parse(data: bytes | str) -> Catalogue:
    """Parse and validate; the last few bodies are cached (a national catalogue
    takes ~0.2 s to validate and kiosks parse it on every application). Treat the
    result as read-only: change it with `model_copy(update=...)`."""
    return _parse_cached(data.encode() if isinstance(data, str) else bytes(data))


@lru_cache(maxsize=4)
def _parse_cached(data: bytes) -> Catalogue:
    input_limits.check_json(data, "catalogue", MAX_BODY)  # before the parser recurses into it
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValidationError("catalogue is not valid JSON", [str(e)]) from None
    return from_obj(raw)


def from_obj(raw: Any) -> Catalogue:
    try:
        return Catalogue.model_validate(raw)
    except PydanticError as e:
        raise ValidationError("catalogue is invalid", pydantic_problems(e)) from None


def canonical(c: Catalogue) -> bytes:
    """The one byte form of a catalogue: sorted keys, services/institutions by id."""
    return _dump(c.model_dump(mode="json"))


def _dump(obj: dict[str, Any]) -> bytes:
    obj = dict(obj)
    obj["services"] = sorted(obj.get("services", []), key=lambda s: s["id"])
    obj["institutions"] = sorted(obj.get("institutions", []), key=lambda i: i["id"])
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# --- fees ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FeeQuote:
    service_id: str
    catalogue_version: int
    statutory: int
    service: int

    @property
    def total(self) -> int:
        return self.statutory + self.service


def fee_for(catalogue: Catalogue, service_id: str) -> FeeQuote:
    """The fee of `service_id` in exactly this catalogue version (pure)."""
    s = catalogue.service(service_id)
    if not s.accepts_applications:
        raise UrError(f"service {service_id!r} is informational: nothing to pay for")
    return FeeQuote(s.id, catalogue.version, s.fees.statutory, s.fees.service)


# --- deltas -------------------------------------------------------------------------

def make_delta(old: Catalogue, new: Catalogue) -> bytes:
    """Only what changed from `old` to `new` (JSON)."""
    o = {s.id: s.model_dump(mode="json") for s in old.services}
    n = {s.id: s.model_dump(mode="json") for s in new.services}
    oi = {i.id: i.model_dump(mode="json") for i in old.institutions}
    ni = {i.id: i.model_dump(mode="json") for i in new.institutions}
    delta = {
        "from": old.version, "to": new.version,
        "services": [n[k] for k in sorted(n) if o.get(k) != n[k]],
        "removed_services": sorted(set(o) - set(n)),
        "institutions": [ni[k] for k in sorted(ni) if oi.get(k) != ni[k]],
        "removed_institutions": sorted(set(oi) - set(ni)),
    }
    return json.dumps(delta, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def apply_delta(old_body: bytes, delta: bytes) -> bytes:
    """Rebuild the new canonical body from the old one; the caller checks its sha256."""
    try:
        old = json.loads(old_body)
        d = json.loads(delta)
        if int(old["version"]) != int(d["from"]):
            raise UrError(f"catalogue delta is from v{d['from']} but this copy is v{old['version']}")
        services = {s["id"]: s for s in old["services"]}
        for sid in d["removed_services"]:
            services.pop(sid, None)
        for s in d["services"]:
            services[s["id"]] = s
        insts = {i["id"]: i for i in old.get("institutions", [])}
        for iid in d["removed_institutions"]:
            insts.pop(iid, None)
        for i in d["institutions"]:
            insts[i["id"]] = i
        body = {**old, "version": int(d["to"]), "services": list(services.values()),
                "institutions": list(insts.values())}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UrError(f"catalogue delta cannot be applied: {type(e).__name__} {e}") from None
    return _dump(body)


# --- form validation ----------------------------------------------------------------

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_ARABIC_LETTER = re.compile(r"[\u0620-\u064A\u066E-\u06D3\u06D5\u06FA-\u06FC]")
_ARABIC_TEXT_OK = re.compile(r"^[\u0600-\u06FF\u0750-\u077F\u200c\s0-9.,:;()\-/«»!?\"']+$")
_PLATE = re.compile(r"^(\d{2})?([A-Z]|[\u0621-\u064A])(\d{1,6})$")
_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "national_id": (re.compile(r"^\d{12}$"), "must be the 12-digit national ID number"),
    "mobile": (re.compile(r"^07[3-9]\d{8}$"), "must be an Iraqi mobile number like 07701234567"),
    "number": (re.compile(r"^\d{1,15}$"), "must be a whole number"),
}


# A date before this is a typing error on any form we take.
DATE_MIN = date(1900, 1, 1)
# How far ahead a date may lie (a validity start, an appointment); birth dates not at all.
DATE_AHEAD_DAYS = 5 * 366
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ZWNJ = "\u200c"


def _text_problem(value: str) -> str | None:
    """Why a free-text value (a name) cannot be stored, or None. Control characters
    (C0, DEL, C1), bidi overrides and isolates (U+202E makes "ali.exe" print as
    "exe.ila" on a clerk's screen), zero-width and other invisible format characters,
    private-use, surrogate and unassigned code points are refused: a name must read
    the same on every screen and printout. The one exception is U+200C (ZWNJ)
    between two Arabic-script letters, which Kurdish and Persian spelling needs."""
    for i, ch in enumerate(value):
        cat_ = unicodedata.category(ch)
        if cat_ == "Cc" and ch not in "\t\n\r":  # those three fold into spaces
            return f"contains control characters (U+{ord(ch):04X})"
        if ch in _BIDI:
            return f"contains a text-direction control character (U+{ord(ch):04X})"
        if ch == _ZWNJ and 0 < i < len(value) - 1 and _ARABIC_LETTER.match(value[i - 1]) \
                and _ARABIC_LETTER.match(value[i + 1]):
            continue
        if cat_ == "Cf":
            return f"contains an invisible formatting character (U+{ord(ch):04X})"
        if cat_ in ("Co", "Cs", "Cn"):
            return f"contains a character that is not a letter of any script (U+{ord(ch):04X})"
    return None


def _date_problem(f: FormField, d: date, today: date) -> str | None:
    """Sane ranges: from DATE_MIN, and not in the future for a birth date, nor more
    than DATE_AHEAD_DAYS ahead for any other date."""
    if d < DATE_MIN:
        return f"must be on or after {DATE_MIN.isoformat()}"
    if "birth" in f.name and d > today:
        return "must not be in the future"
    if (d - today).days > DATE_AHEAD_DAYS:
        return f"must be at most {DATE_AHEAD_DAYS // 366} years ahead"
    return None


_TOO_LONG = "is longer than {} characters"


def _normalise(f: FormField, value: str, today: date | None = None) -> tuple[str, str | None]:
    """(normalised value, problem or None) for one non-empty value."""
    if f.type in ("national_id", "mobile", "number", "date", "plate"):
        value = value.translate(_DIGITS)
    if f.type in ("national_id", "mobile", "number"):
        value = re.sub(r"[\s-]", "", value)
    if f.type == "mobile":
        value = re.sub(r"^(\+|00)964", "0", value)
    if f.type in _RULES:
        rx, why = _RULES[f.type]
        return value, None if rx.match(value) else why
    if f.type == "date":
        try:
            d = date.fromisoformat(value)
        except ValueError:
            return value, "must be a real date YYYY-MM-DD"
        return d.isoformat(), _date_problem(f, d, today or date.today())
    if f.type == "plate":
        plate = re.sub(r"[\s-]", "", value).upper()
        if not _PLATE.match(plate):
            return value, "must be a vehicle plate: optional 2-digit province code, a letter, 1-6 digits (e.g. 11 A 12345)"
        return plate, None
    if f.type == "choice":
        return value, None if value in f.choices else f"must be one of {', '.join(f.choices)}"
    if (problem := _text_problem(value)) is not None:  # before \s+ folds NEL (U+0085) into a space
        return value, problem
    value = re.sub(r"\s+", " ", value)
    if len(value) > f.max_length:
        return value, _TOO_LONG.format(f.max_length)
    if f.type == "arabic_text" and not (_ARABIC_TEXT_OK.match(value) and _ARABIC_LETTER.search(value)):
        return value, "must be written in Arabic letters"
    return value, None


def validate_form(service: Service, fields: dict[str, str], today: date | None = None) -> dict[str, str]:
    """Normalised values, or ValidationError listing every bad field; `today`
    (default: the local date) bounds date fields."""
    if not service.accepts_applications:
        raise UrError(f"service {service.id!r} is informational and takes no application")
    known = {f.name: f for f in service.form}
    problems = [Problem(k, "unknown", f"unknown field {k!r}") for k in fields if k not in known]
    out: dict[str, str] = {}
    for f in service.form:
        raw = fields.get(f.name, "")
        value = raw.strip() if isinstance(raw, str) else str(raw)
        if not value:
            if f.required:
                problems.append(Problem(f.name, "required", f"field {f.name!r} is required"))
            continue
        value, problem = _normalise(f, value, today)
        if problem:
            code = "too_long" if problem == _TOO_LONG.format(f.max_length) else "invalid"
            problems.append(Problem(f.name, code, f"field {f.name!r} {problem}"))
        out[f.name] = value
    if problems:
        raise ValidationError(f"application for {service.id} rejected", problems)
    return out
