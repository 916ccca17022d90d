"""The citizen's session and the screen base class.

Everything a citizen enters lives in one `CitizenSession`; the idle timeout
replaces it with a fresh one and rebuilds every screen, so nothing typed by one
person is visible to the next. Screens draw themselves from the session in
`build_body()`; a language, text-size or contrast change rebuilds them, which is
also how Arabic and Kurdish layouts get mirrored.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from kivy.clock import Clock
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from contract.errors import UrError
from kiosk.screens.host import ScreenHost
from kiosk.screens.keyboard import SHIFT, OnScreenKeyboard, apply_key, layout_for
from kiosk.screens.session import CitizenSession
from kiosk.screens.widgets import Field, label, paint
from kiosk.ui_services import NotAvailable


class KioskScreen(Screen):
    """A screen drawn from the session; subclasses implement `build_body()`."""

    screen_name = ""  # the ScreenManager's name for it; each screen sets its own
    title_key = ""
    prompt_key = ""  # what the citizen is asked to do here: spoken with the title on open
    citizen = True  # False for staff screens (PIN-protected)

    def __init__(self, app: ScreenHost, **kw: Any) -> None:
        super().__init__(**kw)
        self.app = app
        self.error_text = ""

    @property
    def s(self) -> CitizenSession:
        return self.app.session

    def t(self, key: str, **params: object) -> str:
        return self.app.t(key, **params)

    @property
    def result(self) -> Any:
        """The answer this screen shows (each screen its own: a complaint's receipt is
        never read as a tracking result or a cashier's payable)."""
        return self.s.results.get(self.name)

    @result.setter
    def result(self, value: Any) -> None:
        self.s.results[self.name] = value

    def tn(self, key: str, n: int, **params: object) -> str:
        return self.app.tn(key, n, **params)

    def refresh(self) -> None:
        """Rebuild the screen from the session (language, size, contrast may have changed)."""
        self.clear_widgets()
        outer = BoxLayout(orientation="vertical", padding=(24, 12), spacing=10)
        paint(outer, self.app.palette.background)
        if self.title_key:
            outer.add_widget(label(self.app, self.t(self.title_key), role="title", bold=True,
                                   kid=f"{self.name}.title"))
        if self.error_text:
            outer.add_widget(label(self.app, self.error_text, role="body",
                                   color=self.app.palette.danger, kid=f"{self.name}.error"))
        outer.add_widget(self.build_body())
        self.add_widget(outer)

    def build_body(self) -> Widget:
        raise NotImplementedError

    def on_pre_enter(self, *args: Any) -> None:
        self.error_text = ""
        self.refresh()
        self.app.speak_screen(self)

    def spoken_text(self) -> str:
        """Title and prompt, read aloud when a citizen screen opens."""
        return ". ".join(self.t(k) for k in (self.title_key, self.prompt_key) if k)

    def call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        """Call a kiosk service; a refused request becomes a message on this screen."""
        try:
            self.error_text = ""
            return fn(*args, **kw)
        except NotAvailable as e:
            self.error_text = self.t("err.not_available") + f" ({e})"
        except UrError as e:
            self.error_text = self.t("err.refused") + f" {e}"
        return None

    # keyboard plumbing shared by every screen with fields
    def focus_field(self, f: Field) -> None:
        self.s.focus = f.name
        self.refresh()

    def value(self, name: str) -> str:
        return self.s.inputs.get(name, "")

    def in_background(self, fn: Any, *args: Any, done: Any) -> None:
        """Run a slow service call (device tests wait on hardware) on a worker thread;
        `done(result, error_text)` runs on the UI thread when it finishes."""
        def work() -> None:
            result, error = None, ""
            try:
                result = fn(*args)
            except NotAvailable as e:
                error = self.t("err.not_available") + f" ({e})"
            except UrError as e:
                error = self.t("err.refused") + f" {e}"
            except Exception as e:  # noqa: BLE001 - a device fault is shown, never crashes the kiosk
                error = self.t("err.refused") + f" {e.__class__.__name__}: {e}"
            Clock.schedule_once(lambda *_: done(result, error), 0)

        threading.Thread(target=work, name="kiosk-staff-call", daemon=True).start()


class FieldsMixin:
    """Append/backspace fields plus the on-screen keyboard for whichever has focus.

    `specs` maps field name -> (field type, max length); values live in `store`
    (a dict inside the session) so the idle wipe clears them.
    """

    fields: dict[str, Field]
    lower: bool = False

    def make_field(self: Any, store: dict[str, str], name: str, caption: str, specs: Mapping[str, tuple[str, int]],
                   error: str = "", hint: str = "", masked: bool = False) -> Field:
        if not hasattr(self, "fields") or self.fields is None:
            self.fields = {}
        focus = self.s.focus if self.s.focus in specs else next(iter(specs))
        f = Field(self.app, name, caption, store.get(name, ""), kid=f"field.{name}",
                  on_focus=self.focus_field, focused=(name == focus), masked=masked, error=error,
                  hint=hint)
        self.fields[name] = f
        return f

    def make_keyboard(self: Any, store: dict[str, str], specs: Mapping[str, tuple[str, int]],
                      on_change: Any = None) -> Widget:
        focus = self.s.focus if self.s.focus in specs else next(iter(specs))
        ftype, max_len = specs[focus]
        layout = layout_for(ftype, self.app.lang)

        def on_key(key: str) -> None:
            if key == SHIFT:
                self.lower = not self.lower
                self.refresh()
                return
            store[focus] = apply_key(store.get(focus, ""), key, max_len,
                                     lower=self.lower and layout == "en")
            field_w = self.fields.get(focus)
            if field_w is not None:
                field_w.set_value(store[focus])
                field_w.error.text = ""  # the last check's complaint no longer applies
            if store is self.s.form:
                self.s.form_errors.pop(focus, None)
            if on_change is not None:
                on_change()

        return OnScreenKeyboard(self.app, layout, on_key, lower=self.lower and layout == "en")
