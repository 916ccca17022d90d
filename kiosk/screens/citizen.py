"""Citizen screens (no login): home, catalogue, service page, apply, review, submitted,
pay, receipt, track, verify, official letter, vehicle fines, complaint.

Each screen only shows what a kiosk service returned and passes on what the
citizen typed; rules (search, validation, fees, verdicts, payment outcome) live
behind `UiServices`.
"""

from __future__ import annotations

import io
import queue
import threading
from functools import partial
from typing import Any

import segno
from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.effects.scroll import ScrollEffect
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.image import Image
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from contract.errors import UrError
from kiosk.i18n import N_, isolate
from kiosk.screens.base import FieldsMixin, KioskScreen
from kiosk.screens.host import ScreenHost
from kiosk.screens.icons import ICONS, Icon
from kiosk.screens.id_card import IdCardScreen
from kiosk.screens.pictures import CardAnimation, KioskPicture
from kiosk.screens.steps import step_indicator
from kiosk.screens.theme import MIN_TOUCH
from kiosk.screens.widgets import button, column, label, measured_width, paint, row, scroll, spacer
from kiosk.ui_services import (
    COMPLAINT_CATEGORIES,
    FINAL_STAGES,
    AlreadyPaid,
    FormField,
    NotAvailable,
    PayEvent,
    ServiceDetail,
    text_in,
)

KINDS = ("informational", "participatory", "procedural", "interactive")
ICON_ROOM = 44  # what an icon beside a button's words takes of its width (icon and gap)
# How each verdict looks: the palette role of its panel and its drawn mark.
VERDICT_LOOK: dict[str, tuple[str, str]] = {
    "VALID": ("ok", "check"), "REVOKED": ("danger", "cross"), "INVALID": ("danger", "cross"),
    "EXPIRED": ("warning", "alert"), "NOT_YET_VALID": ("warning", "alert"), "STALE": ("warning", "alert"),
    "UNKNOWN_KEY": ("neutral", "question"),
}
VERDICT_H = 140
MAX_RESULTS = 30


def qr_widget(text: str, size: int = 260) -> Image:
    """A QR code image (segno `make_qr`, never Micro QR) as a Kivy widget."""
    buf = io.BytesIO()
    segno.make_qr(text, error="m").save(buf, kind="png", scale=8, border=4)
    buf.seek(0)
    tex = CoreImage(buf, ext="png").texture
    tex.mag_filter = "nearest"
    img = Image(texture=tex, size_hint=(None, None), size=(size, size), fit_mode="contain")
    img.kid = "receipt.qr"
    return img


def tile_height(heading_size: int) -> int:
    """A home tile's height: its 64 px icon above three lines of words at the text size
    (a Kurdish name takes three lines at large text), with a tenth of it as margin at
    top and bottom."""
    return int((64 + 6 + 3 * 1.3 * heading_size) / 0.8)

STAFF_HOLD_S = 3.0  # how long the hidden staff corner must be held


class StaffCorner(Button):
    """An invisible touch target at the end of the home screen: held for STAFF_HOLD_S it
    opens the PIN screen; a tap does nothing, so citizens never stumble into it."""

    def __init__(self, on_hold: Any) -> None:
        super().__init__(text="", background_normal="", background_down="", background_color=(0, 0, 0, 0),
                         size_hint=(None, None), size=(MIN_TOUCH + 26, MIN_TOUCH + 26))
        self.kid = "home.staff_corner"
        self._on_hold = on_hold
        self._ev: Any = None
        self.bind(on_press=self._down, on_release=self._up)

    def _down(self, *_: Any) -> None:
        self._ev = Clock.schedule_once(lambda *_: self._on_hold(), STAFF_HOLD_S)

    def _up(self, *_: Any) -> None:
        if self._ev is not None:
            self._ev.cancel()
            self._ev = None


class HomeScreen(KioskScreen):
    screen_name = "home"
    title_key = N_("home.title")
    prompt_key = N_("home.subtitle")

    def view_key(self) -> Any:
        return self.LOOK_ONLY  # built once, reused on every return home

    def build_body(self) -> Widget:
        a = self.app
        tiles = [
            ("catalogue", N_("home.catalogue"), "application"), ("track", N_("home.track"), "track"),
            ("verify", N_("home.verify"), "verify"), ("letter", N_("home.letter"), "letter"),
            ("fines", N_("home.fines"), "fine"), ("complaint", N_("home.complaint"), "complaint"),
        ]
        body = column(spacing=18)
        body.add_widget(label(a, self.t("home.subtitle"), role="heading", color=a.palette.muted,
                              kid="home.subtitle"))
        tile_h = tile_height(a.size("heading"))
        btns = [button(a, self.t(key), partial(self.open, name), kid=f"home.{name}",
                       font="heading", height=tile_h, icon=icon, icon_above=True)
                for name, key, icon in tiles]
        body.add_widget(row(a, btns[:3], height=tile_h, spacing=18))
        body.add_widget(row(a, btns[3:], height=tile_h, spacing=18))
        body.add_widget(spacer(30))
        body.add_widget(label(a, self.t("home.help"), role="small", color=a.palette.muted,
                              kid="home.help"))
        # Staff come in through a hidden corner (held STAFF_HOLD_S), not buttons a citizen sees.
        body.add_widget(row(a, [spacer(1), StaffCorner(partial(self.staff, "cashier"))]))
        return scroll(body)

    def open(self, name: str) -> None:
        self.s.focus = ""
        self.s.results.clear()
        self.app.go(name)

    def staff(self, role: str) -> None:
        self.app.pin_role = role
        self.s.inputs["pin"] = ""
        self.app.go("pin")


