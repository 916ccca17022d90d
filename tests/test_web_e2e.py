"""The whole path with every part real and in its own process: a kiosk (`ur-kiosk apply`,
then its sync loop `ur-kiosk sync` over a real Mosquitto) submits an application;
central's worker (`ur-central serve`) ingests it and starts its workflow; a clerk logs
in to `ur-central web` in Debian's chromium and approves it; the status travels back
and the kiosk's own `ur-kiosk status` shows it. Then a supervisor (password and TOTP,
in the browser) watches the fleet page: the kiosk is online while it syncs, and
offline once its network to the broker is cut. Screenshots of each page are saved."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from tests import support
from tests.web_support import DESKTOP, PHONE, chromium, web_server

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is not installed")
AGENCY = "moi-criminal-evidence"
CITIZEN = {"full_name": "زينب <script>alert('k')</script>", "national_id": "199001234567", "mobile": "07801234567"}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


def _kiosk_status(dep: support.Deployment, number: str) -> dict[str, object]:
    r = dep.kiosk("K1", "--json", "status", number, check=False)
    if r.returncode != 0:
        return {}  # not known at the kiosk yet (no status from central)
    out: dict[str, object] = json.loads(r.stdout)
    return out


def _add_user(dep: support.Deployment, name: str, role: str, pw: str) -> dict[str, str]:
    r = support.run_cli(["ur-central", "--db", dep.db_url, "--json", "users", "add", name, "--name", f"{name} Q.",
                         "--agency", AGENCY, "--role", role], input=pw + "\n")
    assert r.returncode == 0, r.stderr
    out: dict[str, str] = json.loads(r.stdout)
    return out


def _login(page, url: str, user: str, pw: str, totp: str = "") -> None:
    page.goto(url + "/staff/login?lang=en")
    page.fill("#username", user)
    page.fill("#password", pw)
    if totp:
        page.fill("#totp", totp)
    page.click("button[type=submit]")


def staff_shots(browser, url: str, user: str, pw: str, totp: str, pages: list[str], out: Path) -> None:
    """Every page in `pages`, logged in as `user`, in three languages at phone and desktop size."""
    for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        ctx = browser.new_context(viewport=size, is_mobile=size is PHONE)
        page = ctx.new_page()
        _login(page, url, user, pw, totp)
        for path in pages:
            name = path.strip("/").replace("/", "-") or "home"
            for lang in ("ar", "ckb", "en"):
                page.goto(f"{url}{path}?lang={lang}")
                assert page.locator("html").get_attribute("lang") == lang
                page.screenshot(path=str(out / f"{name}-{lang}-{size_name}.png"), full_page=True)
        ctx.close()


def test_kiosk_application_approved_in_the_browser_reaches_the_kiosk(browser, tmp_path: Path) -> None:
    shots = tmp_path / "screens"
    shots.mkdir()
    with support.broker(tmp_path) as broker:
        proxy = support.TcpProxy(broker.port)  # the kiosk's network, cut below
        dep = support.Deployment(tmp_path / "dep")
        try:
            dep.init_central()
            dep.enroll("K1", proxy.url)
            dep.serve(broker.url)  # central's ingest worker, subscribed
            sync = support.spawn_cli(["ur-kiosk", "--data", str(dep.kiosk_dir("K1")), "sync", "--heartbeat", "1"],
                                     env={"UR_SYNC_FIRST_DELAY": "0"}, log=tmp_path / "sync.log")
            dep.procs.append(sync)
            applied = json.loads(dep.kiosk("K1", "--json", "apply", "--service", "non-conviction-certificate",
                                           *[f"--field={k}={v}" for k, v in CITIZEN.items()]).stdout)
            number = applied["tracking"]
            # Received at central and routed to the agency's review step, as the kiosk learns it.
            support.wait_until(lambda: len(_kiosk_status(dep, number).get("history", [])) >= 2, 90,
                               interval=0.3, what="workflow start reported to the kiosk")
            assert _kiosk_status(dep, number)["status"] == "received"

            clerk_pw, sup_pw = "clerk password 1", "supervisor password 1"
            _add_user(dep, "clerk-z", "clerk", clerk_pw)
            sup = _add_user(dep, "sup-z", "supervisor", sup_pw)
            secret = pyotp.parse_uri(sup["totp_uri"]).secret
            with web_server(dep.db_url, tmp_path, "--offline-after", "4") as srv:
                ctx = browser.new_context(viewport=DESKTOP)
                page = ctx.new_page()
                dialogs: list[str] = []
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                _login(page, srv.url, "clerk-z", clerk_pw)
                assert number in page.inner_text("#worklist")
                page.screenshot(path=str(shots / "worklist.png"), full_page=True)
                page.click(f"text={number}")
                # What the citizen typed at the kiosk, shown as text and never run.
                assert "<script>alert('k')</script>" in page.inner_text("#form") and dialogs == []
                page.select_option("#action", "approve")
                page.click("#act button[type=submit]")
                assert "Visit to the office requested" in page.inner_text("#case-status")
                page.screenshot(path=str(shots / "case-approved.png"), full_page=True)
                ctx.close()

                # Back over the broker to the kiosk: its own CLI shows the approval.
                support.wait_until(lambda: _kiosk_status(dep, number).get("status") == "visit_requested", 90,
                                   interval=0.3, what="approval reported to the kiosk")
                hist = _kiosk_status(dep, number)["history"]
                assert isinstance(hist, list) and hist[-1]["status"] == "visit_requested"
                human = dep.kiosk("K1", "status", number).stdout
                assert f"{number}: visit_requested" in human

                # The supervisor's fleet page: online while the kiosk syncs, offline once its link dies.
                phone = browser.new_context(viewport=PHONE, is_mobile=True)
                page = phone.new_page()
                _login(page, srv.url, "sup-z", sup_pw, pyotp.TOTP(secret).now())
                page.goto(srv.url + "/staff/fleet?lang=en")

                def state() -> str | None:
                    page.reload()
                    return page.get_attribute('[data-kiosk="K1"]', "data-online")

                support.wait_until(lambda: state() == "yes", 60, interval=0.5, what="K1 online on the fleet page")
                page.screenshot(path=str(shots / "fleet-online.png"), full_page=True)
                proxy.partition()
                support.wait_until(lambda: state() == "no", 60, interval=0.5, what="K1 offline on the fleet page")
                row = page.inner_text('[data-kiosk="K1"]')
                assert "offline" in row.lower()
                page.screenshot(path=str(shots / "fleet-offline.png"), full_page=True)
                proxy.heal()
                support.wait_until(lambda: state() == "yes", 60, interval=0.5, what="K1 online again")
                phone.close()
                staff_shots(browser, srv.url, "clerk-z", clerk_pw, "", ["/staff", f"/staff/case/{number}"], shots)
                staff_shots(browser, srv.url, "sup-z", sup_pw, pyotp.TOTP(secret).now(),
                            ["/staff/overview", "/staff/fleet", "/staff/reconciliation"], shots)
            with_name = support.run_cli(["ur-central", "--db", dep.db_url, "--json", "apps", "show", number])
            assert with_name.returncode == 0, with_name.stderr
            trail = json.loads(with_name.stdout)["audit"]
            assert any(t["actor"] == "clerk-z (clerk-z Q.)" and re.match("web:", t["origin"]) for t in trail)
        finally:
            dep.stop_all()
            proxy.close()
    names = {p.name for p in shots.glob("*.png")}
    assert {"worklist.png", "case-approved.png", "fleet-online.png", "fleet-offline.png"} <= names
    assert len(names) == 4 + 5 * 3 * 2  # five staff pages, three languages, phone and desktop
