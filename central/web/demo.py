"""The web part of `make demo`: start `ur-central web` on the demo's database, print
its addresses, and save screenshots of its pages (three languages, phone and
desktop) in demo-output/web/ with Debian's chromium when it is installed.
Set UR_DEMO_KEEP_WEB=1 to keep the server running until Ctrl-C."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
PASSWORD = "demo-password-1"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(db: str, *args: str, stdin: str | None = None) -> str:
    r = subprocess.run([sys.executable, "-m", "central.cli", "--db", db, *args], capture_output=True, text=True,
                       input=stdin, timeout=300)
    if r.returncode != 0:
        raise SystemExit(f"demo step failed: ur-central {' '.join(args)}\n{r.stderr}")
    return r.stdout


def _up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the web server did not start (see demo-output/web/server.log)")


def _busiest_agency(db: str) -> str:
    """The agency with the most open cases from the demo's applications (its clerk has work)."""
    with sqlite3.connect(db[len("sqlite:///"):]) as c:
        row = c.execute("SELECT agency FROM cases WHERE status='in_review' GROUP BY agency "
                        "ORDER BY count(*) DESC LIMIT 1").fetchone()
    return str(row[0]) if row else "moi-criminal-evidence"


def act_web(db: str, demo_out: Path) -> None:
    """The web act of `make demo` on central's database `db`, writing under `demo_out`/web.
    kiosk.demo runs it as `python -m central.web.demo DB OUT` (kiosk never imports central)."""
    out = demo_out / "web"
    out.mkdir(parents=True, exist_ok=True)
    print("\n== Central web service: public pages and staff console", flush=True)
    port = _port()
    url = f"http://127.0.0.1:{port}"
    doc = json.loads(_cli(db, "--json", "docs", "issue", "--type", "certificate", "--agency", "وزارة الداخلية",
                          "--field", "holder=زينب علي حسن", "--base", url.upper() + "/"))
    _cli(db, "letters", "register", "--number", "١٢٣/ك", "--date", "2026-03-01",
         "--from", "ممثلية إقليم كوردستان في بغداد", "--to", "وزارة المالية الاتحادية", "--subject", "رواتب")
    _cli(db, "users", "add", "clerk-demo", "--name", "سارا أحمد", "--agency", _busiest_agency(db),
         "--role", "clerk", stdin=PASSWORD + "\n")
    log = open(out / "server.log", "ab")  # noqa: SIM115 - lives with the server
    proc = subprocess.Popen([sys.executable, "-m", "central.cli", "--db", db, "web", "--listen",
                             f"127.0.0.1:{port}", "--insecure-cookies", "--secret-file", str(out / "web-secret")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _up(url, proc)
        verify = doc["qr"]
        pages = {"home": f"{url}/", "verify": verify, "letters": f"{url}/letters?number=123/ك&date=2026-03-01",
                 "track": f"{url}/track", "staff-login": f"{url}/staff/login"}
        print(f"  public pages:   {url}/")
        print(f"  certificate:    {verify[:70]}...")
        print(f"  letter inquiry: {url}/letters")
        print(f"  tracking:       {url}/track")
        print(f"  staff console:  {url}/staff/login  (clerk-demo / {PASSWORD})")
        if Path(CHROMIUM).exists():
            n = _screens(pages, out, url)
            print(f"  {n} screenshots in {out}")
        else:
            print("  (chromium not installed: no screenshots)")
        if os.environ.get("UR_DEMO_KEEP_WEB"):
            print("  serving until Ctrl-C", flush=True)
            try:
                proc.wait()
            except KeyboardInterrupt:
                pass
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _screens(pages: dict[str, str], out: Path, url: str) -> int:
    from playwright.sync_api import sync_playwright  # a dev dependency, and ~1.1 s to import

    n = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for size, viewport in SIZES.items():
            ctx = browser.new_context(viewport=viewport)  # type: ignore[arg-type]  # a plain dict with width and height is playwright's ViewportSize
            page = ctx.new_page()
            for lang in ("ar", "ckb", "en"):
                for name, target in pages.items():
                    page.goto(target + ("&" if "?" in target else "?") + f"lang={lang}")
                    page.screenshot(path=str(out / f"{name}-{lang}-{size}.png"), full_page=True)
                    n += 1
                page.goto(f"{url}/staff/login?lang={lang}")
                page.fill("#username", "clerk-demo")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.screenshot(path=str(out / f"staff-worklist-{lang}-{size}.png"), full_page=True)
                page.click("nav.console button")
                n += 1
            ctx.close()
        browser.close()
    return n


if __name__ == "__main__":
    act_web(sys.argv[1], Path(sys.argv[2]))