class CatalogueScreen(FieldsMixin, KioskScreen):
    screen_name = "catalogue"
    title_key = N_("catalogue.title")
    prompt_key = N_("catalogue.search_hint")
    SPECS = {"query": ("text", 60)}

    def view_key(self) -> Any:
        s, a = self.s, self.app
        try:  # the catalogue may have changed since the tree was built (a sync)
            return repr((a.services.institutions(),
                         a.services.search_services(s.inputs.get("query", s.query), a.lang,
                                                    institution=s.institution, kind=s.kind)))
        except Exception:  # noqa: BLE001 - not available: rebuild, which shows why
            return None

    def build_body(self) -> Widget:
        a = self.app
        self.fields = {}
        body = BoxLayout(orientation="vertical", spacing=10)
        store = self.s.inputs
        store.setdefault("query", self.s.query)
        body.add_widget(self.make_field(store, "query", self.t("catalogue.search"), self.SPECS,
                                        hint=self.t("catalogue.search_hint")))
        insts = self.call(a.services.institutions) or []
        all_text = self.t("catalogue.all")
        chips = [button(a, all_text, lambda: self.filter(None, self.s.kind),
                        kid="inst.all", role="primary" if self.s.institution is None else "secondary",
                        font="small", width=measured_width(a, all_text, "small"))]
        chips += [button(a, text_in(i.name, a.lang), partial(lambda iid: self.filter(iid, self.s.kind), i.id),
                         kid=f"inst.{i.id}", font="small", width=measured_width(a, text_in(i.name, a.lang), "small"),
                         role="primary" if self.s.institution == i.id else "secondary")
                  for i in insts]
        body.add_widget(self.chip_strip(chips))
        kinds = [button(a, self.t("catalogue.all_kinds"), lambda: self.filter(self.s.institution, None),
                        kid="kind.all", font="small", width=measured_width(a, self.t("catalogue.all_kinds"), "small"),
                        role="primary" if self.s.kind is None else "secondary")]
        kinds += [button(a, self.t(f"kind.{k}"), partial(lambda kind: self.filter(self.s.institution, kind), k),
                         kid=f"kind.{k}", font="small", icon=k,
                         width=measured_width(a, self.t(f"kind.{k}"), "small", pad=48 + 2 * ICON_ROOM),
                         role="primary" if self.s.kind == k else "secondary") for k in KINDS]
        body.add_widget(self.chip_strip(kinds))
        self.results = column(spacing=8)
        body.add_widget(scroll(self.results))
        body.add_widget(self.make_keyboard(store, self.SPECS, on_change=self.search))
        self.fill_results()
        return body

    def chip_strip(self, chips: list[Widget]) -> ScrollView:
        """Filter buttons sized to their text in one row that scrolls sideways, starting
        from the reading side (the right in Arabic and Kurdish, where "All" is)."""
        strip = row(self.app, chips, spacing=8)
        strip.size_hint_x = None
        natural = sum(c.width for c in chips) + 8 * (len(chips) - 1)
        strip.width = natural
        # a plain ScrollEffect: the damped one drifted scroll_x off without end when the
        # chips are narrower than the strip (they flew off screen within a few frames)
        sv = ScrollView(do_scroll_y=False, size_hint_y=None, height=strip.height, bar_width=6,
                        scroll_type=["bars", "content"], effect_cls=ScrollEffect)
        sv.add_widget(strip)
        rtl = self.app.rtl

        def fill(view: ScrollView, width: float) -> None:
            # A ScrollView puts narrower content at its left: in Arabic and Kurdish the
            # strip spans the view and its left padding pushes the chips to the right edge.
            strip.width = max(natural, width)
            if rtl:
                strip.padding = [strip.width - natural, 0, 0, 0]

        sv.bind(width=fill)
        fill(sv, sv.width)
        sv.scroll_x = 1.0 if rtl else 0.0
        return sv

    def filter(self, institution: str | None, kind: str | None) -> None:
        self.s.institution, self.s.kind = institution, kind
        self.refresh()

    def search(self) -> None:
        self.s.query = self.s.inputs.get("query", "")
        self.fill_results()

    def fill_results(self) -> None:
        a = self.app
        self.results.clear_widgets()
        found = self.call(a.services.search_services, self.s.inputs.get("query", ""), a.lang,
                          institution=self.s.institution, kind=self.s.kind)
        if found is None:
            self.results.add_widget(label(a, self.error_text, color=a.palette.danger,
                                          kid="catalogue.error"))
            return
        if not found:
            self.results.add_widget(label(a, self.t("catalogue.none"), kid="catalogue.none"))
        # A national catalogue has ~550 services: draw a screenful, ask to narrow the rest.
        for svc in found[:MAX_RESULTS]:
            text = f"{text_in(svc.name, a.lang)}  —  {text_in(svc.institution, a.lang)}"
            b = button(a, text, partial(self.open, svc.id), kid=f"svc.{svc.id}",
                       role="secondary", height=76)
            b.halign = "right" if a.rtl else "left"
            self.results.add_widget(b)
        if len(found) > MAX_RESULTS:
            self.results.add_widget(label(a, self.tn("catalogue.more", len(found) - MAX_RESULTS),
                                          color=a.palette.muted, kid="catalogue.more"))

    def open(self, service_id: str) -> None:
        self.s.service_id = service_id
        self.app.go("service")


