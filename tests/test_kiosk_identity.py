"""Kiosk identities through the real CLIs: CSR-style enrollment with a one-time
code, reserved names, revocation at central, and tracking numbers bound to the
kiosk that minted them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from contract import tracking
from kiosk import identity
from kiosk.services.kiosk_services import KioskServices
from kiosk.store import KioskStore
from kiosk.sync import outbox
from tests import support

FIELDS = ["--field", "full_name=Ali", "--field", "national_id=199001234567", "--field", "mobile=07701234567"]
SYNC = ["sync", "--until-idle", "--timeout", "60", "--heartbeat", "0"]


def _one_line_error(r, needle: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


# The refusals below run the CLIs' `main` in this process (support.cli_in_process: the
# same code, stdout and stderr apart, without a Python start-up each, which was most of
# these tests' time); test_enrollment_is_csr_style_... runs them as processes.
def _central(dep: support.Deployment, *args: str, check: bool = True):
    r = support.cli_in_process(["ur-central", "--db", dep.db_url, *args])
    if check and r.returncode != 0:
        raise AssertionError(f"ur-central {' '.join(args)} failed: {r.stderr}")
    return r


def _code(dep: support.Deployment, kiosk_id: str) -> str:
    """Issue a code the way an operator's script does: into a 0600 file."""
    f = dep.root / f"{kiosk_id}.code"
    _central(dep, "kiosks", "enroll", kiosk_id, "--code-out", str(f))
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    return f.read_text().strip()


def _kiosk(tmp: Path, kiosk_id: str, *args: str, input: str | None = None):
    return support.cli_in_process(["ur-kiosk", "--data", str(tmp / f"kiosk-{kiosk_id}"), *args], input=input)


def test_enrollment_is_csr_style_no_private_key_leaves_the_kiosk(tmp_path: Path) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central(processes=True)
    kdir = dep.enroll("K1", "mqtt://127.0.0.1:1", processes=True)  # the CLIs as separate processes
    sec = kdir / "secrets"
    env_key = (sec / "kiosk.key").read_text().strip()
    tls_key = (sec / "client.key").read_text()
    for f in sec.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert not (sec / identity.PENDING).exists()

    bundle_text = (tmp_path / "K1.bundle.json").read_text()
    request_text = (tmp_path / "K1.request.json").read_text()
    assert stat.S_IMODE((tmp_path / "K1.bundle.json").stat().st_mode) == 0o600
    bundle = json.loads(bundle_text)
    assert "private_key" not in bundle and set(bundle["tls"]) == {"ca", "cert"}
    for field in ("kiosk_code", "broker_url", "root_public_key", "downlink_public_key", "pii_public_key",
                  "envelope_public_key", "catalogue"):
        assert field in bundle, field
    # Central never held the kiosk's private keys: not in the request, the bundle or its database.
    db_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("central.db*"))
    tls_body = "".join(tls_key.strip().splitlines()[1:-1])
    for secret in (env_key, tls_body):
        assert secret not in bundle_text and secret not in request_text
        assert secret.encode() not in db_bytes
    ident = identity.load(KioskStore(kdir))
    assert bundle["envelope_public_key"] == support.sql_rows(
        dep.db_url, "SELECT public_key FROM kiosks WHERE kiosk_id='K1'")[0][0]
    assert ident.kiosk_code == bundle["kiosk_code"]

    # The code worked once: the same request again is refused.
    r = dep.central("kiosks", "sign", str(tmp_path / "K1.request.json"), "--out", str(tmp_path / "again.json"),
                    check=False)
    _one_line_error(r, "already used")
    _one_line_error(dep.central("kiosks", "enroll", "K1", "--code-out", str(tmp_path / "c"), check=False),
                    "already enrolled")
    # Into a pipe (a log), never: the code goes to a terminal or a 0600 file.
    _one_line_error(dep.central("kiosks", "enroll", "K2", check=False), "only on a terminal")


