"""`KioskApp`: the status strip, the screen manager, language, idle timeout, kiosk guards.

Run `kiosk_mode.configure()` before importing this module (kiosk.screens.run
does). The app owns no business logic: screens call the `UiServices` object it
was given. Tests and the demo drive it without `App.run()` through `attach()`,
which is the part of `on_start` that binds the window.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import NoTransition, ScreenManager

from contract.long_lived import freeze_startup_objects
from kiosk import i18n, speech
from kiosk.money_format import arabic_indic_setting, format_amount
from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.citizen import CITIZEN_SCREENS
from kiosk.screens.out_of_service import OutOfServiceScreen
from kiosk.screens.session import CitizenSession
from kiosk.screens.staff import STAFF_SCREENS
from kiosk.screens.status_strip import StatusStripBar
from kiosk.speech import Speech
from kiosk.ui_services import UiServices

_frozen = False  # start-up objects are frozen once per process (tests build many apps)

KEY_ENTER = 13
KEY_ESCAPE = 27
KEY_F1 = 282


class KioskApp(App):
    title = "Ur Kiosk"

    def __init__(self, services: UiServices, idle_timeout: float = 90.0,
                 lang: str = i18n.DEFAULT_LANG, status_interval: float = 2.0, speech: Speech | None = None,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.services = services
        self.idle_timeout = idle_timeout
        self.status_interval = status_interval
        self.default_lang = lang
        self.lang = lang
        self.large_text = False
        self.high_contrast = False
        self.session = CitizenSession()
        self.staff_role = ""  # "cashier" / "technician" after a good PIN
        self.out_of_service = False  # central revoked this kiosk (status strip polls it)
        self.pin_role = "cashier"  # which PIN the PIN screen asks for
        self.sm: ScreenManager | None = None
        self.strip: StatusStripBar | None = None
        self.idle_resets = 0
        self._idle_ev: Any = None
        self._wipe_ev: Any = None  # the wipe after an unanswered "still there?"
        self.still_there: Any = None  # the prompt on screen, if any
        self._attached = False
        self._drawn = False  # the window has shown this app's first frame
        self._speak_when_drawn = False  # the screen opened before it is read after it
        self.speech = speech if speech is not None else Speech()  # volume: UR_KIOSK_VOLUME
        self.arabic_indic = arabic_indic_setting()  # UR_KIOSK_ARABIC_INDIC: amounts in ٠-٩
        theme.register_font()

    # -- look ---------------------------------------------------------------
    @property
    def rtl(self) -> bool:
        return i18n.is_rtl(self.lang)

    @property
    def palette(self) -> theme.Palette:
        return theme.HIGH_CONTRAST if self.high_contrast else theme.NORMAL

    def size(self, role: str) -> int:
        return theme.sizes(self.large_text)[role]

    def t(self, key: str, **params: object) -> str:
        return i18n.tr(key, self.lang, **params)

    def tn(self, key: str, n: int, **params: object) -> str:
        return i18n.ntr(key, n, self.lang, **params)

    def money(self, amount: int) -> str:
        return format_amount(amount, self.lang, self.arabic_indic)

    # -- building -----------------------------------------------------------
    def build(self) -> BoxLayout:
        root = BoxLayout(orientation="vertical")
        self.strip = StatusStripBar(self)
        self.sm = ScreenManager(transition=NoTransition())
        screens: tuple[type[KioskScreen], ...] = (*CITIZEN_SCREENS, *STAFF_SCREENS, OutOfServiceScreen)
        for cls in screens:
            self.sm.add_widget(cls(self, name=cls.screen_name))
        root.add_widget(self.strip)
        root.add_widget(self.sm)
        self.strip.refresh()
        self.sm.current = "home"
        self.current_screen().refresh()
        self.sm.bind(current=self._screen_shown)
        self._screen_shown(self.sm, "home")
        return root

    def _screen_shown(self, _sm: Any, name: str) -> None:
        """Log each screen change (an operator reading the journal, and the X window test,
        see it); at debug level also where its buttons are once it is laid out."""
        log = logging.getLogger("kivy")
        log.info("Kiosk: screen %s", name)
        if log.isEnabledFor(logging.DEBUG):
            self._log_targets(name, None, 50)

    def _targets(self) -> dict[str, tuple[int, int]]:
        from kivy.uix.behaviors import ButtonBehavior

        from kiosk.screens.widgets import walk_kids

        found: dict[str, tuple[int, int]] = {}
        if self.root is not None and tuple(self.root.size) == tuple(Window.size):
            for kid, w in walk_kids(self.root).items():
                if isinstance(w, ButtonBehavior):
                    x, y = w.to_window(*w.center)
                    found[kid] = (int(x), int(Window.height - y))
        return found

    def _log_targets(self, name: str, last: dict[str, tuple[int, int]] | None, tries: int) -> None:
        """One line per button: its kiosk id and centre in window pixels from the top left,
        once the layout has settled (the same positions two looks apart)."""
        if self.sm is None or self.sm.current != name or tries <= 0:
            return
        now = self._targets()
        if now and now == last:
            for kid, (x, y) in sorted(now.items()):
                logging.getLogger("kivy").debug("Kiosk: target %s %s %d %d", name, kid, x, y)
            return
        Clock.schedule_once(lambda *_: self._log_targets(name, now, tries - 1), 0.2)

    def on_start(self) -> None:
        self.attach()
        self.settle_payments()
        self.prepare_speech()

    def prepare_speech(self) -> None:
        """Synthesize every fixed prompt and label ahead of time (a worker thread; clips
        already in the cache are kept), so a screen speaks the moment it opens."""
        def work() -> None:
            try:
                speech.build_cache(self.speech.cache_dir, speech.screen_texts())
            except Exception:  # noqa: BLE001 - logged; prompts are then made on first use
                logging.getLogger("kiosk.speech").exception("building the prompt cache failed")

        threading.Thread(target=work, name="speech-cache", daemon=True).start()

    # -- speech -------------------------------------------------------------
    def speak_screen(self, screen: KioskScreen) -> None:
        """A citizen screen reads its title and prompt aloud when it opens. Before the first
        frame (start-up) it is read once that frame is drawn: looking up the voices and
        opening the audio device took part of the 1 s cold start (issue 16)."""
        if screen.citizen and self.sm is not None and self.sm.current == screen.name:
            if not self._drawn:
                self._speak_when_drawn = True
                return
            self.speech.say(screen.spoken_text(), self.lang)

    def speak_label(self, text: str) -> None:
        """Tap-and-hold on a button reads its label (the tap itself is not acted on)."""
        self.speech.say(text, self.lang)

    def repeat_prompt(self) -> None:
        if self.sm is not None:
            self.speech.say(self.current_screen().spoken_text(), self.lang)

    def settle_payments(self) -> None:
        """Start-up: the payment service settles what a crash left open, from the terminal,
        on a worker thread (a busy terminal is waited out); a charge started meanwhile is
        refused by the service itself, never interleaved."""
        settle = getattr(self.services, "settle_payments_at_start", None)
        if settle is None:
            return

        def work() -> None:
            try:
                for line in settle():
                    logging.getLogger("kiosk.payments").info("settled at start-up: %s", line)
            except Exception:  # noqa: BLE001 - logged; the pay screen refuses while unsettled
                logging.getLogger("kiosk.payments").exception("settling payments at start-up failed")

        threading.Thread(target=work, name="settle-payments", daemon=True).start()

    def attach(self) -> None:
        """Bind the window: kiosk key guards, idle timeout, status polling."""
        if self._attached:
            return
        self._attached = True
        Window.bind(on_keyboard=self._on_keyboard, on_touch_down=self._touched,
                    on_key_down=self._touched)
        self._idle_ev = Clock.create_trigger(self._idle, self.idle_timeout)
        self._idle_ev()
        self._status_ev = Clock.schedule_interval(self._poll_status,
                                                  self.status_interval)
        self._scan_ev = Clock.schedule_interval(self._poll_scan, 0.1)
        Window.bind(on_flip=self._first_frame)

    def _first_frame(self, *_: Any) -> None:
        """After the first frame: the start-up objects (modules, screens, keyboards) leave
        the collector's full passes, which otherwise walked them all in the middle of a
        keystroke (a 200+ ms pause on a loaded machine, bench/bench_ui.py)."""
        Window.unbind(on_flip=self._first_frame)

        def freeze(*_: Any) -> None:
            global _frozen
            self._drawn = True
            if self._speak_when_drawn:
                self._speak_when_drawn = False
                if self.sm is not None:
                    self.speak_screen(self.current_screen())
            if not _frozen:
                _frozen = True
                freeze_startup_objects()

        Clock.schedule_once(freeze, 0)  # the next clock tick: after this frame's swap

    def detach(self) -> None:
        if not self._attached:
            return
        Window.unbind(on_keyboard=self._on_keyboard, on_touch_down=self._touched,
                      on_key_down=self._touched)
        Window.unbind(on_flip=self._first_frame)
        for ev in (self._idle_ev, self._status_ev, self._scan_ev):
            ev.cancel()
        self._dismiss_still_there()
        if self.sm is not None:
            for screen in self.sm.screens:
                poll = getattr(screen, "_poll", None)
                if poll is not None:
                    poll.cancel()
        self._attached = False

    def open_settings(self, *largs: Any) -> bool:
        """The F1 settings panel would let anyone reconfigure the kiosk: never open it."""
        return False

    def _on_keyboard(self, window: Any, key: int, *args: Any) -> bool:
        # Returning True stops Kivy's own handling: Escape does not close the app
        # (also exit_on_escape=0) and F1 does not open settings.
        if key == KEY_ENTER and self.sm is not None:
            hide = getattr(self.current_screen(), "hide_keyboard", None)
            if hide is not None:  # Enter on a physical keyboard closes the on-screen one
                hide()
                return True
        return key in (KEY_ESCAPE, KEY_F1)

    # -- navigation ---------------------------------------------------------
    def current_screen(self) -> KioskScreen:
        assert self.sm is not None
        return self.sm.current_screen

    def go(self, name: str) -> None:
        assert self.sm is not None
        screen = self.sm.get_screen(name)
        if not getattr(screen, "citizen", True) and name != "pin" and self.staff_role != name:
            name = "home"  # never show a staff screen without the PIN for it
        if self.out_of_service and getattr(self.sm.get_screen(name), "citizen", True) and name != "pin":
            name = "out_of_service"  # revoked: no citizen screen, staff screens still open
        if self.sm.current == name:
            self.current_screen().refresh()
        else:
            self.sm.current = name  # on_pre_enter refreshes it

    @property
    def card_busy(self) -> bool:
        """The terminal holds the card (a payment is under way): Home and the idle wipe
        wait for its outcome, which must reach the screen; Cancel is the way out."""
        return self.sm is not None and bool(getattr(self.current_screen(), "running", False))

    def home(self) -> None:
        """The strip's Home: does nothing while the terminal holds the card."""
        if not self.card_busy:
            self.go("home")

    def set_out_of_service(self, out: bool) -> None:
        if out != self.out_of_service:
            self.out_of_service = out
            self.go("out_of_service" if out else "home")

    def set_lang(self, lang: str) -> None:
        if lang not in i18n.LANGS:
            return
        self.lang = lang
        self.rebuild()
        if self.sm is not None:
            self.speak_screen(self.current_screen())

    def toggle_large_text(self) -> None:
        self.large_text = not self.large_text
        self.rebuild()

    def toggle_contrast(self) -> None:
        self.high_contrast = not self.high_contrast
        self.rebuild()

    def rebuild(self) -> None:
        if self.strip is not None:
            self.strip.refresh()
        if self.sm is not None:
            self.current_screen().refresh()

    # -- idle timeout -------------------------------------------------------
    def _touched(self, *args: Any) -> None:
        self._dismiss_still_there()
        if self._idle_ev is not None:
            self._idle_ev.cancel()
            self._idle_ev()

    @property
    def still_there_s(self) -> float:
        """How long "still there?" waits for a touch before the wipe."""
        return min(20.0, max(0.5, self.idle_timeout / 3))

    def _ask_still_there(self) -> None:
        """Before wiping a half-done session, ask; any touch keeps the session."""
        from kiosk.screens.widgets import button, column, label, paint

        screen = self.current_screen()
        box = column(spacing=16, padding=40)
        box.size_hint = (0.7, None)
        box.pos_hint = {"center_x": 0.5, "center_y": 0.55}
        paint(box, self.palette.background, border=self.palette.primary)
        box.add_widget(label(self, self.t("idle.still_there"), role="title", bold=True, halign="center",
                             kid="idle.prompt"))
        box.add_widget(button(self, self.t("idle.continue"), self._dismiss_still_there, kid="idle.continue"))
        screen.add_widget(box)
        self.still_there = box
        self.speech.say(self.t("idle.still_there"), self.lang)
        self._wipe_ev = Clock.schedule_once(lambda *_: self.wipe(), self.still_there_s)

    def _dismiss_still_there(self) -> None:
        if self._wipe_ev is not None:
            self._wipe_ev.cancel()
            self._wipe_ev = None
        if self.still_there is not None:
            if self.still_there.parent is not None:
                self.still_there.parent.remove_widget(self.still_there)
            self.still_there = None

    def _idle(self, *args: Any) -> None:
        quiet_home = (self.sm is not None and self.sm.current == "home" and self.session.is_empty()
                      and self.lang == self.default_lang and not self.staff_role)
        if quiet_home or self.card_busy:
            # Never wipe while the terminal is working: the outcome must reach the screen.
            self._idle_ev()
            return
        if self.still_there is None:
            self._ask_still_there()

    def wipe(self) -> None:
        """Forget everything the citizen entered and go home in the default language."""
        self.idle_resets += 1
        self._dismiss_still_there()
        self.speech.stop()
        self.session = CitizenSession()
        self.staff_role = ""
        self.lang = self.default_lang
        self.large_text = False
        self.high_contrast = False
        if self.sm is not None:
            for screen in self.sm.screens:
                screen.error_text = ""
                screen.forget_view()  # no tree built from this citizen's session is reused
                screen.clear_widgets()
            self.go("home")
        self.rebuild()
        if self._idle_ev is not None:
            self._idle_ev()

    def _poll_status(self, *_: Any) -> None:
        if self.strip is not None:
            self.strip.poll()

    # -- scanner ------------------------------------------------------------
    def _poll_scan(self, *args: Any) -> None:
        screen = self.current_screen()
        handler = getattr(screen, "on_scan", None)
        if handler is None:
            return
        try:
            code = self.services.poll_scan()
        except Exception:  # noqa: BLE001 - a scanner fault must never take the screen down
            return
        if code:
            self._touched()
            handler(code)