class ServiceScreen(KioskScreen):
    screen_name = "service"

    def spoken_text(self) -> str:
        name = next((w for w in self.walk(restrict=True) if getattr(w, "kid", "") == "service.name"), None)
        return str(name.text) if name is not None else ""

    def view_key(self) -> Any:
        try:
            return repr(self.app.services.service_detail(self.s.service_id)) if self.s.service_id else None
        except Exception:  # noqa: BLE001 - not available: rebuild, which shows why
            return None

    def build_body(self) -> Widget:
        a = self.app
        detail: ServiceDetail | None = None
        if self.s.service_id:
            detail = self.call(a.services.service_detail, self.s.service_id)
        body = column(spacing=10)
        if detail is None:
            body.add_widget(label(a, self.error_text or self.t("service.none"), kid="service.error"))
            body.add_widget(button(a, self.t("nav.back"), lambda: a.go("catalogue"), kid="nav.back", icon="back"))
            return scroll(body)
        lg, pal = a.lang, a.palette
        sm = detail.summary
        if detail.accepts_applications:
            body.add_widget(step_indicator(a, "service"))
        body.add_widget(label(a, text_in(sm.name, lg), role="title", bold=True, kid="service.name"))
        kind_line = label(a, f"{text_in(sm.institution, lg)} · {self.t('kind.' + sm.kind)}",
                          color=pal.muted, kid="service.institution", wrap=False)
        if sm.kind in ICONS:
            kind_icon = Icon(sm.kind, pal.muted, size=36, pos_hint={"center_y": 0.5})
            kind_icon.kid = "service.kind_icon"
            body.add_widget(row(a, [kind_icon, kind_line], height=max(44, kind_line.height), spacing=4))
        else:
            body.add_widget(kind_line)
        if detail.description:
            body.add_widget(label(a, text_in(detail.description, lg), kid="service.description"))
        if detail.steps:
            body.add_widget(label(a, self.t("service.steps"), role="heading", bold=True))
            for n, step in enumerate(detail.steps, 1):
                body.add_widget(label(a, f"{n}. {text_in(step, lg)}", kid=f"service.step.{n}"))
        if detail.documents:
            body.add_widget(label(a, self.t("service.documents"), role="heading", bold=True))
            for n, doc in enumerate(detail.documents, 1):
                if doc.held_by_state:
                    how = self.t("service.doc_held")
                else:
                    parts = [self.t("service.doc_original")] if doc.original else []
                    if doc.copies:
                        parts.append(self.tn("service.doc_copies", doc.copies))
                    how = self.t("service.doc_sep").join(parts)
                body.add_widget(label(a, f"• {text_in(doc.name, lg)} — {how}", kid=f"service.doc.{n}"))
        body.add_widget(label(a, self.t("service.fees"), role="heading", bold=True))
        body.add_widget(label(a, self.t("service.fee_statutory", amount=a.money(detail.fee_statutory)),
                              kid="service.fee_statutory"))
        body.add_widget(label(a, self.t("service.fee_service", amount=a.money(detail.fee_service)),
                              kid="service.fee_service"))
        body.add_widget(label(a, self.t("service.fee_total", amount=a.money(detail.fee_total)),
                              bold=True, kid="service.fee_total"))
        body.add_widget(label(a, self.tn("service.duration", detail.duration_days), kid="service.duration"))
        body.add_widget(label(a, self.tn("service.visits", detail.visits) if detail.visits
                              else self.t("service.no_visit"), kid="service.visits"))
        actions = [button(a, self.t("nav.back"), lambda: a.go("catalogue"), kid="nav.back", icon="back",
                          role="secondary")]
        if detail.accepts_applications:
            actions.append(button(a, self.t("service.apply"), self.apply, kid="service.apply", icon="application"))
        else:
            body.add_widget(label(a, self.t("service.info_only"), color=pal.muted, kid="service.info_only"))
        body.add_widget(row(a, actions))
        return scroll(body)

    def apply(self) -> None:
        self.s.form, self.s.form_errors, self.s.focus = {}, {}, ""
        self.app.go("apply")