def test_enrollment_refuses_wrong_altered_expired_and_foreign_requests(tmp_path: Path) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    code, code2 = _code(dep, "K1"), _code(dep, "K2")
    req = tmp_path / "req.json"

    # A wrong code typed at the kiosk: the MAC does not verify; a few of those burn the code.
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert _kiosk(tmp_path, "K1", "enroll-request", "--kiosk", "K1", "--out", str(req), input=wrong).returncode == 0
    _one_line_error(_central(dep, "kiosks", "sign", str(req), "--out", str(tmp_path / "b.json"), check=False),
                    "not authenticated by its enrollment code")
    # K2's code used for K1: authenticates nothing for K1.
    assert _kiosk(tmp_path, "K1", "enroll-request", "--kiosk", "K1", "--out", str(req), input=code2).returncode == 0
    _one_line_error(_central(dep, "kiosks", "sign", str(req), "--out", str(tmp_path / "b.json"), check=False),
                    "not authenticated")

    # The right code, but the request altered on the way: someone without the code
    # puts their own keys (and their own proof of possession) into it.
    assert _kiosk(tmp_path, "K1", "enroll-request", "--kiosk", "K1", "--out", str(req), input=code).returncode == 0
    good = json.loads(req.read_text())
    mine = tmp_path / "mine.json"
    assert _kiosk(tmp_path, "M", "enroll-request", "--kiosk", "K1", "--out", str(mine), input=wrong).returncode == 0
    theirs = json.loads(mine.read_text())
    swapped = {k: theirs[k] for k in ("envelope_public_key", "csr", "envelope_signature", "nonce")}
    for forged_fields, needle in (({"envelope_public_key": theirs["envelope_public_key"]}, "envelope key's signature"),
                                  (swapped, "not authenticated by its enrollment code")):
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps({**good, **forged_fields}))
        _one_line_error(_central(dep, "kiosks", "sign", str(forged), "--out", str(tmp_path / "b.json"), check=False),
                        needle)
    other = tmp_path / "other.json"  # a genuine request for K1 made on another machine (X)
    assert _kiosk(tmp_path, "X", "enroll-request", "--kiosk", "K1", "--out", str(other), input=code).returncode == 0
    for junk, needle in (("{", "not JSON"), ("[]", "not an enrollment request"),
                         (json.dumps({**good, "kiosk_id": "central"}), "reserved")):
        (tmp_path / "junk.json").write_text(junk)
        _one_line_error(_central(dep, "kiosks", "sign", str(tmp_path / "junk.json"), "--out", str(tmp_path / "b.json"),
                                    check=False), needle)

    # The kiosk accepts only the bundle that answers its own pending request.
    _central(dep, "kiosks", "sign", str(other), "--out", str(tmp_path / "for-x.json"))  # X's keys, K1's code
    _one_line_error(_kiosk(tmp_path, "K1", "init", "--bundle", str(tmp_path / "for-x.json")),
                    "answers another enrollment request")
    assert _kiosk(tmp_path, "X", "init", "--bundle", str(tmp_path / "for-x.json")).returncode == 0

    # An expired code (its expiry moved into the past in the database) is refused.
    assert _kiosk(tmp_path, "K2", "enroll-request", "--kiosk", "K2", "--out", str(req), input=code2).returncode == 0
    from sqlalchemy import create_engine, text

    engine = create_engine(dep.db_url)
    with engine.begin() as c:
        c.execute(text("UPDATE enrollment_codes SET expires_at = '2020-01-01 00:00:00' WHERE kiosk_id = 'K2'"))
    engine.dispose()
    _one_line_error(_central(dep, "kiosks", "sign", str(req), "--out", str(tmp_path / "b.json"), check=False),
                    "expired")

    # Five wrong attempts burn a code: even the right one is refused after.
    code3 = _code(dep, "K3")
    bad = code3[:-1] + ("0" if code3[-1] != "0" else "1")
    assert _kiosk(tmp_path, "K3", "enroll-request", "--kiosk", "K3", "--out", str(req), input=bad).returncode == 0
    for _ in range(5):
        _central(dep, "kiosks", "sign", str(req), "--out", str(tmp_path / "b.json"), check=False)
    assert _kiosk(tmp_path, "K3", "enroll-request", "--kiosk", "K3", "--out", str(req), input=code3).returncode == 0
    _one_line_error(_central(dep, "kiosks", "sign", str(req), "--out", str(tmp_path / "b.json"), check=False),
                    "burned")


