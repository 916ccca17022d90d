"""The always-visible strip: language, online/offline, queued items, paper, text size,
contrast and Home. It polls `status_strip()` every few seconds and never raises."""

from __future__ import annotations

from functools import partial
from typing import Any

from kivy.uix.boxlayout import BoxLayout

from contract.errors import UrError
from kiosk import i18n
from kiosk.i18n import N_
from kiosk.screens import theme
from kiosk.screens.host import ScreenHost
from kiosk.screens.icons import Icon
from kiosk.screens.widgets import button, label, paint
from kiosk.ui_services import StatusStrip


class StripLook:
    """The app's look at normal text size: the strip is one fixed row of ten items, and
    at large text its words were cut or broken between letters (tests/test_ui_goldens_all.py);
    larger text enlarges the screen below it."""

    def __init__(self, app: ScreenHost) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def size(self, role: str) -> int:
        return theme.sizes(False)[role]


class StatusStripBar(BoxLayout):
    def __init__(self, app: ScreenHost) -> None:
        super().__init__(orientation="horizontal", size_hint_y=None, height=84, padding=(8, 6))
        self.app = app
        self.state: StatusStrip | None = None

    def poll(self) -> None:
        try:
            state = self.app.services.status_strip()
        except (UrError, OSError):
            state = None
        if state != self.state:
            self.state = state
            self.refresh()
            if state is not None:
                self.app.set_out_of_service(not state.in_service)

    def refresh(self) -> None:
        app: Any = StripLook(self.app)
        if self.state is None:
            try:
                self.state = app.services.status_strip()
            except (UrError, OSError):
                self.state = None
        self.clear_widgets()
        self.canvas.before.clear()
        paint(self, app.palette.strip)
        pal = app.palette
        langs = [button(app, i18n.LANG_NAMES[code], partial(app.set_lang, code),
                        kid=f"lang.{code}", role="primary" if code == app.lang else "secondary",
                        font="small", width=104, height=72)
                 for code in i18n.LANGS]
        st = self.state
        light = pal.strip_text
        if st is None:
            info = [label(app, app.t("strip.status_unknown"), role="small", color=pal.strip_warning,
                          kid="strip.online", wrap=False)]
        else:
            online = (N_("strip.out_of_service") if not st.in_service
                      else N_("strip.online") if st.online else N_("strip.offline"))
            info = [
                label(app, app.t(online), role="small",
                      color=pal.strip_ok if st.online and st.in_service else pal.strip_warning, kid="strip.online",
                      wrap=False, bold=True),
                label(app, app.t("strip.queued", n=st.queued), role="small", color=light,
                      kid="strip.queued", wrap=False),
                label(app, app.t(f"strip.paper.{st.paper}"), role="small",
                      color=light if st.paper == "ok" else pal.strip_warning, kid="strip.paper",
                      wrap=False),
            ]
        for w in info:  # the row's full height: a narrow status may take two lines
            w.halign, w.height = "center", 72
        tools = [
            button(app, app.t("strip.larger_text"), app.toggle_large_text, kid="strip.large",
                   role="primary" if app.large_text else "secondary", font="small", width=132,
                   height=72),
            button(app, app.t("strip.contrast"), app.toggle_contrast, kid="strip.contrast",
                   role="primary" if app.high_contrast else "secondary", font="small", width=132,
                   height=72),
            button(app, app.t("nav.home"), app.home, kid="strip.home",
                   font="small", width=120, height=72, icon="home"),
        ]
        if app.speech.available(app.lang):  # the speaker: read this screen's prompt again
            tools.insert(0, button(app, app.t("strip.speak"), app.repeat_prompt, kid="strip.speak",
                                   role="secondary", font="small", width=120, height=72, icon="speaker"))
        else:  # no voice for this language (Sorani): say so instead of mis-speaking it
            note = label(app, app.t("speech.no_voice"), role="small", color=pal.strip_warning,
                         kid="strip.no_voice", wrap=False)
            note.halign = "center"
            note.size_hint_x, note.width = None, 175
            info.append(note)
        # Not mirrored: the language buttons keep their place whatever language is chosen,
        # so a citizen's finger on "English" never lands on Home after switching.
        strip = BoxLayout(orientation="horizontal", spacing=8, size_hint_y=None, height=72)
        globe = Icon("language", pal.strip_text, size=32, pos_hint={"center_y": 0.5})  # the language choice, in any script
        globe.kid = "strip.language_icon"
        for w in (globe, *langs, *info, *tools):
            strip.add_widget(w)
        self.add_widget(strip)
