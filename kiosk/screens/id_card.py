"""Read my ID card: the citizen types the three fields BAC needs (document number,
birth and expiry date as printed, YYMMDD), the kiosk reads the chip through
`UiServices.read_id_card`, and the screen shows the photo and the fields the card
gave for this form. They go into the form only when the citizen confirms; a card
that cannot be read shows the service's reason, translated, and the citizen types
the form as before.

The photo lives only in this screen's result and is dropped when the screen is
left (never in the form, never written).
"""

from __future__ import annotations

import io
from typing import Any

from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image
from kivy.uix.widget import Widget
from PIL import Image as PilImage

from kiosk.i18n import N_, isolate
from kiosk.screens.base import FieldsMixin, KioskScreen
from kiosk.screens.widgets import button, column, label, row, scroll
from kiosk.ui_services import FormField, IdCardRead, text_in

# session.inputs key -> (keyboard type, max length); BAC's three fields as printed on the card
SPECS: dict[str, tuple[str, int]] = {"card_document": ("latin", 22), "card_birth": ("digits", 6),
                                     "card_expiry": ("digits", 6)}
CAPTIONS = {"card_document": N_("card.document_number"), "card_birth": N_("card.birth_date"),
            "card_expiry": N_("card.expiry_date")}
HINTS = {"card_document": N_("hint.latin"), "card_birth": N_("card.hint_yymmdd"),
         "card_expiry": N_("card.hint_yymmdd")}
PHOTO_SIZE = (150, 190)


def photo_widget(data: bytes, mime: str) -> Widget | None:
    """The chip's face image as a Kivy widget, or None when it cannot be decoded
    (JPEG 2000 through Pillow when Kivy's own loaders do not take it)."""
    try:
        if mime == "image/jpeg":
            tex = CoreImage(io.BytesIO(data), ext="jpg").texture
        else:
            buf = io.BytesIO()
            PilImage.open(io.BytesIO(data)).convert("RGB").save(buf, format="PNG")
            buf.seek(0)
            tex = CoreImage(buf, ext="png").texture
    except Exception:  # noqa: BLE001 - an undecodable photo is left out, the fields still show
        return None
    img = Image(texture=tex, size_hint=(None, None), size=PHOTO_SIZE, fit_mode="contain")
    img.kid = "card.photo"
    return img


class IdCardScreen(FieldsMixin, KioskScreen):
    screen_name = "card"
    title_key = N_("card.title")
    prompt_key = N_("card.prompt")

    reading = False

    def on_pre_enter(self, *args: Any) -> None:
        self.result, self.reading = None, False
        super().on_pre_enter(*args)

    def on_leave(self, *args: Any) -> None:
        self.result = None  # the photo is never kept beyond this screen

    def build_body(self) -> Widget:
        a, r = self.app, self.result
        self.fields = {}
        body = BoxLayout(orientation="vertical", spacing=8)
        top = column(spacing=6)
        if isinstance(r, IdCardRead) and r.fields:
            top.add_widget(self.prefill_widget(r))
            body.add_widget(scroll(top))
            return body
        top.add_widget(label(a, self.t("card.prompt"), role="small", color=a.palette.muted))
        for name, key in CAPTIONS.items():
            top.add_widget(self.make_field(self.s.inputs, name, self.t(key), SPECS, hint=self.t(HINTS[name])))
        if self.reading:
            top.add_widget(label(a, self.t("card.reading"), role="heading", kid="card.reading"))
        elif isinstance(r, IdCardRead):
            reason = self.t(r.reason) if r.reason else self.t("card.nothing_for_form")
            top.add_widget(label(a, reason, role="heading", color=a.palette.danger, kid="card.reason"))
            top.add_widget(label(a, self.t("card.type_instead"), role="small", kid="card.type_instead"))
        top.add_widget(row(a, [button(a, self.t("card.type_myself"), self.back, kid="card.type_myself",
                                      role="secondary"),
                               button(a, self.t("card.read"), self.read, kid="card.read")]))
        body.add_widget(scroll(top))
        body.add_widget(self.make_keyboard(self.s.inputs, SPECS))
        return body

    def prefill_widget(self, r: IdCardRead) -> Widget:
        a = self.app
        col = column(spacing=6)
        col.add_widget(label(a, self.t("card.check"), role="heading", kid="card.check"))
        if r.photo:
            img = photo_widget(r.photo, r.photo_mime)
            if img is not None:
                col.add_widget(img)
        schema: list[FormField] = self.call(a.services.form_schema, self.s.service_id or "") or []
        captions = {f.name: text_in(f.label, a.lang) for f in schema}
        for name, value in r.fields.items():
            col.add_widget(label(a, captions.get(name, name), role="small", color=a.palette.muted))
            col.add_widget(label(a, isolate(value, a.lang), role="heading", bold=True, kid=f"card.field.{name}"))
        col.add_widget(row(a, [button(a, self.t("card.discard"), self.back, kid="card.discard", role="secondary"),
                               button(a, self.t("card.confirm"), self.confirm, kid="card.confirm")]))
        return col

    def read(self) -> None:
        """Say 'reading' first (a chip read takes seconds), then ask the service."""
        self.result, self.reading = None, True
        self.refresh()
        Clock.schedule_once(self._read, 0.05)

    def _read(self, *_: Any) -> None:
        self.result = self.call(self.app.services.read_id_card, self.s.service_id or "",
                                self.value("card_document"), self.value("card_birth"), self.value("card_expiry"))
        self.reading = False
        self.refresh()

    def confirm(self) -> None:
        r = self.result
        if isinstance(r, IdCardRead):
            self.s.form.update(r.fields)
            for name in r.fields:
                self.s.form_errors.pop(name, None)
        self.back()

    def back(self) -> None:
        self.result = None
        self.app.go("apply")
