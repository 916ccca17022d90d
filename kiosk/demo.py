"""`make demo`: the offline-then-delivered story with real parts, on embedded defaults.

A private Mosquitto, central on SQLite and one kiosk, all in `demo-output/`.
The broker speaks only TLS, as deployed (`ur-central broker-tls`: client
certificates, the ACL, the CRL; UR_DEMO_PLAIN=1 for a plain broker), and the
kiosk enrolls CSR-style with a one-time code. Applications are taken while the broker is down (each gets its tracking
number at once), then the broker and a central worker come up, the kiosk
syncs, and the counts show every application arrived exactly once — also
after everything is sent a second time. Further demo acts (devices, the
citizen journey on screen) are added by `ACTS`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk.sync.local_broker import LocalBroker

OUT = Path(os.environ.get("UR_DEMO_OUT", "demo-output")).resolve()
N_APPS = 12
SAMPLE = [
    ("زينب علي حسن", "199001234567", "07801234567"),
    ("Karwan Ahmed", "198812345670", "07501234567"),
    ("ئارام محەمەد", "199512345678", "07701112233"),
]


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def cli(prog: str, *args: str, check: bool = True,
        env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    module = {"ur-kiosk": "kiosk.cli", "ur-central": "central.cli"}[prog]
    env = {**os.environ, "UR_SYNC_FIRST_DELAY": "0", **(env_extra or {})}
    r = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=300)
    if check and r.returncode != 0:
        raise SystemExit(f"demo step failed: {prog} {' '.join(args)}\n{r.stderr}")
    return r


def main() -> int:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    # Central's keys: a SoftHSM2 token made with the demo's database (central/hsm.py).
    os.environ.setdefault("UR_CENTRAL_HSM_DIR", str(OUT / "central-hsm"))
    db = f"sqlite:///{OUT / 'central.db'}"
    kdata = str(OUT / "kiosk-K-DEMO")
    tls = not os.environ.get("UR_DEMO_PLAIN")
    broker = LocalBroker(OUT / "broker", plain=not tls)
    worker_url = broker.url
    central_proc: subprocess.Popen[bytes] | None = None
    try:
        say("Central: create the database and publish the seed catalogue")
        print(cli("ur-central", "--db", db, "init").stdout.strip())
        if tls:
            say("Broker TLS: CA, server and worker certificates, ACL and CRL (no plain listener)")
            out = json.loads(cli("ur-central", "--db", db, "--json", "broker-tls", "--out", str(OUT / "tls"),
                                 "--port", str(broker.port)).stdout)
            broker.extra = Path(out["listener_config"]).read_text()
            worker_url = out["worker_broker_url"]
            print(f"  TLS listener on {broker.url}: {out['listener_config']}")
        say("Enroll kiosk K-DEMO: one-time code from central, keys made at the kiosk, central signs")
        code, request, bundle = OUT / "K-DEMO.code", OUT / "K-DEMO.request.json", OUT / "K-DEMO.bundle.json"
        print(cli("ur-central", "--db", db, "kiosks", "enroll", "K-DEMO", "--broker", broker.url,
                  "--office", "Baghdad/Karkh civil affairs", "--code-out", str(code)).stdout.strip())
        print(cli("ur-kiosk", "--data", kdata, "enroll-request", "--kiosk", "K-DEMO", "--out", str(request),
                  "--code-file", str(code)).stdout.strip())
        print(cli("ur-central", "--db", db, "kiosks", "sign", str(request), "--out", str(bundle)).stdout.strip())
        print(cli("ur-kiosk", "--data", kdata, "init", "--bundle", str(bundle)).stdout.strip())

        say(f"Network is DOWN (broker not running on {broker.url}); citizens apply anyway")
        numbers = []
        for i in range(N_APPS):
            name, nid, mobile = SAMPLE[i % len(SAMPLE)]
            nid = f"{int(nid) + i:012d}"
            r = cli("ur-kiosk", "--data", kdata, "apply", "--service", "non-conviction-certificate",
                    "--field", f"full_name={name}", "--field", f"national_id={nid}", "--field", f"mobile={mobile}")
            numbers.append(r.stdout.strip())
            print(f"  application {i + 1:2d}: {name:<16} -> tracking number {numbers[-1]}")
        r = cli("ur-kiosk", "--data", kdata, "apply", "--service", "non-conviction-certificate",
                "--field", "national_id=123", check=False)
        print(f"  a mistyped form is refused, nothing stored: {r.stderr.strip()}")
        print("  kiosk queue:", cli("ur-kiosk", "--data", kdata, "--json", "queue").stdout.strip())

        say("Network comes back: broker and a central ingest worker start")
        broker.start()
        central_proc = subprocess.Popen(
            [sys.executable, "-m", "central.cli", "--db", db, "serve", "--broker", worker_url],
            stdout=open(OUT / "central.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
        t0 = time.monotonic()
        print(cli("ur-kiosk", "--data", kdata, "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0").stdout.strip())
        print(f"  synced in {time.monotonic() - t0:.1f}s")
        stats = json.loads(cli("ur-central", "--db", db, "--json", "stats").stdout)
        print(f"  central holds {stats['applications']} applications (expected {N_APPS})")
        print("  kiosk queue:", cli("ur-kiosk", "--data", kdata, "--json", "queue").stdout.strip())
        print(f"  status of {numbers[0]} at the kiosk:",
              cli("ur-kiosk", "--data", kdata, "status", numbers[0]).stdout.strip().splitlines()[0])

        say("Lost acks? The kiosk sends everything again: central still holds each once")
        with sqlite3.connect(Path(kdata) / "kiosk.db") as c:
            c.execute("UPDATE outbox SET state='pending', next_attempt=0, last_sent=NULL")
        cli("ur-kiosk", "--data", kdata, "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
        stats = json.loads(cli("ur-central", "--db", db, "--json", "stats").stdout)
        ok = stats["applications"] == N_APPS
        print(f"  central holds {stats['applications']} applications, inbox {stats['inbox']} messages"
              f" -> {'EXACTLY ONCE' if ok else 'MISMATCH'}")
        ctx = DemoContext(OUT, db, kdata, broker.url)
        for act in ACTS:
            act(ctx)
        say(f"Done. Everything the demo made is in {OUT}")
        return 0 if ok else 1
    finally:
        if central_proc is not None:
            central_proc.terminate()
            central_proc.wait(10)
        broker.stop()


@dataclass(frozen=True)
class DemoContext:
    out: Path
    db: str
    kiosk_data: str
    broker_url: str


def act_documents(ctx: DemoContext) -> None:
    """A QR-secured certificate: issued at central, verified offline at the kiosk
    from its photo, revoked, and seen revoked after the next sync."""
    say("Secured document: central issues a certificate (A4 PNG with a UR1 QR code)")
    png = ctx.out / "certificate.png"
    r = cli("ur-central", "--db", ctx.db, "--json", "docs", "issue", "--type", "certificate",
            "--agency", "وزارة الداخلية", "--field", "holder=زينب علي حسن", "--field", "purpose=employment",
            "--png", str(png))
    doc = json.loads(r.stdout)
    doc_id = doc.get("id") or doc.get("document_id")
    print(f"  document {doc_id}, page {png}")
    sync = ("ur-kiosk", "--data", ctx.kiosk_data, "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
    cli(*sync)
    v = json.loads(cli("ur-kiosk", "--data", ctx.kiosk_data, "docs", "verify", "--image", str(png), check=False).stdout)
    print(f"  kiosk verifies the photo offline: {v['status']} ({v.get('reason', '')})")
    cli("ur-central", "--db", ctx.db, "docs", "revoke", str(doc_id), "--reason", "issued in error")
    cli(*sync)
    v = json.loads(cli("ur-kiosk", "--data", ctx.kiosk_data, "docs", "verify", "--image", str(png), check=False).stdout)
    print(f"  after revocation and one sync: {v['status']} ({v.get('reason', '')})")


def act_printer(ctx: DemoContext) -> None:
    """A test receipt through the ESC/POS emulator on a pseudo-terminal, rendered to PNG."""
    say("Receipt printer: technician's test print on an emulated 80 mm ESC/POS printer")
    folder = ctx.out / "printer"
    folder.mkdir(exist_ok=True)
    emu = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "emulate", "printer", "--out", str(folder)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert emu.stdout is not None
        port = emu.stdout.readline().strip().split()[-1]
        r = cli("ur-kiosk", "devices", "test", "printer", "--profile", "epson_tm_t20ii_80mm", "--port", port,
                check=False)
        print("  " + (r.stdout.strip() or r.stderr.strip()).replace("\n", "\n  "))
        time.sleep(0.5)
    finally:
        emu.terminate()
        emu.wait(10)
    for png in sorted(folder.glob("*.png")):
        print(f"  printed receipt image: {png}")


def act_web(ctx: DemoContext) -> None:
    """Central's web pages: a process of its own, as the kiosk never imports central."""
    subprocess.run([sys.executable, "-m", "central.web.demo", ctx.db, str(ctx.out)], check=True)


