"""Tracking slip QR (decoded back by a real QR reader), clerk CLI outputs and
`ur-central audit verify` exit codes, run as real processes."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pyzbar import pyzbar

from central import applications, db
from central import catalogue as central_catalogue
from contract import catalogue as cat
from contract import tracking, tracking_qr
from contract.errors import UrError, ValidationError
from tests import support


def test_qr_round_trips_through_a_real_decoder() -> None:
    number = tracking.make(321, 4567)
    qr = tracking_qr.qr_code(number)
    assert qr.mode == "alphanumeric" and not qr.is_micro and qr.error == "M"
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=4, border=4)
    buf.seek(0)
    decoded = pyzbar.decode(Image.open(buf))
    assert [d.data.decode() for d in decoded] == [f"UR:T:{number}"]
    assert tracking_qr.parse_qr_text(decoded[0].data.decode()) == number
    with pytest.raises(UrError, match="not an Ur tracking code"):
        tracking_qr.parse_qr_text("https://example.com")
    with pytest.raises(UrError, match="check digit"):
        tracking_qr.qr_text(number[:-1] + str((int(number[-1]) + 1) % 10))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["full_name", "national_id", "mobile", "purpose", "x"]),
                       st.text(max_size=30), max_size=5))
def test_form_validation_never_crashes(fields: dict[str, str]) -> None:
    svc = _SEED.service("non-conviction-certificate")
    try:
        out = cat.validate_form(svc, fields)
    except ValidationError as e:
        assert e.problems and all(isinstance(p, str) for p in e.problems)
    else:
        assert len(out["national_id"]) == 12 and out["mobile"].startswith("07")


_SEED = central_catalogue.load_seed()


def test_clerk_cli_and_audit_verify_exit_codes(tmp_path: Path) -> None:
    url = support.sqlite_url(tmp_path / "c.db")
    r = support.run_cli(["ur-central", "--db", url, "init"])
    assert r.returncode == 0, r.stderr
    engine = db.make_engine(url)
    db.load_models()  # registers the workflow's submission hook, as the worker does
    number = tracking.make(5, 1)
    with db.sessions(engine).begin() as s:
        applications.handle_submission(s, "K1", "m1", {
            "tracking": number, "service_id": "tax-clearance", "catalogue_version": 1, "fee_total": 5000,
            "fields": {}, "submitted_at": datetime.now(UTC).isoformat()})
    engine.dispose()

    def cli(*args: str) -> tuple[int, str, str]:
        p = support.run_cli(["ur-central", "--db", url, *args])
        return p.returncode, p.stdout, p.stderr

    rc, out, _ = cli("apps", "inbox", "--agency", "mof-tax")
    assert rc == 0 and number in out and "approve, return, request_visit, reject" in out
    rc, _, err = cli("apps", "act", number, "reject")
    assert rc == 2 and "needs a reason (--note)" in err and len(err.strip().splitlines()) == 1
    rc, _, err = cli("apps", "act", number, "issue")
    assert rc == 2 and "cannot issue" in err
    rc, _, err = cli("apps", "act", "0005-000001-0", "approve")
    assert rc == 2 and "check digit" in err
    rc, out, _ = cli("apps", "act", number, "request_visit", "--actor", "huda", "--office", "baghdad-tax")
    assert rc == 0 and "visit_requested" in out
    rc, out, _ = cli("--json", "apps", "show", number)
    shown = json.loads(out)
    assert shown["status"] == "visit_requested" and shown["owner"] == ["citizen", "citizen"]
    assert [a["action"] for a in shown["audit"]] == ["submit", "start", "request_visit"]
    assert shown["audit"][2]["actor"] == "huda" and shown["audit"][2]["origin"] == "baghdad-tax"
    rc, out, _ = cli("audit", "verify")
    assert rc == 0 and "3 entries checked, 0 problems" in out
    with sqlite3.connect(tmp_path / "c.db") as c:
        c.execute("UPDATE audit_log SET origin = 'elsewhere' WHERE seq = 3")
    rc, out, _ = cli("audit", "verify")
    assert rc == 1 and f"{number}: entry 3 (request_visit by huda) was edited" in out
