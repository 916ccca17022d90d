"""The on-screen keyboard shows only while a field has focus, and screens built once are
reused without carrying one citizen's data to the next (issue 16), on the real app."""

from __future__ import annotations

from typing import Any

from tests.ui_fixtures import FixtureServices
from tests.ui_harness import Harness


def _scroll_view(w: Any) -> Any:
    from kivy.uix.scrollview import ScrollView

    while w is not None and not isinstance(w, ScrollView):
        w = w.parent if w.parent is not w else None
    return w


def _visible(h: Any, prefix: str) -> set[str]:
    """Widgets whose whole height is within their scroll view's visible area."""
    shown = set()
    for kid, w in h.ids().items():
        if not kid.startswith(prefix):
            continue
        view = _scroll_view(w)
        _, y = w.to_window(w.x, w.y)
        _, vy = view.to_window(view.x, view.y)
        if vy <= y and y + w.height <= vy + view.height:
            shown.add(kid)
    return shown


def _top_of(w: Any) -> float:
    return float(w.to_window(w.x, w.top)[1])


def _bottom_of(w: Any) -> float:
    return float(w.to_window(w.x, w.y)[1])


def test_keyboard_only_while_a_field_has_focus_and_the_list_gets_the_room() -> None:
    h = Harness(FixtureServices(), lang="en")
    h.tap("home.catalogue", to="catalogue")
    h.frames(3)
    assert not h.keyboard_shown() and "key.SPACE" not in h.ids()
    unfocused = _visible(h, "svc.")
    h.tap("field.query")
    kbd = h.find("kbd.en")
    h.frames(3)
    focused = _visible(h, "svc.")
    assert len(unfocused) > len(focused) >= 1, (unfocused, focused)
    assert _bottom_of(h.find("field.query")) >= _top_of(kbd)  # the field stays above the keyboard
    h.type("PASS")
    assert h.find("field.query").text == "PASS"
    h.tap("key.DONE")
    assert not h.keyboard_shown() and h.app.session.focus == ""
    assert h.app.session.inputs["query"] == "PASS"  # closing keeps what was typed
    h.tap("field.query")
    assert h.keyboard_shown()
    h.tap("catalogue.title")  # a tap outside the field and the keyboard
    assert not h.keyboard_shown()


def test_large_text_apply_button_on_screen_and_focused_field_above_the_keyboard() -> None:
    h = Harness(FixtureServices(), lang="ar")
    h.tap("strip.large")
    h.app.session.service_id = "passport-ordinary"
    h.app.go("apply")
    h.frames(3)
    assert not h.keyboard_shown()
    x, y = h.find("apply.next").to_window(*h.find("apply.next").center)
    assert 0 <= x < h.window.width and 0 <= y < h.window.height
    h.tap("field.mobile")  # the last text field: the form scrolls it up above the keyboard
    kbd = h.find("kbd.digits")
    h.wait(lambda: _bottom_of(h.find("field.mobile")) >= _top_of(kbd)
           and "field.mobile" in _visible(h, "field.mobile"), what="the focused field scrolled above the keyboard")
    h.type("0770")
    assert h.app.session.form["mobile"] == "0770"


def test_screens_are_reused_but_nothing_of_a_citizen_survives_the_wipe() -> None:
    svc = FixtureServices()
    svc.applications["KSK1-000007"] = ("national-card", {})
    h = Harness(svc, lang="en")
    home_tree = h.app.sm.get_screen("home").children[0]
    h.tap("home.track", to="track")
    h.type("KSK1-000007")
    h.tap("track.go")
    h.wait(lambda: "track.status" in h.ids(), what="the tracking result")
    h.tap("strip.home", to="home")
    assert h.app.sm.get_screen("home").children[0] is home_tree  # built once, reused
    h.tap("home.catalogue", to="catalogue")
    h.type("PASS")
    h.tap("strip.home", to="home")
    h.app.wipe()  # the idle timeout's wipe (also after "still there?" goes unanswered)
    h.frames(2)
    assert h.screen == "home"
    for name in ("track", "catalogue"):
        h.app.go(name)
        h.frames(2)
        shown = " ".join(str(getattr(w, "text", "")) for w in h.app.current_screen().walk())
        assert "KSK1-000007" not in shown and "PASS" not in shown, name
        assert "track.status" not in h.ids()
    assert h.app.session.is_empty() or not h.app.session.inputs.get("tracking")
