"""The citizen's session and the screen base class.

Everything a citizen enters lives in one `CitizenSession`; the idle timeout
replaces it with a fresh one and rebuilds every screen, so nothing typed by one
person is visible to the next. Screens draw themselves from the session in
`build_body()`; a language, text-size or contrast change rebuilds them, which is
also how Arabic and Kurdish layouts get mirrored.

A screen that says what its tree depends on (`view_key`) is built once and reused
on the next entry while the session, the look and that key are unchanged (a switch
then costs a frame, not a rebuild); the idle wipe forgets every built tree.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from typing import Any

from kivy.base import EventLoop
from kivy.clock import Clock
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from contract.errors import UrError, ValidationError
from kiosk.i18n import N_
from kiosk.screens.host import ScreenHost
from kiosk.screens.keyboard import DONE, SHIFT, apply_key, layout_for, shared_keyboard
from kiosk.screens.session import CitizenSession
from kiosk.screens.widgets import Field, label, paint
from kiosk.ui_services import NotAvailable


class KioskScreen(Screen):
    """A screen drawn from the session; subclasses implement `build_body()`."""

    screen_name = ""  # the ScreenManager's name for it; each screen sets its own
    title_key = ""
    prompt_key = ""  # what the citizen is asked to do here: spoken with the title on open
    citizen = True  # False for staff screens (PIN-protected)
    LOOK_ONLY = ("drawn from the look alone",)  # a view_key: the session is not read at all

    def __init__(self, app: ScreenHost, **kw: Any) -> None:
        super().__init__(**kw)
        self.app = app
        self.error_text = ""
        self._built_key: Hashable | None = None  # what the tree on screen was built from

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

    def view_key(self) -> Hashable | None:
        """What `build_body` reads besides the session and the look (e.g. a service's
        answer); None: rebuild on every entry. Only a screen whose tree is drawn from
        these alone may return a key."""
        return None

    def _state_key(self) -> Hashable | None:
        key = self.view_key()
        if key is None:
            return None
        a = self.app
        # repr of the whole session: any change a citizen made shows up here
        session = "" if key == self.LOOK_ONLY else repr(self.s)
        return (a.lang, a.large_text, a.high_contrast, getattr(self, "lower", False), session, key)

    def forget_view(self) -> None:
        """The tree no longer matches what it was built from (changed in place, or wiped)."""
        self._built_key = None

    def refresh(self) -> None:
        """Rebuild the screen from the session (language, size, contrast may have changed)."""
        self._built_key = None
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
        if not self.error_text:
            self._built_key = self._state_key()

    def build_body(self) -> Widget:
        raise NotImplementedError

    def on_pre_enter(self, *args: Any) -> None:
        self.error_text = ""
        self.s.focus = ""  # a screen opens with no field focused: no keyboard over it
        if self._built_key is None or not self.children or self._state_key() != self._built_key:
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
        except UrError as e:  # NotAvailable included
            self.error_text = self.refusal(e)
        return None

    def refusal(self, e: Exception) -> str:
        """A refused request in this page's words. A citizen on an Arabic or Kurdish page
        never reads the service's English sentence (issue 16): a rule's code picks a
        translated sentence, else the page says the request was refused and what to do.
        English pages and staff screens (where a technician needs the cause) keep the
        sentence after the translated lead."""
        if isinstance(e, NotAvailable):
            lead = self.t("err.not_available")
        else:
            codes = [p.code for p in e.problems] if isinstance(e, ValidationError) else \
                [getattr(e, "code", "")]
            lead = next((self.t(_REFUSAL_BY_CODE[c]) for c in codes if c in _REFUSAL_BY_CODE),
                        self.t("err.refused"))
        generic = lead == self.t("err.refused")
        if self.citizen and self.app.lang != "en":
            return self.t("err.refused_check") if generic else lead
        return f"{lead} {e}" if generic else f"{lead} ({e})"

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
            except UrError as e:
                error = self.refusal(e)
            except Exception as e:  # noqa: BLE001 - a device fault is shown, never crashes the kiosk
                error = self.t("err.refused") + f" {e.__class__.__name__}: {e}"
            Clock.schedule_once(lambda *_: done(result, error), 0)

        threading.Thread(target=work, name="kiosk-staff-call", daemon=True).start()


# A refusal's rule code -> the sentence a citizen reads (codes of contract.errors.Problem
# and CodedError; an unknown code gets the general "refused, check and ask" sentence).
_REFUSAL_BY_CODE = {
    "required": N_("err.required"),
    "too_long": N_("err.too_long"),
    "invalid": N_("err.invalid"),
}


class KeyboardSlot(BoxLayout):
    """Where a screen's keyboard goes: empty and of no height while no field has focus,
    so the screen's content gets the room."""

    def __init__(self, store: dict[str, str], specs: Mapping[str, tuple[str, int]],
                 on_change: Any) -> None:
        super().__init__(orientation="vertical", size_hint_y=None, height=0)
        self.store, self.specs, self.on_change = store, specs, on_change
        self.change_pending = False  # an on_change waits for the echo frame (FieldsMixin)
        self.owner: Any = None  # the screen showing the keyboard here