class ApplyScreen(FieldsMixin, KioskScreen):
    screen_name = "apply"
    title_key = N_("apply.title")
    prompt_key = N_("apply.prompt")

    def build_body(self) -> Widget:
        a = self.app
        self.fields = {}
        schema: list[FormField] = self.call(a.services.form_schema, self.s.service_id or "") or []
        self.schema = schema
        body = BoxLayout(orientation="vertical", spacing=8)
        body.add_widget(step_indicator(a, "form"))
        form = column(spacing=6)
        if schema:  # the card prefills what it can; the citizen confirms on the card screen
            form.add_widget(row(a, [button(a, self.t("apply.read_card"), lambda: a.go("card"),
                                           kid="apply.read_card", role="secondary")]))
        specs = {f.name: (f.type, f.max_length) for f in schema if f.type != "choice"}
        for f in schema:
            caption = text_in(f.label, a.lang) + ("" if f.required else " " + self.t("apply.optional"))
            err = self.s.form_errors.get(f.name, "")
            err_text = self.t(err) if err else ""
            if f.type == "choice":
                form.add_widget(label(a, caption, role="small", color=a.palette.muted))
                opts = [button(a, text_in(c.label, a.lang), partial(self.choose, f.name, c.value),
                               kid=f"choice.{f.name}.{c.value}", font="small",
                               role="primary" if self.s.form.get(f.name) == c.value else "secondary")
                        for c in f.choices]
                form.add_widget(row(a, opts, spacing=8))
                if err_text:
                    form.add_widget(label(a, err_text, role="small", color=a.palette.danger,
                                          kid=f"field.{f.name}.error"))
            else:
                form.add_widget(self.make_field(self.s.form, f.name, caption, specs, error=err_text,
                                                hint=self.t(f"hint.{f.type}")))
        body.add_widget(scroll(form))
        body.add_widget(row(a, [button(a, self.t("nav.back"), lambda: a.go("service"), kid="nav.back", icon="back",
                                       role="secondary"),
                                button(a, self.t("apply.next"), self.next, kid="apply.next")]))
        if specs:
            body.add_widget(self.make_keyboard(self.s.form, specs))
        return body

    def choose(self, name: str, value: str) -> None:
        self.s.form[name] = value
        self.s.form_errors.pop(name, None)
        self.refresh()

    def next(self) -> None:
        errors = self.call(self.app.services.validate_form, self.s.service_id or "", dict(self.s.form))
        if errors is None:
            self.refresh()
            return
        self.s.form_errors = dict(errors)
        if errors:
            self.s.focus = next(iter(errors))
            self.refresh()
        else:
            self.app.go("review")


class ReviewScreen(KioskScreen):
    screen_name = "review"
    title_key = N_("review.title")
    prompt_key = N_("review.offline_ok")

    def build_body(self) -> Widget:
        a = self.app
        schema: list[FormField] = self.call(a.services.form_schema, self.s.service_id or "") or []
        body = column(spacing=8)
        body.add_widget(step_indicator(a, "review"))
        for f in schema:
            value = self.s.form.get(f.name, "")
            if f.type == "choice":
                value = next((text_in(c.label, a.lang) for c in f.choices if c.value == value), value)
            body.add_widget(label(a, text_in(f.label, a.lang), role="small", color=a.palette.muted))
            body.add_widget(label(a, value or "—", role="heading", kid=f"review.{f.name}"))
        body.add_widget(label(a, self.t("review.offline_ok"), role="small", color=a.palette.muted))
        body.add_widget(row(a, [button(a, self.t("review.edit"), lambda: a.go("apply"), kid="review.edit",
                                       role="secondary"),
                                button(a, self.t("review.submit"), self.submit, kid="review.submit")]))
        return scroll(body)

    def submit(self) -> None:
        # a second tap (or Back then Submit) on the same form files nothing again:
        # the application already filed is shown (documents are exactly-once)
        form = (self.s.service_id or "", tuple(sorted(self.s.form.items())))
        if self.s.submitted is not None and self.s.sent.get(self.name) == form:
            self.app.go("submitted")
            return
        done = self.call(self.app.services.submit_application, form[0], dict(self.s.form))
        if done is None:
            self.refresh()
            return
        self.s.submitted, self.s.sent[self.name] = done, form
        self.app.go("submitted")


class SubmittedScreen(KioskScreen):
    screen_name = "submitted"
    title_key = N_("submitted.title")
    prompt_key = N_("submitted.number")

    def build_body(self) -> Widget:
        a = self.app
        done = self.s.submitted
        body = column(spacing=12)
        if done is None:
            return body
        body.add_widget(step_indicator(a, "pay" if done.fee_total > 0 else "review"))
        body.add_widget(label(a, self.t("submitted.number"), color=a.palette.muted))
        body.add_widget(label(a, done.tracking, role="huge", bold=True, halign="center",
                              kid="submitted.tracking"))
        body.add_widget(label(a, self.t("submitted.queued") if done.queued else self.t("submitted.sent"),
                              kid="submitted.state"))
        if done.ticket is not None:  # a service that needs a visit: its queue ticket
            tk = done.ticket
            wait = (self.tn("submitted.wait", tk.wait_min) if tk.wait_min is not None
                    else self.t("submitted.no_wait"))
            facts = {"number": tk.number, "group": text_in(tk.counter_group, a.lang), "wait": wait}
            body.add_widget(label(a, self.t("submitted.ticket", **facts) if tk.printed
                                  else self.t("submitted.ticket_unprinted", **facts), kid="submitted.ticket"))
        actions = [button(a, self.t("nav.home"), a.wipe, kid="submitted.done", role="secondary", icon="home")]
        if done.fee_total > 0:
            body.add_widget(label(a, self.t("submitted.fee", amount=a.money(done.fee_total)),
                                  role="heading", kid="submitted.fee"))
            actions.append(button(a, self.t("submitted.pay"), self.pay, kid="submitted.pay", icon="payment"))
        body.add_widget(row(a, actions))
        return scroll(body)

    def pay(self) -> None:
        done = self.s.submitted
        start_payment(self.app, done.tracking, done.fee_total, back="home")


