"""Status events from central's feed, applied a page at a time at the kiosk:
the same outcome as one by one, idempotent, and a bad event is skipped
without holding up the rest (real SQLite store, real enrolled kiosk)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from contract import downlink as dl
from kiosk import applications, identity
from kiosk.store import KioskStore
from kiosk.sync import cursor, downlink
from tests import support

# Central's times are after the kiosk took the applications (now), except T_OLD.
_BASE = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
T0, T1, T_OLD = (_BASE.isoformat(), (_BASE + timedelta(minutes=5)).isoformat(),
                 (_BASE - timedelta(minutes=30)).isoformat())
FORM = {"full_name": "Ali", "national_id": "199001234567", "mobile": "07701234567"}


def _store(tmp_path: Path) -> tuple[KioskStore, list[str]]:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    dep.enroll("K1", "mqtt://127.0.0.1:1")
    store = KioskStore(dep.kiosk_dir("K1"))
    ident = identity.load(store)
    numbers = [applications.submit(store, ident, "non-conviction-certificate", FORM).tracking for _ in range(3)]
    return store, numbers


def _ev(eid: int, number: str, status: str, at: str, **extra: object) -> dict[str, object]:
    return {"id": eid, "kind": "status", "payload": {"tracking": number, "status": status, "at": at, **extra}}


def test_page_applied_at_once_matches_one_by_one_and_skips_bad_events(tmp_path: Path) -> None:
    store, (a, b, c) = _store(tmp_path)
    page = [
        _ev(1, a, "received", T0),
        _ev(2, b, "received", T0),
        _ev(3, a, "in_review", T1, step="check", agency="moi"),
        {"id": 4, "kind": "status", "payload": {"status": "approved"}},  # no tracking number
        _ev(5, b, "approved", T_OLD),  # older than b's current: history only
        {"id": 6, "kind": "no_such_kind", "payload": {}},
        _ev(7, c, "received", T0),
        _ev(8, c, "returned", T0, note="photo"),  # same time: the later wins
    ]
    feed = downlink.Downlink(store, "K1")
    feed.on_response("events", dl.encode("events", events=page, more=False))
    with store.session() as s:
        assert cursor.get_int(s, downlink.EVENTS_CURSOR) == 8
        assert applications.status(s, a)["status"] == "in_review"
        assert applications.status(s, c)["status"] == "returned"
        kiosk_b = s.get(applications.KioskApplication, b)
        assert kiosk_b is not None and kiosk_b.status == "received"
        got = sorted(s.query(applications.StatusHistory.event_id).all())
    assert [g[0] for g in got] == [1, 2, 3, 5, 7, 8]

    # One event at a time gives the same application rows.
    other, (a2, b2, c2) = _store(tmp_path / "other")
    rename = {a: a2, b: b2, c: c2}
    with other.tx() as s:
        for ev in page:
            p = dict(ev["payload"])  # type: ignore[arg-type]
            if ev["kind"] != "status" or "tracking" not in p:
                continue
            p["tracking"] = rename[str(p["tracking"])]
            assert applications.apply_status_events(s, [(int(ev["id"]), p)]) == []  # type: ignore[call-overload]
    with store.session() as s1, other.session() as s2:
        for n in (a, b, c):
            r1 = s1.get(applications.KioskApplication, n)
            r2 = s2.get(applications.KioskApplication, rename[n])
            assert r1 is not None and r2 is not None
            assert (r1.status, r1.status_at, r1.status_detail) == (r2.status, r2.status_at, r2.status_detail)

    # The same page again (a lost answer asked twice) changes nothing.
    feed.on_response("events", dl.encode("events", events=page, more=False))
    with store.session() as s:
        assert s.query(applications.StatusHistory).count() == 6
