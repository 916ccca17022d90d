"""`ur-central docs/keys/trust` and `ur-kiosk docs` as real processes."""

from __future__ import annotations

import json
from pathlib import Path

from central import datasets as central_datasets
from central import db
from kiosk import datasets as kiosk_datasets
from kiosk.store import KioskStore
from tests.support import run_cli


def _deliver(central_url: str, kiosk_dir: Path, *names: str) -> None:
    engine = db.make_engine(central_url)
    store = KioskStore(kiosk_dir)
    try:
        with db.sessions(engine).begin() as cs, store.tx() as ks:
            for n in names:
                ds = central_datasets.latest(cs, n)
                kiosk_datasets.install(ks, n, ds.version, ds.body, ds.sha256)
    finally:
        store.close()
        engine.dispose()


def test_cli_issue_png_verify_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    kdir = tmp_path / "kiosk"
    c = ["ur-central", "--db", url]
    k = ["ur-kiosk", "--data", str(kdir)]
    png = tmp_path / "letter.png"
    r = run_cli([*c, "--json", "docs", "issue", "--type", "letter", "--agency", "ممثلية إقليم كوردستان في بغداد",
                 "--field", "number=1205", "--field", "date=2026-11-20", "--field", "subject=طلب تأييد",
                 "--base", "HTTPS://VERIFY.EXAMPLE.IQ/", "--png", str(png)])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["qr"].startswith("HTTPS://VERIFY.EXAMPLE.IQ/UR1/") and out["qr_error"] == "M"
    assert png.exists()

    r = run_cli([*c, "docs", "verify", "--image", str(png)])
    assert r.returncode == 0, r.stdout + r.stderr
    verdict = json.loads(r.stdout)
    assert verdict["status"] == "VALID" and verdict["document"]["fields"]["number"] == "1205"

    r = run_cli([*c, "--json", "trust", "export", "--root-pub", "--out", str(tmp_path / "trust.cose")])
    assert r.returncode == 0, r.stderr
    root = json.loads(r.stdout)["root_public_key"]
    r = run_cli([*c, "docs", "publish-status"])
    assert r.returncode == 0, r.stderr

    r = run_cli([*k, "docs", "verify", out["qr"]])
    assert r.returncode == 1 and json.loads(r.stdout)["status"] == "STALE"  # nothing pinned yet
    assert run_cli([*k, "docs", "pin-root", root]).returncode == 0
    _deliver(url, kdir, "trust_list", "status_list")
    r = run_cli([*k, "docs", "verify", "--image", str(png)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["status"] == "VALID"

    r = run_cli([*c, "docs", "revoke", out["id"], "--reason", "sent to the wrong ministry"])
    assert r.returncode == 0, r.stderr
    r = run_cli([*c, "docs", "verify", out["qr"]])
    assert r.returncode == 1 and json.loads(r.stdout)["status"] == "REVOKED"
    _deliver(url, kdir, "status_list")
    r = run_cli([*k, "docs", "verify", out["qr"]])
    assert r.returncode == 1 and json.loads(r.stdout)["status"] == "REVOKED"
    r = run_cli([*k, "--json", "docs", "lists"])
    assert json.loads(r.stdout)["status_list"]["seq"] == 2


def test_cli_bad_input_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    c = ["ur-central", "--db", f"sqlite:///{tmp_path / 'c.db'}"]
    r = run_cli([*c, "docs", "issue", "--type", "certificate", "--agency", "MOI", "--field", "oops"])
    assert r.returncode == 2 and "name=value" in r.stderr and "Traceback" not in r.stderr
    r = run_cli([*c, "docs", "issue", "--type", "passport", "--agency", "MOI"])
    assert r.returncode == 2 and "unknown document type" in r.stderr
    r = run_cli([*c, "docs", "verify", "ur1:abc"])
    assert r.returncode == 1 and json.loads(r.stdout)["status"] == "INVALID"
    r = run_cli([*c, "docs", "verify", "--image", str(tmp_path / "missing.png")])
    assert r.returncode == 1 and "cannot read image" in json.loads(r.stdout)["reason"]
    r = run_cli([*c, "docs", "revoke", "DNOPE", "--reason", "x"])
    assert r.returncode == 2 and "no document DNOPE" in r.stderr
    r = run_cli(["ur-kiosk", "--data", str(tmp_path / "k"), "docs", "pin-root", "zz"])
    assert r.returncode == 2 and "hex" in r.stderr


def test_cli_keys_rotate_and_withdraw(tmp_path: Path) -> None:
    c = ["ur-central", "--db", f"sqlite:///{tmp_path / 'c.db'}"]
    first = json.loads(run_cli([*c, "--json", "docs", "issue", "--type", "certificate", "--agency", "MOI",
                                "--field", "name=Aras"]).stdout)
    r = run_cli([*c, "--json", "keys", "rotate"])
    assert r.returncode == 0, r.stderr
    new_kid = json.loads(r.stdout)["kid"]
    second = json.loads(run_cli([*c, "--json", "docs", "issue", "--type", "certificate", "--agency", "MOI",
                                 "--field", "name=Aras"]).stdout)
    assert second["kid"] == new_kid != first["kid"]
    assert run_cli([*c, "docs", "verify", first["qr"]]).returncode == 0
    r = run_cli([*c, "keys", "withdraw", first["kid"], "--cutoff", "2000-01-01T00:00:00Z"])
    assert r.returncode == 0, r.stderr
    v = json.loads(run_cli([*c, "docs", "verify", first["qr"]]).stdout)
    assert v["status"] == "INVALID" and "withdrawn" in v["reason"]
    assert run_cli([*c, "docs", "verify", second["qr"]]).returncode == 0
    keys = json.loads(run_cli([*c, "--json", "keys", "list"]).stdout)
    assert [k["role"] for k in keys] == ["root", "signing", "signing"]