def valid_document_code(ctx: DemoContext) -> str:
    """A second certificate, left valid, for the kiosk's scanner on the verify screen
    (the first one is revoked by act_documents): its QR text as a camera reads it."""
    from kiosk.devices import qr_image_decoder

    png = ctx.out / "certificate-valid.png"
    cli("ur-central", "--db", ctx.db, "--json", "docs", "issue", "--type", "certificate",
        "--agency", "وزارة الداخلية", "--field", "holder=Karwan Ahmed", "--field", "purpose=travel",
        "--png", str(png))
    cli("ur-kiosk", "--data", ctx.kiosk_data, "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
    return qr_image_decoder.single_text(qr_image_decoder.decode_file(str(png)))


def add_staff(ctx: DemoContext) -> str:
    """The station's first user (a supervisor) and a cashier; returns the cashier's PIN."""
    sup, sup_pin, pin = "supervisor-demo", "135790", "246801"
    cli("ur-kiosk", "--data", ctx.kiosk_data, "cashier", "user-add", "--user", sup, "--new-user", sup,
        "--role", "supervisor", env_extra={"UR_NEW_PIN": sup_pin})
    cli("ur-kiosk", "--data", ctx.kiosk_data, "cashier", "user-add", "--user", sup, "--new-user", "cashier-demo",
        "--role", "cashier", "--supervisor", sup, env_extra={"UR_NEW_PIN": pin, "UR_SUPERVISOR_PIN": sup_pin})
    print(f"  staff users: {sup} (supervisor), cashier-demo (cashier, PIN {pin}, demo only)")
    return pin


def act_screens(ctx: DemoContext) -> None:
    """The citizen journey on the real Kivy screens, driven by simulated touches
    offscreen against this demo kiosk's data; with a display, the kiosk opens too."""
    say("Kiosk screens: a scripted citizen journey (Arabic / Kurdish / English), rendered offscreen")
    folder = ctx.out / "screens"
    code = valid_document_code(ctx)
    print(f"  a valid certificate for the scanner: {code[:60]}...")
    pin = add_staff(ctx)
    # Emulated card terminal (ZVT over TCP/IP, bare APDUs, as countertop terminals speak
    # it), receipt printer and QR scanner (pseudo-terminals), in the kiosk's device map.
    # The scanner emulator reads the valid certificate's QR every second, as if held
    # under the scanner; the kiosk reads it only on the verify screen.
    emulators = []
    ports = {}
    receipts = ctx.out / "screens-receipts"
    for kind in ("terminal", "printer", "scanner"):
        extra = {"terminal": ["--tcp", "0"], "printer": ["--out", str(receipts)],
                 "scanner": ["--option", f"scan={code}", "--option", "interval=1"]}[kind]
        p = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "emulate", kind, *extra],
                             stdout=subprocess.PIPE, text=True)
        emulators.append(p)
        assert p.stdout is not None
        ports[kind] = p.stdout.readline().strip().split()[-1]
    (Path(ctx.kiosk_data) / "devices.toml").write_text(
        f'kiosk = "K-DEMO"\n\n[devices.card_terminal]\nprofile = "zvt_terminal_tcp"\nport = "{ports["terminal"]}"\n'
        f'\n[devices.receipt_printer]\nprofile = "epson_tm_t20ii_80mm"\nport = "{ports["printer"]}"\n'
        f'\n[devices.qr_scanner]\nprofile = "honeywell_1400g_serial"\nport = "{ports["scanner"]}"\n')
    print(f"  card terminal emulator on {ports['terminal']}, receipt printer emulator on {ports['printer']},"
          f" QR scanner emulator on {ports['scanner']}")
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_NO_ARGS": "1", "KIVY_TEXT": "pil",
           "KIVY_HOME": str(ctx.out / "kivy-home"), "KIVY_NO_CONSOLELOG": "1", "UR_CASHIER_PIN": pin}
    try:
        r = subprocess.run([sys.executable, "-m", "kiosk.cli", "--data", ctx.kiosk_data, "ui-demo", str(folder)],
                           capture_output=True, text=True, env=env, timeout=300)
    finally:
        for p in emulators:
            p.terminate()
            p.wait(10)
    print("  " + (r.stdout.strip() or r.stderr.strip()[-500:]))
    for line in (folder / "journey.txt").read_text().splitlines()[:12] if (folder / "journey.txt").exists() else []:
        print(f"    {line}")
    printed = sorted(receipts.glob("*.png"))
    for png in printed:
        print(f"  printed during the journey: {png}")
    if printed:  # the first print of the journey is the visit ticket at submit (the receipt comes after paying)
        shutil.copyfile(printed[0], ctx.out / "queue-ticket.png")
        print(f"  the queue ticket printed at submit: {ctx.out / 'queue-ticket.png'}")
    if os.environ.get("DISPLAY") and sys.stdin.isatty() and not os.environ.get("UR_DEMO_HEADLESS"):
        say("A display is attached: opening the kiosk window (close it to finish the demo)")
        subprocess.run([sys.executable, "-m", "kiosk.cli", "--data", ctx.kiosk_data, "ui", "--windowed", "1280x1024"])


# Demo acts after the sync story; each takes the running demo's context.
ACTS: list[Callable[[DemoContext], None]] = [act_documents, act_printer, act_web, act_screens]


if __name__ == "__main__":
    sys.exit(main())
