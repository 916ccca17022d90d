"""The screen a revoked kiosk shows instead of every citizen screen.

Central revoked this kiosk (`ur-central kiosks revoke`): whatever a citizen
entered here would be refused at central, so the kiosk says so at once and
sends people elsewhere. The state comes from `status_strip()` (kiosk.identity
keeps it); staff screens stay reachable for the technician.
"""

from __future__ import annotations

from kivy.uix.widget import Widget

from kiosk.i18n import N_
from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import column, label


class OutOfServiceScreen(KioskScreen):
    screen_name = "out_of_service"
    title_key = N_("out_of_service.title")
    prompt_key = N_("out_of_service.body")

    def build_body(self) -> Widget:
        a = self.app
        body = column(spacing=18)
        body.add_widget(label(a, self.t("out_of_service.body"), role="heading", bold=True,
                              color=a.palette.warning, kid="out_of_service.body"))
        return body
