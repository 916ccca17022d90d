"""`ScreenHost`: what a screen may ask of the app that shows it.

Screens depend on this protocol, not on `kiosk.screens.app`: the app imports every
screen to build its screen manager, so a screen importing the app made a cycle.
"""

from __future__ import annotations

from typing import Any, Protocol

from kivy.uix.screenmanager import Screen

from kiosk.screens.session import CitizenSession
from kiosk.screens.widgets import Look
from kiosk.speech import Speech
from kiosk.ui_services import UiServices


class ScreenHost(Look, Protocol):
    services: UiServices
    session: CitizenSession
    pin_role: str  # which PIN the PIN screen asks for
    staff_role: str  # "cashier" / "technician" after a good PIN
    large_text: bool
    high_contrast: bool
    speech: Speech

    def tn(self, key: str, n: int, **params: object) -> str: ...
    def money(self, amount: int) -> str: ...
    def go(self, name: str) -> None: ...
    def home(self) -> None: ...  # Home, unless the terminal holds the card
    def wipe(self) -> None: ...
    def set_lang(self, lang: str) -> None: ...
    def set_out_of_service(self, out: bool) -> None: ...
    def toggle_large_text(self) -> None: ...
    def toggle_contrast(self) -> None: ...
    def current_screen(self) -> Screen: ...
    def speak_screen(self, screen: Any) -> None: ...  # a KioskScreen: its title and prompt
    def repeat_prompt(self) -> None: ...
    def _touched(self, *args: Any) -> None: ...