def test_reserved_and_malformed_kiosk_ids_are_refused(tmp_path: Path) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    for bad, needle in (("central", "reserved"), ("Central", "reserved"), ("a/b", "not a kiosk id"),
                        ("K+", "not a kiosk id"), ("K#", "not a kiosk id"), ("_K", "not a kiosk id"),
                        ("K" * 65, "not a kiosk id"), ("K 1", "not a kiosk id"), ("ك١", "not a kiosk id")):
        _one_line_error(_central(dep, "kiosks", "enroll", bad, "--code-out", str(tmp_path / "c"), check=False), needle)
        _one_line_error(_kiosk(tmp_path, "x", "enroll-request", "--kiosk", bad, "--out", str(tmp_path / "r"),
                               input="ABCD-EFGH-JKMN-PQRS"), needle)
    assert support.sql_count(dep.db_url, "SELECT count(*) FROM enrollment_codes") == 0
    _one_line_error(_kiosk(tmp_path, "x", "enroll-request", "--kiosk", "K1", "--out", str(tmp_path / "r"),
                           input="not a code"), "enrollment code must be")


def test_revoked_kiosk_is_refused_by_central_and_told_to_go_out_of_service(tmp_path: Path) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    with support.broker(tmp_path) as b:
        try:
            kdir = dep.enroll("K1", b.url)
            dep.serve(b.url)
            dep.kiosk("K1", "apply", "--service", "non-conviction-certificate", *FIELDS)
            dep.kiosk("K1", *SYNC)
            assert dep.stats()["applications"] == 1

            out = json.loads(dep.central("--json", "kiosks", "revoke", "K1").stdout)
            assert out["crl"] is None  # no broker-tls files in this deployment
            listed = json.loads(dep.central("--json", "kiosks", "list").stdout)
            assert listed[0]["revoked_at"] is not None
            dep.kiosk("K1", "apply", "--service", "non-conviction-certificate", *FIELDS)
            store = KioskStore(kdir)

            def told() -> bool:
                dep.kiosk("K1", "sync", "--timeout", "3", "--heartbeat", "0")
                with store.session() as s:
                    return identity.out_of_service(s) == "revoked"

            support.wait_until(told, timeout=90, interval=0.5, what="the kiosk learning it is revoked")
            assert KioskServices(store).status_strip().in_service is False
            support.wait_until(lambda: dep.stats()["rejected"].get("revoked", 0) >= 1, timeout=30,
                               what="central counting the revoked kiosk's envelope")
            assert dep.stats()["applications"] == 1  # the one sent after revocation was refused
            assert support.queue_stats(kdir)["pending"] == 1  # and stays at the kiosk, not lost
            store.close()
        finally:
            dep.stop_all()


def test_tracking_number_is_accepted_only_under_the_sending_kiosks_code(tmp_path: Path) -> None:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    with support.broker(tmp_path) as b:
        try:
            k3, k4 = dep.enroll("K3", b.url), dep.enroll("K4", b.url)
            codes = {k: identity.load(KioskStore(d)).kiosk_code for k, d in (("K3", k3), ("K4", k4))}
            squatted = tracking.make(codes["K4"], 1)  # the number K4 will give its first applicant
            # K3, signing with its own key, claims it (rogue software on K3: its own outbox).
            store = KioskStore(k3)
            ident = identity.load(store)
            with store.tx() as s:
                outbox.enqueue(s, ident, "applications", {
                    "tracking": squatted, "service_id": "non-conviction-certificate", "catalogue_version": 1,
                    "fee_total": 0, "fields": {"full_name": "x", "national_id": "199001234567"},
                    "submitted_at": "2026-12-01T10:00:00+00:00"})
            store.close()
            dep.serve(b.url)
            dep.kiosk("K3", *SYNC)
            assert support.queue_stats(k3)["rejected"] == 1
            assert dep.stats()["rejected"].get("tracking_kiosk") == 1

            number = dep.kiosk("K4", "apply", "--service", "non-conviction-certificate", *FIELDS).stdout.strip()
            assert number == squatted
            dep.kiosk("K4", *SYNC)
            rows = support.sql_rows(dep.db_url, "SELECT tracking, kiosk_id FROM applications")
            assert rows == [(squatted, "K4")], rows
        finally:
            dep.stop_all()
