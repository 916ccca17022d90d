"""Service catalogue model and form validation, shared by central and kiosks.

MINIMAL FIRST VERSION (foundation): the catalogue engineer extends this module
(trilingual texts, kinds, steps, documents, fees, workflows). The interface the
rest of the code relies on:
  - `parse(data: bytes | str) -> Catalogue` (JSON; raises ValidationError)
  - `Catalogue.version`, `Catalogue.service(service_id) -> Service` (UrError if unknown)
  - `Service.id`, `Service.fee_total` (IQD), `Service.accepts_applications`
  - `validate_form(service, fields: dict[str, str]) -> dict[str, str]` (normalised
    values; ValidationError listing every bad field)
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticError

from contract.errors import UrError, ValidationError


class Texts(BaseModel):
    ar: str
    ckb: str
    en: str


class FormField(BaseModel):
    name: str
    type: Literal["text", "national_id", "mobile", "plate", "date", "choice", "number"] = "text"
    required: bool = True
    choices: list[str] = Field(default_factory=list)
    label: Texts | None = None


class Fees(BaseModel):
    statutory: int = 0
    service: int = 0


class Service(BaseModel):
    id: str
    name: Texts
    kind: Literal["informational", "participatory", "procedural", "interactive"]
    institution: str
    fees: Fees = Field(default_factory=Fees)
    form: list[FormField] = Field(default_factory=list)

    @property
    def fee_total(self) -> int:
        return self.fees.statutory + self.fees.service

    @property
    def accepts_applications(self) -> bool:
        return self.kind != "informational"


class Catalogue(BaseModel):
    version: int = 0
    services: list[Service]

    def service(self, service_id: str) -> Service:
        for s in self.services:
            if s.id == service_id:
                return s
        raise UrError(f"unknown service {service_id!r}")


def parse(data: bytes | str) -> Catalogue:
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValidationError("catalogue is not valid JSON", [str(e)]) from None
    try:
        return Catalogue.model_validate(raw)
    except PydanticError as e:
        problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ValidationError("catalogue is invalid", problems) from None


_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "national_id": (re.compile(r"^\d{12}$"), "must be the 12-digit national ID number"),
    "mobile": (re.compile(r"^07[3-9]\d{8}$"), "must be an Iraqi mobile number like 07701234567"),
    "date": (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "must be a date YYYY-MM-DD"),
    "number": (re.compile(r"^\d+$"), "must be a whole number"),
}
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def validate_form(service: Service, fields: dict[str, str]) -> dict[str, str]:
    if not service.accepts_applications:
        raise UrError(f"service {service.id!r} is informational and takes no application")
    known = {f.name: f for f in service.form}
    problems = [f"unknown field {k!r}" for k in fields if k not in known]
    out: dict[str, str] = {}
    for f in service.form:
        value = fields.get(f.name, "").strip()
        if f.type in _RULES or f.type == "mobile":
            value = value.translate(_DIGITS).replace(" ", "")
        if not value:
            if f.required:
                problems.append(f"field {f.name!r} is required")
            continue
        if f.type in _RULES and not _RULES[f.type][0].match(value):
            problems.append(f"field {f.name!r} {_RULES[f.type][1]}")
        elif f.type == "choice" and value not in f.choices:
            problems.append(f"field {f.name!r} must be one of {', '.join(f.choices)}")
        out[f.name] = value
    if problems:
        raise ValidationError(f"application for {service.id} rejected", problems)
    return out