def in_application_journey(s: Any) -> bool:
    """Is the payment on screen the fee of the application just submitted (so the
    journey's step indicator belongs on the pay and receipt screens)?"""
    return s.submitted is not None and s.pay_reference == s.submitted.tracking


def start_payment(app: ScreenHost, reference: str, amount: int, back: str) -> None:
    app.session.pay_reference, app.session.pay_amount, app.session.pay_return = reference, amount, back
    app.session.receipt = None
    app.go("pay")


class PayScreen(KioskScreen):
    """Card payment: shows each terminal stage; the terminal runs on a worker thread
    so the screen keeps drawing while the citizen inserts the card and types the PIN."""

    screen_name = "pay"
    title_key = N_("pay.title")

    def __init__(self, app: ScreenHost, **kw: Any) -> None:
        super().__init__(app, **kw)
        self.stage = ""
        self.stages_shown: list[str] = []
        self.events: queue.Queue[PayEvent] = queue.Queue()
        self._poll: Any = None
        self.running = False
        self.card_anim: CardAnimation | None = None

    def on_pre_enter(self, *args: Any) -> None:
        self.stage, self.stages_shown, self.error_text = "", [], ""
        self.start()
        self.refresh()
        self.app.speak_screen(self)

    def spoken_text(self) -> str:
        return ". ".join((self.t("pay.title"), self.t(f"pay.stage.{self.stage or 'starting'}")))

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        self.events = queue.Queue()
        ref, amount, services = self.s.pay_reference, self.s.pay_amount, self.app.services
        lang = self.app.lang  # the printed receipt is in the session's language

        def work(q: queue.Queue[PayEvent]) -> None:
            try:
                for ev in services.pay(ref, amount, lang=lang):
                    q.put(ev)
                    if ev.stage in FINAL_STAGES:
                        return
                q.put(PayEvent("unknown", detail="terminal stopped without an outcome"))
            except AlreadyPaid as e:
                q.put(PayEvent("error", detail=f"already_paid:{e}"))
            except NotAvailable as e:
                q.put(PayEvent("error", detail=f"not_available:{e}"))
            except UrError as e:
                q.put(PayEvent("error", detail=str(e)))
            except Exception as e:  # noqa: BLE001 - the outcome is unknown: never ask to pay again
                q.put(PayEvent("unknown", detail=f"{e.__class__.__name__}: {e}"))

        threading.Thread(target=work, args=(self.events,), name="kiosk-pay", daemon=True).start()
        self._poll = Clock.schedule_interval(self.pump, 0.05)

    def pump(self, *args: Any) -> None:
        changed = False
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                break
            self.stage = ev.stage
            self.stages_shown.append(ev.stage)
            self.detail = ev.detail
            changed = True
            if ev.stage in FINAL_STAGES:
                self.running = False
                if self._poll is not None:
                    self._poll.cancel()
                if ev.stage == "approved" and ev.receipt is not None:
                    self.s.receipt = ev.receipt
        if changed:
            self.app._touched()  # a payment in progress is not idleness
            self.refresh()

    def stop_animation(self) -> None:
        """The card animation runs on the clock until stopped: each rebuild drops it."""
        if self.card_anim is not None:
            self.card_anim.stop()
            self.card_anim = None

    def on_leave(self, *args: Any) -> None:
        self.stop_animation()

    def build_body(self) -> Widget:
        a = self.app
        pal = a.palette
        self.stop_animation()
        body = column(spacing=16)
        if in_application_journey(self.s):
            body.add_widget(step_indicator(a, "pay"))
        body.add_widget(label(a, self.t("pay.amount", amount=a.money(self.s.pay_amount)),
                              role="heading", kid="pay.amount"))
        body.add_widget(label(a, self.t("pay.reference", ref=isolate(self.s.pay_reference, a.lang)),
                              color=pal.muted))
        stage = self.stage or "starting"
        color = {"approved": pal.ok, "declined": pal.danger, "unknown": pal.warning,
                 "error": pal.danger}.get(stage, pal.text)
        body.add_widget(label(a, self.t(f"pay.stage.{stage}"), role="huge", bold=True, color=color,
                              halign="center", kid="pay.stage"))
        if stage in ("starting", "insert_card"):  # the terminal waits for the card: show how
            anim = self.card_anim = CardAnimation(pal, pos_hint={"center_x": 0.5})
            body.add_widget(row(a, [Widget(), anim, Widget()], height=int(anim.height)))
        detail = getattr(self, "detail", "")
        if stage == "insert_card" and detail.startswith("countdown:"):
            # The card wait (terminal profile card_wait_s) counts down; Cancel aborts at the terminal.
            body.add_widget(label(a, self.t("pay.countdown", seconds=detail.partition(":")[2]),
                                  role="heading", halign="center", kid="pay.countdown"))
            body.add_widget(row(a, [button(a, self.t("pay.cancel"), self.cancel, kid="pay.cancel",
                                           role="danger")]))
        if stage == "error" and getattr(self, "detail", "").startswith("not_available"):
            body.add_widget(label(a, self.t("err.not_available"), kid="pay.detail"))
        paid = stage == "error" and detail.startswith("already_paid")
        if paid:
            body.add_widget(label(a, self.t("pay.already_paid"), role="heading", kid="pay.detail"))
        actions: list[Widget] = []
        if paid:  # nothing to retry
            actions.append(button(a, self.t("nav.back"), lambda: a.go(self.s.pay_return),
                                  kid="pay.back", role="secondary", icon="back"))
        elif stage == "approved":
            actions.append(button(a, self.t("pay.show_receipt"), lambda: a.go("receipt"),
                                  kid="pay.receipt", icon="receipt"))
        elif stage in ("declined", "error"):
            actions += [button(a, self.t("nav.back"), lambda: a.go(self.s.pay_return),
                               kid="pay.back", role="secondary", icon="back"),
                        button(a, self.t("pay.retry"), self.retry, kid="pay.retry")]
        elif stage == "unknown":
            if detail.startswith("tracking:"):  # the collection id staff settle it by
                number = detail.partition(":")[2].split(" ", 1)[0]
                body.add_widget(label(a, self.t("pay.tracking", number=isolate(number, a.lang)), role="heading",
                                      bold=True, kid="pay.tracking"))
            body.add_widget(label(a, self.t("pay.unknown_help"), kid="pay.unknown_help"))
            actions.append(button(a, self.t("nav.home"), a.wipe, kid="pay.home", role="secondary", icon="home"))
        if actions:
            body.add_widget(row(a, actions))
        return scroll(body)

    def cancel(self) -> None:
        """Cancel during the card wait: the terminal is asked to abort; the final event
        still comes from the payment (cancelled, or charged if the card was already read)."""
        cancel = getattr(self.app.services, "cancel_payment", None)
        if cancel is not None:
            self.call(cancel)

    def retry(self) -> None:
        self.stage, self.stages_shown = "", []
        self.start()
        self.refresh()


