"""The audit chains are anchored by signed checkpoints: someone who can write
central's database but cannot sign with the root key (in the token) can no
longer truncate a chain and move its head back, delete a chain with its head,
or rewrite reject -> approve with every hash recomputed, without
`ur-central audit verify` saying so. Real SQLite file, real CLIs, the SQL an
attacker would run."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central import audit, db
from tests import support

A, B, C = "1001-000001-1", "1001-000002-9", "1001-000003-7"


def _central(tmp_path: Path) -> str:
    url = support.sqlite_url(tmp_path / "central.db")
    assert support.run_cli(["ur-central", "--db", url, "init"]).returncode == 0
    engine = db.make_engine(url)
    with db.sessions(engine).begin() as s:
        for n in (A, B, C):
            audit.append(s, n, "citizen", "K1", "submit", {"service": "ordinary-passport"})
            audit.append(s, n, "system", "K1", "start", {"step": "review"})
        audit.append(s, A, "clerk-ali", "baghdad-passports", "reject", {"note": "photo is not valid"})
        audit.append(s, B, "clerk-ali", "baghdad-passports", "approve", {"note": ""})
    engine.dispose()
    return url


def _cli(url: str, *args: str) -> tuple[int, dict]:
    r = support.run_cli(["ur-central", "--db", url, "--json", "audit", *args])
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {"stderr": r.stderr}


def _rows(path: Path, subject: str) -> list[tuple]:
    with sqlite3.connect(path) as c:
        return c.execute("SELECT seq, at, actor, origin, action, data, prev_hash, hash FROM audit_log "
                         "WHERE subject=? ORDER BY seq", (subject,)).fetchall()


def _truncate_and_move_head_back(path: Path) -> None:
    rows = _rows(path, A)
    with sqlite3.connect(path) as c:
        c.execute("DELETE FROM audit_log WHERE subject=? AND seq=?", (A, rows[-1][0]))
        c.execute("UPDATE audit_heads SET seq=?, hash=? WHERE subject=?", (rows[-2][0], rows[-2][7], A))


def _delete_chain_with_head(path: Path) -> None:
    with sqlite3.connect(path) as c:
        c.execute("DELETE FROM audit_log WHERE subject=?", (C,))
        c.execute("DELETE FROM audit_heads WHERE subject=?", (C,))


def _rewrite_reject_as_approve(path: Path) -> None:
    """The attacker knows the hash recipe (it is in the source): every hash after
    the edit is recomputed and the head updated, so the chain itself is consistent."""
    prev = audit.GENESIS
    with sqlite3.connect(path) as c:
        for seq, at, actor, origin, action, data, _p, _h in _rows(path, A):
            if action == "reject":
                action, data = "approve", json.dumps({"note": ""})
            h = audit.entry_hash(A, seq, at, actor, origin, action, data, prev)
            c.execute("UPDATE audit_log SET action=?, data=?, prev_hash=?, hash=? WHERE subject=? AND seq=?",
                      (action, data, prev, h, A, seq))
            prev = h
        c.execute("UPDATE audit_heads SET hash=? WHERE subject=?", (prev, A))


def test_untampered_chains_verify_against_the_checkpoint_and_later_entries_are_fine(tmp_path: Path) -> None:
    url = _central(tmp_path)
    rc, out = _cli(url, "verify")
    assert rc == 0 and out["problems"] == [] and out["anchor"] is None  # no checkpoint yet
    rc, out = _cli(url, "checkpoint", "--out", str(tmp_path / "ckpt.cose"))
    assert rc == 0 and out["checkpoint"] == 1 and out["chains"] == 3 and out["entries"] == 8
    # Genuine work after the checkpoint is not a problem.
    engine = db.make_engine(url)
    with db.sessions(engine).begin() as s:
        audit.append(s, C, "clerk-sara", "baghdad-passports", "approve", {"note": ""},
                     datetime.now(UTC))
        audit.append(s, "1001-000004-5", "citizen", "K2", "submit")
    engine.dispose()
    rc, out = _cli(url, "verify", "--checkpoint", str(tmp_path / "ckpt.cose"))
    assert rc == 0 and out["problems"] == [], out
    assert out["checked"] == 10 and out["anchor"].startswith("checkpoint 1 of ")
    # Pinning the root key (as kiosks pin it at enrollment) instead of trusting the key table.
    with sqlite3.connect(tmp_path / "central.db") as c:
        root = bytes(c.execute("SELECT public_key FROM ur1_keys WHERE role='root'").fetchone()[0]).hex()
    assert _cli(url, "verify", "--root-key", root)[0] == 0
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    rc, out = _cli(url, "verify", "--root-key", other)
    assert rc == 1 and out["problems"] and all("not signed by central's root key" in p for p in out["problems"]), out
    rc, out = _cli(url, "verify", "--root-key", "12")
    assert rc == 2 and "--root-key must be 64 hex digits" in out["stderr"]


@pytest.mark.parametrize(("tamper", "needle"), [
    (_truncate_and_move_head_back, f"{A}: checkpoint 1 saw 3 entries; the chain now ends at entry 2 (truncated)"),
    (_delete_chain_with_head, f"{C}: its chain of 2 entries in checkpoint 1 is gone (deleted with its head)"),
    (_rewrite_reject_as_approve, f"{A}: entries up to 3 differ from checkpoint 1 (rewritten)"),
], ids=["truncate-and-move-head", "delete-chain-and-head", "rewrite-reject-as-approve"])
def test_tampering_that_keeps_the_chain_consistent_is_found(tmp_path: Path, tamper, needle: str) -> None:
    url = _central(tmp_path)
    assert _cli(url, "checkpoint")[0] == 0
    tamper(tmp_path / "central.db")
    rc, out = _cli(url, "verify")
    assert rc == 1, out
    assert out["problems"] == [needle], out  # the chains alone look fine: only the anchor sees it


def test_deleting_the_checkpoints_too_is_found_against_a_copy_kept_elsewhere(tmp_path: Path) -> None:
    url = _central(tmp_path)
    assert _cli(url, "checkpoint")[0] == 0
    engine = db.make_engine(url)
    with db.sessions(engine).begin() as s:
        audit.append(s, "1001-000004-5", "citizen", "K2", "submit")
    engine.dispose()
    assert _cli(url, "checkpoint", "--out", str(tmp_path / "kept.cose"))[0] == 0
    with sqlite3.connect(tmp_path / "central.db") as c:  # the chain, and every trace of checkpoint 2
        c.execute("DELETE FROM audit_log WHERE subject='1001-000004-5'")
        c.execute("DELETE FROM audit_heads WHERE subject='1001-000004-5'")
        c.execute("DELETE FROM audit_checkpoints WHERE seq=2")
        c.execute("DELETE FROM datasets WHERE name='audit_checkpoint' AND version=2")
    # The database alone now agrees with itself and with checkpoint 1 (the limit the
    # module docstring states) ...
    rc, out = _cli(url, "verify")
    assert rc == 0 and out["anchor"].startswith("checkpoint 1 "), out
    # ... but not with the copy of checkpoint 2 kept outside it.
    rc, out = _cli(url, "verify", "--checkpoint", str(tmp_path / "kept.cose"))
    assert rc == 1 and out["problems"] == [
        f"checkpoint 2 (from file {tmp_path / 'kept.cose'}) is missing from the database (deleted)"], out
    # Deleting a checkpoint in the middle breaks the links between them.
    assert _cli(url, "checkpoint")[0] == 0  # a new checkpoint 2
    assert _cli(url, "checkpoint")[0] == 0  # 3
    with sqlite3.connect(tmp_path / "central.db") as c:
        c.execute("DELETE FROM audit_checkpoints WHERE seq=2")
    rc, out = _cli(url, "verify")
    assert rc == 1 and "checkpoint 2 is missing (deleted)" in out["problems"], out
    # A forged checkpoint file (not signed by the root key) is named as such.
    bad = tmp_path / "forged.cose"
    bad.write_bytes(b"\xd2\x84" + (tmp_path / "kept.cose").read_bytes()[2:-8] + b"\x00" * 8)
    rc, out = _cli(url, "verify", "--checkpoint", str(bad))
    assert rc == 1 and any(str(bad) in p for p in out["problems"]), out


def test_a_kiosks_copy_of_the_checkpoint_catches_deleted_checkpoints(tmp_path: Path) -> None:
    """The checkpoint travels to kiosks as dataset audit_checkpoint (signed manifest,
    real broker and worker): a kiosk's copy then shows what deleting the chain and the
    checkpoint from central's database hid."""
    dep = support.Deployment(tmp_path)
    with support.broker(tmp_path) as b:
        try:
            dep.init_central()
            kdir = dep.enroll("K1", b.url)
            number = dep.kiosk("K1", "apply", "--service", "non-conviction-certificate", "--field",
                               "full_name=Ali Hassan", "--field", "national_id=199012345678", "--field",
                               "mobile=07701234567").stdout.strip()
            dep.serve(b.url)
            dep.kiosk("K1", "sync", "--until-idle", "--timeout", "60", "--heartbeat", "0")
            db_path = tmp_path / "central.db"
            support.wait_until(lambda: support.sql_count(dep.db_url, "SELECT count(*) FROM audit_heads") >= 1,
                               timeout=60, what="the application's audit chain")
            assert _cli(dep.db_url, "checkpoint")[0] == 0

            def kiosk_copy() -> bytes | None:
                dep.kiosk("K1", "sync", "--until-idle", "--timeout", "30", "--heartbeat", "0")
                with sqlite3.connect(kdir / "kiosk.db") as c:
                    row = c.execute("SELECT body FROM datasets WHERE name='audit_checkpoint'").fetchone()
                return bytes(row[0]) if row else None

            copy = support.wait_until(kiosk_copy, timeout=120, interval=0.5, what="the kiosk's checkpoint copy")
        finally:
            dep.stop_all()
    with sqlite3.connect(db_path) as c:
        for table in ("audit_log", "audit_heads"):
            c.execute(f"DELETE FROM {table} WHERE subject=?", (number,))
        c.execute("DELETE FROM audit_checkpoints")
        c.execute("DELETE FROM datasets WHERE name='audit_checkpoint'")
    assert _cli(dep.db_url, "verify")[0] == 0  # nothing left in the database to disagree with
    (tmp_path / "from-kiosk.cose").write_bytes(copy)
    rc, out = _cli(dep.db_url, "verify", "--checkpoint", str(tmp_path / "from-kiosk.cose"))
    assert rc == 1 and len(out["problems"]) == 1 and "checkpoint 1 (from file" in out["problems"][0] \
        and "missing from the database (deleted)" in out["problems"][0], out
