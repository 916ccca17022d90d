"""Status events from central's feed, applied a page at a time at the kiosk:
in central's event order whatever the clocks say, the same outcome as one by
one, idempotent, a bad event skipped without holding up the rest; and only
pages central signed for this kiosk, in answer to its own request, move the
cursor (real SQLite store, real enrolled kiosk, central's real downlink key)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central import db, downlink_key
from contract import downlink as dl
from contract import topics
from kiosk import datasets, identity
from kiosk.applications import applications
from kiosk.context import wire_sync_handlers
from kiosk.store import KioskStore
from kiosk.sync import cursor, downlink
from tests import support

# sync imports no business module: the capabilities register their feed handlers
wire_sync_handlers()

_BASE = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
T0, T1, T_OLD = (_BASE.isoformat(), (_BASE + timedelta(minutes=5)).isoformat(),
                 (_BASE - timedelta(minutes=30)).isoformat())
FORM = {"full_name": "Ali", "national_id": "199001234567", "mobile": "07701234567"}
EVENTS = topics.down("K1", "events")


def _store(tmp_path: Path) -> tuple[KioskStore, identity.Identity, list[str], downlink_key.DownlinkSigner]:
    dep = support.Deployment(tmp_path)
    dep.init_central()
    dep.enroll("K1", "mqtt://127.0.0.1:1")
    store = KioskStore(dep.kiosk_dir("K1"))
    ident = identity.load(store)
    numbers = [applications.submit(store, ident, "non-conviction-certificate", FORM).tracking for _ in range(3)]
    engine = db.make_engine(dep.db_url)
    with db.sessions(engine).begin() as s:
        signer = downlink_key.signer(s)
    engine.dispose()
    return store, ident, numbers, signer


def _ev(eid: int, number: str, status: str, at: str, **extra: object) -> dict[str, object]:
    return {"id": eid, "kind": "status", "payload": {"tracking": number, "status": status, "at": at, **extra}}


def _answer(feed: downlink.Downlink, signer: downlink_key.DownlinkSigner, page: list[Any]) -> None:
    """Deliver a signed page as the answer to a request the feed made."""
    corr = feed.expect("events")
    v = feed.accept(EVENTS, dl.seal(signer.sign, "events", "K1", {"events": page, "more": False}, re=corr))
    assert v is not None
    feed.on_response(v)


def test_page_applied_in_event_order_matches_one_by_one_and_skips_bad_events(tmp_path: Path) -> None:
    store, ident, (a, b, c), signer = _store(tmp_path)
    page = [
        _ev(1, a, "received", T0),
        _ev(2, b, "received", T0),
        _ev(3, a, "in_review", T1, step="check", agency="moi"),
        {"id": 4, "kind": "status", "payload": {"status": "approved"}},  # no tracking number
        _ev(5, b, "approved", T_OLD),  # an earlier time, a later event: central's order wins
        {"id": 6, "kind": "no_such_kind", "payload": {}},
        _ev(7, c, "received", T0),
        _ev(8, c, "returned", T0, note="photo"),
    ]
    feed = downlink.Downlink(store, "K1", ident.downlink_public_key)
    _answer(feed, signer, page)
    with store.session() as s:
        assert cursor.get_int(s, downlink.EVENTS_CURSOR) == 8
        assert applications.status(s, a)["status"] == "in_review"
        assert applications.status(s, b)["status"] == "approved"
        assert applications.status(s, c)["status"] == "returned"
        kiosk_b = s.get(applications.KioskApplication, b)
        assert kiosk_b is not None and kiosk_b.status == "approved"
        got = sorted(s.query(applications.StatusHistory.event_id).all())
    assert [g[0] for g in got] == [1, 2, 3, 5, 7, 8]

    # One event at a time gives the same application rows.
    other, _i, (a2, b2, c2), _s = _store(tmp_path / "other")
    rename = {a: a2, b: b2, c: c2}
    with other.tx() as s:
        for ev in page:
            p = dict(ev["payload"])
            if ev["kind"] != "status" or "tracking" not in p:
                continue
            p["tracking"] = rename[str(p["tracking"])]
            assert applications.apply_status_events(s, [(int(ev["id"]), p)]) == []  # type: ignore[call-overload]  # the feed payload is a plain dict of wire values
    with store.session() as s1, other.session() as s2:
        for n in (a, b, c):
            r1 = s1.get(applications.KioskApplication, n)
            r2 = s2.get(applications.KioskApplication, rename[n])
            assert r1 is not None and r2 is not None
            assert (r1.status, r1.status_at, r1.status_detail) == (r2.status, r2.status_at, r2.status_detail)

    # The same page again (a lost answer asked twice) changes nothing.
    _answer(feed, signer, page)
    with store.session() as s:
        assert s.query(applications.StatusHistory).count() == 6


def test_only_signed_solicited_pages_for_this_kiosk_move_the_cursor(tmp_path: Path) -> None:
    store, ident, (a, _b, _c), signer = _store(tmp_path)
    feed = downlink.Downlink(store, "K1", ident.downlink_public_key)
    evil = [_ev(10**15, a, "rejected", T0)]
    stranger = Ed25519PrivateKey.generate()
    corr = feed.expect("events")
    attempts = {
        "signature": dl.seal(stranger.sign, "events", "K1", {"events": evil, "more": False}, re=corr),
        "wrong_kiosk": dl.seal(signer.sign, "events", "K2", {"events": evil, "more": False}, re=corr),
        "unsolicited": dl.seal(signer.sign, "events", "K1", {"events": evil, "more": False}, re=b"guessed"),
        "malformed": dl.seal(signer.sign, "events", "K1", {"events": evil, "more": False}, re=corr) + b"\x00\xff",
    }
    for code, wire in attempts.items():
        assert feed.accept(EVENTS, wire) is None, code
    # A genuine page for this kiosk on the ack topic is refused too.
    assert feed.accept(topics.down("K1", "ack"), dl.seal(signer.sign, "events", "K1", {"events": evil}, re=corr)) is None
    feed.flush()
    with store.session() as s:
        assert cursor.get_int(s, downlink.EVENTS_CURSOR) == 0
        assert applications.status(s, a)["status"] == "queued"
        assert downlink.dropped_counts(s) == {"signature": 1, "wrong_kiosk": 1, "unsolicited": 1, "malformed": 1,
                                              "topic": 1}
    # The genuine answer to that request still counts, once; replayed, it is refused.
    genuine = dl.seal(signer.sign, "events", "K1", {"events": [_ev(3, a, "received", T0)], "more": False}, re=corr)
    v = feed.accept(EVENTS, genuine)
    assert v is not None
    feed.on_response(v)
    assert feed.accept(EVENTS, genuine) is None
    feed.flush()
    with store.session() as s:
        assert cursor.get_int(s, downlink.EVENTS_CURSOR) == 3
        assert applications.status(s, a)["status"] == "received"
        assert downlink.dropped_counts(s)["unsolicited"] == 2
        skew = downlink.clock_skew(s)
        assert skew is not None and abs(skew[0]) < 60_000  # same machine: central's clock and ours agree


def test_dataset_installed_only_as_a_signed_manifest_announced_it(tmp_path: Path) -> None:
    store, ident, _numbers, signer = _store(tmp_path)
    feed = downlink.Downlink(store, "K1", ident.downlink_public_key)
    body = b'{"fines": []}'
    sha = hashlib.sha256(body).hexdigest()
    answer_topic = topics.down("K1", "dataset")

    def answer(version: int, digest: str = sha) -> None:
        corr = feed.expect("dataset:fines")
        v = feed.accept(answer_topic, dl.seal(signer.sign, "dataset", "K1", {
            "name": "fines", "version": version, "sha256": digest, "body": body}, re=corr))
        assert v is not None
        feed.on_response(v)

    answer(3)  # signed, solicited, but no manifest announced fines at all
    manifest = dl.seal(signer.sign, "manifest", dl.BROADCAST, dl.manifest_fields("fines", 3, sha, len(body)))
    m = feed.accept(topics.manifest("fines"), manifest)
    assert m is not None
    feed.on_manifest(m.msg)
    assert feed.wanted == {"fines": (3, sha)}
    answer(10**9)  # a version jump beyond the manifest
    answer(3, "00" * 32)  # the announced version with another hash
    with store.session() as s:
        assert datasets.current(s, "fines") is None
    answer(3)  # what the manifest announced
    feed.flush()
    with store.session() as s:
        ds = datasets.current(s, "fines")
        assert ds is not None and (ds.version, ds.body) == (3, body)
        assert downlink.dropped_counts(s) == {"not_announced": 3}
    assert feed.wanted == {}
    # The manifest of one dataset on another dataset's topic is refused.
    assert feed.accept(topics.manifest("catalogue"), manifest) is None