class ReceiptScreen(KioskScreen):
    screen_name = "receipt"
    title_key = N_("receipt.title")
    prompt_key = N_("receipt.qr_hint")

    def build_body(self) -> Widget:
        a = self.app
        r = self.s.receipt
        body = BoxLayout(orientation="horizontal", spacing=24)
        if r is None:
            return body
        info = column(spacing=8)
        if in_application_journey(self.s):
            info.add_widget(step_indicator(a, "receipt"))
        info.add_widget(label(a, self.t("receipt.number", number=r.shown_number or r.number), role="heading",
                              bold=True, kid="receipt.number"))
        info.add_widget(label(a, self.t("pay.reference", ref=r.shown_reference or r.reference),
                              kid="receipt.reference"))
        if r.paid_for:
            info.add_widget(label(a, text_in(r.paid_for, a.lang), kid="receipt.paid_for"))
        info.add_widget(label(a, a.money(r.amount), role="title", bold=True, kid="receipt.amount"))
        for n, (lab, fee) in enumerate(r.fees):
            info.add_widget(label(a, f"{text_in(lab, a.lang)}: {a.money(fee)}", kid=f"receipt.fee.{n}"))
        for n, (lab, value) in enumerate(r.lines):
            info.add_widget(label(a, f"{text_in(lab, a.lang)}: {isolate(value, a.lang)}",
                                  kid=f"receipt.line.{n}"))
        note = self.t("receipt.printed") if r.printed else self.t(r.print_problem or "receipt.not_printed")
        info.add_widget(label(a, note, color=a.palette.ok if r.printed else a.palette.warning,
                              kid="receipt.print_state"))
        info.add_widget(button(a, self.t("receipt.done"), self.done, kid="receipt.done", icon="home"))
        qr_box = BoxLayout(orientation="vertical", size_hint_x=None, width=300, spacing=8)
        qr_box.add_widget(qr_widget(r.qr_text, 290))
        qr_box.add_widget(label(a, self.t("receipt.qr_hint"), role="small", halign="center",
                                color=a.palette.qr_text, kid="receipt.qr_hint"))
        qr_box.add_widget(Widget())
        parts = [scroll(info), qr_box]
        for p in reversed(parts) if a.rtl else parts:
            body.add_widget(p)
        paint(qr_box, a.palette.qr_panel)
        return body

    def done(self) -> None:
        back = self.s.pay_return
        if back == "home":
            self.app.wipe()
        else:
            self.app.go(back)