class FieldsMixin:
    """Append/backspace fields plus the on-screen keyboard for whichever has focus.

    `specs` maps field name -> (field type, max length); values live in `store`
    (a dict inside the session) so the idle wipe clears them. The keyboard shows
    only while a field has focus (a tap on the field); its ✓ key, Enter, or a tap
    outside the fields and the keyboard hide it again.
    """

    fields: dict[str, Field]
    lower: bool = False
    kbd_slot: KeyboardSlot | None = None

    def make_field(self: Any, store: dict[str, str], name: str, caption: str, specs: Mapping[str, tuple[str, int]],
                   error: str = "", hint: str = "", masked: bool = False) -> Field:
        if not hasattr(self, "fields") or self.fields is None:
            self.fields = {}
        f = Field(self.app, name, caption, store.get(name, ""), kid=f"field.{name}",
                  on_focus=self.focus_field, focused=(name == self.s.focus), masked=masked, error=error,
                  hint=hint)
        self.fields[name] = f
        return f

    def make_keyboard(self: Any, store: dict[str, str], specs: Mapping[str, tuple[str, int]],
                      on_change: Any = None) -> Widget:
        self.kbd_slot = KeyboardSlot(store, specs, on_change)
        if self.s.focus in specs:
            self.show_keyboard()
        return self.kbd_slot

    # -- focus and the keyboard, changed in place (no rebuild) --------------------
    def _style_field(self: Any, f: Field, focused: bool) -> None:
        pal = self.app.palette
        f.box.background_color = pal.field_focus if focused else pal.field
        f.box.canvas.before.clear()
        paint(f.box, pal.field_focus if focused else pal.field, border=pal.primary if focused else pal.muted)

    def focus_field(self: Any, f: Field) -> None:
        """A tap on a field: it takes the focus and the keyboard opens below it."""
        if self.kbd_slot is None or f.name not in self.kbd_slot.specs:
            return
        for other in self.fields.values():
            if other is not f:
                self._style_field(other, False)
        self.s.focus = f.name
        self._style_field(f, True)
        self.show_keyboard()

    def show_keyboard(self: Any) -> None:
        slot = self.kbd_slot
        if slot is None or self.s.focus not in slot.specs:
            return
        layout = layout_for(slot.specs[self.s.focus][0], self.app.lang)
        kbd = shared_keyboard(self.app, layout, lower=self.lower and layout == "en")
        kbd.on_key = self._on_key
        if kbd.parent is not slot:
            if kbd.parent is not None:  # another screen's (or an older tree's) slot had it
                owner = getattr(kbd.parent, "owner", None)
                kbd.parent.remove_widget(kbd)
                if owner is not None:
                    owner.forget_view()
            slot.clear_widgets()
            slot.add_widget(kbd)
        slot.owner = self
        slot.height = kbd.height
        self.forget_view()
        self.reveal_focus()

    def hide_keyboard(self: Any) -> None:
        """No field has focus any more: the keyboard goes, the screen gets the room back."""
        self.s.focus = ""
        for f in getattr(self, "fields", {}).values():
            self._style_field(f, False)
        if self.kbd_slot is not None:
            self.kbd_slot.clear_widgets()
            self.kbd_slot.height = 0
        self.forget_view()

    def keyboard_shown(self: Any) -> bool:
        return self.kbd_slot is not None and bool(self.kbd_slot.children)

    def reveal_focus(self: Any, tries: int = 6) -> None:
        """Scroll the focused field into view above the keyboard once the layout has
        settled (the scroll view shrank when the keyboard came)."""
        def step(*_: Any) -> None:
            f = self.fields.get(self.s.focus) if getattr(self, "fields", None) else None
            if f is None or f.get_root_window() is None:
                return
            view = f.parent
            while view is not None and not isinstance(view, ScrollView):
                view = view.parent if view.parent is not view else None  # the window is its own parent
            if view is None:
                return
            _, fy = f.to_window(f.x, f.y)
            _, vy = view.to_window(view.x, view.y)
            if not (vy <= fy and fy + f.height <= vy + view.height):
                view.scroll_to(f, padding=10, animate=False)
            if tries > 1:
                self.reveal_focus(tries - 1)

        Clock.schedule_once(step, 0)

    def _on_key(self: Any, key: str) -> None:
        slot = self.kbd_slot
        focus = self.s.focus
        if slot is None or focus not in slot.specs:
            return
        if key == DONE:
            self.hide_keyboard()
            return
        ftype, max_len = slot.specs[focus]
        layout = layout_for(ftype, self.app.lang)
        if key == SHIFT:
            self.lower = not self.lower
            self.show_keyboard()
            return
        store = slot.store
        store[focus] = apply_key(store.get(focus, ""), key, max_len, lower=self.lower and layout == "en")
        self.forget_view()
        field_w = self.fields.get(focus)
        if field_w is not None:
            field_w.set_value(store[focus])
            field_w.error.text = ""  # the last check's complaint no longer applies
        if store is self.s.form:
            self.s.form_errors.pop(focus, None)
        if slot.on_change is not None:
            self._change_after_echo(slot)

    def _change_after_echo(self: Any, slot: KeyboardSlot) -> None:
        """Run the slot's on_change (the catalogue's search) once the frame that shows the
        typed character is on screen, so the search never delays the echo: a callback
        scheduled for "now" from a touch runs in the same frame, before it is drawn
        (measured: bench/bench_ui.py). Keys typed before that frame share one search."""
        if slot.change_pending:
            return
        slot.change_pending = True
        window = EventLoop.window  # not kivy.core.window: importing it here would fix its config early

        def run(*_: Any) -> None:
            slot.change_pending = False
            if slot.on_change is not None:
                slot.on_change()

        def flipped(*_: Any) -> None:
            window.unbind(on_flip=flipped)
            Clock.schedule_once(run, 0)  # in the next frame: after this frame is on screen

        window.bind(on_flip=flipped)

    # -- a tap outside the fields and the keyboard closes it --------------------
    def on_touch_down(self: Any, touch: Any) -> bool:
        if self.keyboard_shown() and self.collide_point(*touch.pos) and not self._on_keyboard_or_field(touch):
            pressed = self._button_at(touch)
            if pressed is None:
                self.hide_keyboard()
            else:  # let the button act first (its row must not move under the finger)
                focus = self.s.focus

                def after(*_: Any) -> None:
                    pressed.unbind(on_release=after)
                    Clock.schedule_once(lambda *_: self.s.focus == focus and self.hide_keyboard(), 0)

                pressed.bind(on_release=after)
        return bool(super().on_touch_down(touch))  # type: ignore[misc]  # the screen after the mixin

    def _on_keyboard_or_field(self: Any, touch: Any) -> bool:
        parts = [self.kbd_slot, *(f.box for f in getattr(self, "fields", {}).values())]
        return any(w is not None and w.collide_point(*w.to_widget(*touch.pos)) for w in parts)

    def _button_at(self: Any, touch: Any) -> Any:
        for w in self.walk(restrict=True):
            if isinstance(w, ButtonBehavior) and w.get_root_window() is not None \
                    and w.collide_point(*w.to_widget(*touch.pos)):
                return w
        return None
