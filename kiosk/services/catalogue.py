"""The service catalogue for screens: institutions, ranked search, a service's detail
and form, and form validation by the catalogue's own rules (contract.catalogue),
all from the `catalogue` dataset this kiosk synced."""

from __future__ import annotations

from contract import catalogue as cat
from contract.errors import ValidationError
from kiosk import datasets
from kiosk.applications import catalogue_search
from kiosk.services.station import Station, texts
from kiosk.ui_services import (
    Choice,
    FormField,
    Institution,
    NotAvailable,
    RequiredDocument,
    ServiceDetail,
    ServiceSummary,
)

_ERROR_BY_TYPE = {"national_id": "err.national_id", "mobile": "err.mobile", "date": "err.date",
                  "plate": "err.plate", "arabic_text": "err.arabic", "number": "err.number",
                  "choice": "err.choice"}


class CatalogueServices:
    def __init__(self, station: Station) -> None:
        self.store = station.store

    def catalogue(self) -> cat.Catalogue:
        with self.store.session() as s:
            ds = datasets.current(s, "catalogue")
            if ds is None:
                raise NotAvailable("this kiosk has no service catalogue yet (it arrives with the first sync)")
            body = ds.body
        return cat.parse(body)

    def institutions(self) -> list[Institution]:
        c = self.catalogue()
        return [Institution(i.id, texts(i.name)) for i in c.institutions]

    def _summary(self, c: cat.Catalogue, svc: cat.Service) -> ServiceSummary:
        inst = next((i for i in c.institutions if i.id == svc.institution), None)
        return ServiceSummary(svc.id, texts(svc.name), svc.institution,
                              texts(inst.name) if inst else {"ar": svc.institution}, svc.kind)

    def search_services(self, query: str, lang: str, institution: str | None = None,
                        kind: str | None = None) -> list[ServiceSummary]:
        """The catalogue's own ranked index (normalised, per language); an empty query
        lists the services of the institution and kind, in the citizen's alphabet order."""
        c = self.catalogue()
        if query.strip():
            with self.store.session() as s:
                hits = catalogue_search.search(s, query, lang, institution, kind, limit=200)
            return [self._summary(c, c.service(h.service_id)) for h in hits]
        out = [self._summary(c, svc) for svc in c.services
               if (not institution or svc.institution == institution) and (not kind or svc.kind == kind)]
        out.sort(key=lambda s: s.name.get(lang, ""))
        return out

    def service_detail(self, service_id: str) -> ServiceDetail:
        c = self.catalogue()
        svc = c.service(service_id)
        docs = tuple(RequiredDocument(texts(d.name), bool(d.original), int(d.copies), bool(d.held_by_state))
                     for d in svc.documents)
        return ServiceDetail(self._summary(c, svc), texts(svc.description),
                             tuple(texts(s) for s in svc.steps), docs, svc.fees.statutory,
                             svc.fees.service, svc.duration_days, svc.visit_count,
                             svc.accepts_applications)

    def form_schema(self, service_id: str) -> list[FormField]:
        svc = self.catalogue().service(service_id)
        return [FormField(f.name, f.type, texts(f.label) or {"ar": f.name, "ckb": f.name, "en": f.name},
                          f.required, tuple(Choice(v, {"ar": v, "ckb": v, "en": v}) for v in f.choices),
                          f.max_length)
                for f in svc.form]

    def validate_form(self, service_id: str, fields: dict[str, str]) -> dict[str, str]:
        """Field -> error key, from the catalogue's own validation (the one rule set)."""
        svc = self.catalogue().service(service_id)
        try:
            cat.validate_form(svc, fields)
        except ValidationError as e:
            errors: dict[str, str] = {}
            by_field = e.fields()
            for f in svc.form:
                codes = {p.code for p in by_field.get(f.name, [])}
                if not codes:
                    continue
                if "required" in codes:
                    errors[f.name] = "err.required"
                elif "too_long" in codes:
                    errors[f.name] = "err.too_long"
                else:
                    errors[f.name] = _ERROR_BY_TYPE.get(f.type, "err.invalid")
            if not errors:
                raise
            return errors
        return {}