class LookupScreen(FieldsMixin, KioskScreen):
    """A screen with a few fields, one action and a result (track, letter, fines...)."""

    SPECS: dict[str, tuple[str, int]] = {}
    CAPTIONS: dict[str, str] = {}
    action_key = ""
    action_icon = ""

    def view_key(self) -> Any:
        return ()  # fields and result come from the session

    def build_body(self) -> Widget:
        a = self.app
        self.fields = {}
        body = BoxLayout(orientation="vertical", spacing=8)
        top = column(spacing=6)
        for name, key in self.CAPTIONS.items():
            top.add_widget(self.make_field(self.s.inputs, name, self.t(key), self.SPECS,
                                           hint=self.t(f"hint.{self.SPECS[name][0]}")))
        self.extra_inputs(top)
        top.add_widget(row(a, [button(a, self.t(self.action_key), self.act, kid=f"{self.name}.go",
                                      icon=self.action_icon)]))
        top.add_widget(self.result_widget())
        body.add_widget(scroll(top))
        body.add_widget(self.make_keyboard(self.s.inputs, self.SPECS))
        return body

    def extra_inputs(self, col: Widget) -> None:
        pass

    def act(self) -> None:
        raise NotImplementedError

    def result_widget(self) -> Widget:
        return spacer(1)


class TrackScreen(LookupScreen):
    screen_name = "track"
    title_key = N_("track.title")
    prompt_key = N_("track.scan_hint")
    SPECS = {"tracking": ("tracking", 40)}
    CAPTIONS = {"tracking": N_("track.number")}
    action_key = N_("track.go")
    action_icon = "track"

    def extra_inputs(self, col: Widget) -> None:
        col.add_widget(label(self.app, self.t("track.scan_hint"), role="small",
                             color=self.app.palette.muted, kid="track.scan_hint"))

    def act(self) -> None:
        self.result = self.call(self.app.services.track, self.value("tracking").strip())
        self.refresh()

    def on_scan(self, code: str) -> None:
        self.s.inputs["tracking"] = code.strip()
        self.act()

    def result_widget(self) -> Widget:
        a, r = self.app, self.result
        col = column(spacing=6)
        if r is None:
            return col
        col.add_widget(label(a, f"{isolate(r.tracking, a.lang)} — {text_in(r.service, a.lang)}", role="heading",
                             kid="track.service"))
        col.add_widget(label(a, self.t(f"status.{r.status}"), role="title", bold=True,
                             color=a.palette.primary, kid="track.status"))
        for n, step in enumerate(r.history):
            agency = text_in(step.agency, a.lang) if step.agency else ""
            col.add_widget(label(a, f"{isolate(step.at, a.lang)}  {self.t('status.' + step.status)}  {agency}",
                                 role="small", kid=f"track.history.{n}"))
        col.add_widget(label(a, self.t("track.as_of", at=r.as_of), role="small", color=a.palette.muted))
        return col


class VerifyScreen(KioskScreen):
    screen_name = "verify"
    title_key = N_("verify.title")
    prompt_key = N_("verify.prompt")

    def view_key(self) -> Any:
        return ()  # the verdict comes from the session

    def build_body(self) -> Widget:
        a, r, pal = self.app, self.result, self.app.palette
        body = column(spacing=10)
        if r is None:  # where to hold the code: the kiosk pictured, its scanner window lit
            picture = KioskPicture(pal)
            prompt = column([label(a, self.t("verify.prompt"), role="title", kid="verify.prompt"),
                             label(a, self.t("verify.scanner_here"), role="heading", color=pal.muted,
                                   kid="verify.scanner_here")], spacing=16)
            body.add_widget(row(a, [picture, prompt], height=int(picture.height), spacing=32))
            return scroll(body)
        role, icon = VERDICT_LOOK.get(r.verdict, ("neutral", "question"))
        ink = pal.primary_text
        word = label(a, self.t(f"verdict.{r.verdict}"), role="huge", bold=True, color=ink,
                     kid="verify.verdict", height=VERDICT_H)
        mark = Icon(icon, ink, size=VERDICT_H - 30, pos_hint={"center_y": 0.5})
        mark.kid = "verify.verdict_icon"
        verdict = row(a, [mark, word], height=VERDICT_H, spacing=24)
        verdict.padding = (24, 0)
        verdict.kid, verdict.role = "verify.verdict_panel", role
        paint(verdict, getattr(pal, role))
        body.add_widget(verdict)
        body.add_widget(label(a, self.t(f"verdict.{r.verdict}.help"), kid="verify.help"))
        body.add_widget(label(a, f"{text_in(r.document_type, a.lang)} — {text_in(r.issuer, a.lang)}",
                              role="heading", kid="verify.type"))
        body.add_widget(label(a, self.t("verify.compare"), color=pal.muted))
        for n, f in enumerate(r.fields):
            body.add_widget(row(a, [label(a, text_in(f.label, a.lang), color=pal.muted),
                                    label(a, f.value, role="heading", bold=True,
                                          kid=f"verify.field.{n}")]))
        body.add_widget(button(a, self.t("verify.again"), self.again, kid="verify.again", icon="verify"))
        return scroll(body)

    def on_scan(self, code: str) -> None:
        self.result = self.call(self.app.services.verify_document, code)
        self.refresh()

    def again(self) -> None:
        self.result = None
        self.refresh()


class LetterScreen(LookupScreen):
    screen_name = "letter"
    title_key = N_("letter.title")
    prompt_key = N_("letter.number")
    SPECS = {"letter_no": ("latin", 30), "letter_date": ("date", 10)}
    CAPTIONS = {"letter_no": N_("letter.number"), "letter_date": N_("letter.date")}
    action_key = N_("letter.go")
    action_icon = "letter"

    def act(self) -> None:
        self.result = self.call(self.app.services.letter_status, self.value("letter_no").strip(),
                                  self.value("letter_date").strip())
        self.refresh()

    def result_widget(self) -> Widget:
        a, r = self.app, self.result
        col = column(spacing=6)
        if r is None:
            return col
        col.add_widget(label(a, text_in(r.subject, a.lang), role="heading", kid="letter.subject"))
        col.add_widget(label(a, self.t(f"letter.status.{r.status}"), role="title", bold=True,
                             color=a.palette.primary, kid="letter.status"))
        col.add_widget(label(a, self.t("letter.at", agency=text_in(r.current_agency, a.lang)),
                             kid="letter.agency"))
        return col


class FinesScreen(LookupScreen):
    screen_name = "fines"
    title_key = N_("fines.title")
    prompt_key = N_("fines.plate")
    SPECS = {"plate": ("plate", 16)}
    CAPTIONS = {"plate": N_("fines.plate")}
    action_key = N_("fines.go")
    action_icon = "fine"

    def act(self) -> None:
        self.result = self.call(self.app.services.fines_by_plate, self.value("plate").strip())
        self.refresh()

    def result_widget(self) -> Widget:
        a, r = self.app, self.result
        col = column(spacing=6)
        if r is None:
            return col
        if not r:
            col.add_widget(label(a, self.t("fines.none"), role="heading", kid="fines.none"))
        for fine in r:
            if fine.paid:  # the services say so; paid is shown, never offered again
                act: Widget = label(a, self.t("fines.paid"), role="heading", bold=True, color=a.palette.ok,
                                    kid=f"fine.{fine.id}.paid")
                act.size_hint_x, act.width = None, 200
            else:
                act = button(a, self.t("fines.pay"), partial(start_payment, a, fine.id, fine.amount, "fines"),
                             kid=f"fine.{fine.id}.pay", width=220, icon="payment")
            col.add_widget(row(a, [
                label(a, f"{isolate(fine.date, a.lang)} — {text_in(fine.offence, a.lang)} — {a.money(fine.amount)}",
                      kid=f"fine.{fine.id}.text"), act]))
        return col


class ComplaintScreen(LookupScreen):
    screen_name = "complaint"
    title_key = N_("complaint.title")
    prompt_key = N_("complaint.category")
    SPECS = {"complaint_text": ("text", 500), "complaint_mobile": ("mobile", 11)}
    CAPTIONS = {"complaint_text": N_("complaint.text"), "complaint_mobile": N_("complaint.mobile")}
    action_key = N_("complaint.go")
    action_icon = "complaint"

    def extra_inputs(self, col: Widget) -> None:
        a = self.app
        chosen = self.s.inputs.get("complaint_category", "")
        col.add_widget(label(a, self.t("complaint.category"), role="small", color=a.palette.muted))
        col.add_widget(row(a, [button(a, self.t(f"complaint.cat.{c}"), partial(self.choose, c),
                                      kid=f"complaint.cat.{c}", font="small",
                                      role="primary" if chosen == c else "secondary")
                               for c in COMPLAINT_CATEGORIES], spacing=8))

    def choose(self, category: str) -> None:
        self.s.inputs["complaint_category"] = category
        self.refresh()

    def act(self) -> None:
        # the same complaint tapped twice is filed once: its reference stays on screen
        form = tuple(self.value(k) for k in ("complaint_category", "complaint_text", "complaint_mobile"))
        if self.result is not None and self.s.sent.get(self.name) == form:
            return
        self.result = self.call(self.app.services.file_complaint, *form)
        if self.result is not None:
            self.s.sent[self.name] = form
        self.refresh()

    def result_widget(self) -> Widget:
        a, r = self.app, self.result
        if r is None:
            return spacer(1)
        return label(a, self.t("complaint.filed", ref=r.reference), role="heading", bold=True,
                     color=a.palette.ok, kid="complaint.reference")


CITIZEN_SCREENS: tuple[type[KioskScreen], ...] = (
    HomeScreen, CatalogueScreen, ServiceScreen, ApplyScreen, ReviewScreen, SubmittedScreen,
    PayScreen, ReceiptScreen, TrackScreen, VerifyScreen, LetterScreen, FinesScreen,
    ComplaintScreen, IdCardScreen,
)
