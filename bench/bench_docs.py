"""Secured-document figures: kiosk per-frame verification, central online verification
with many documents in PostgreSQL, status-list size, QR version and printed size, and
what signing in the PKCS#11 token (SoftHSM2) costs against in-process signing.

Run: PYTHONPATH=. python -m bench.bench_docs   (PostgreSQL from $UR_BENCH_PG or the test DSN)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from nacl.signing import SigningKey as NaclKey
from PIL import Image, ImageFilter
from sqlalchemy import text as sql_text

from central import datasets as central_datasets
from central import db, document_render, hsm, keys, registry
from contract import cose_sign1, qr_text, rice_code, status_list, ur1
from contract.verdict import Status, Verdict
from kiosk import datasets as kiosk_datasets
from kiosk.devices import qr_image_decoder
from kiosk.documents import verifier as document_verifier
from kiosk.store import KioskStore

PG = os.environ.get("UR_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FIELDS = {"name": "محمد عبدالله حسن الجبوري", "number": "4471/ب/2026", "date": "2026-11-20"}
TARGET_DOCS = 10_000_000

rows: list[tuple[str, str, str, str, str]] = []


def add(figure: str, value: float | int | str, unit: str, goal: str, notes: str = "") -> None:
    v = f"{value:.3f}" if isinstance(value, float) else str(value)
    rows.append((figure, v, unit, goal, notes))


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs), p))


def typical_doc(session, now: int) -> registry.Document:
    return registry.issue(session, doc_type="certificate", agency="وزارة الداخلية", office="مديرية الجنسية العامة",
                          fields=FIELDS, now=now, expires_at=now + 365 * 86400)


def bench_qr_and_kiosk(tmp: Path) -> None:
    now = int(time.time())
    engine = db.make_engine(f"sqlite:///{tmp / 'central.db'}")
    db.init_schema(engine)
    S = db.sessions(engine)
    with S.begin() as s:
        keys.ensure(s, now - 60)
        doc = typical_doc(s, now)
        registry.publish_status(s, now)
        root = keys.root_key(s)
        trust_ds, status_ds = central_datasets.latest(s, "trust_list"), central_datasets.latest(s, "status_list")
        assert root is not None and trust_ds is not None and status_ds is not None  # made just above
        root_pub = root.public_key
    qr = qr_text.verification_text(doc.text, qr_text.DEFAULT_BASE)
    for ecc, thermal in (("M", False), ("Q", True)):
        code = qr_text.make_qr(qr, thermal=thermal)
        assert isinstance(code.version, int)  # a QR code (a Micro QR's version is "M1".."M4")
        side_mm = (code.version * 4 + 17 + 8) * 0.508
        add(f"QR version, typical document, ECC {ecc}", code.version, "version",
            "<= 15 (M)" if ecc == "M" else "-", f"{len(qr)} chars incl. address; {len(doc.text) - 4} Base45")
        add(f"QR printed side incl. quiet zone, ECC {ecc}", round(side_mm, 1), "mm", "35-60",
            "0.508 mm/module: 4 px at 200 dpi, 4 dots at 203 dpi")
    # Camera frame: page corner at 3.5 px/module, rotated 7 degrees, blurred, noisy, 640x480.
    page = document_render.render(doc_id=doc.id, doc_type=doc.doc_type, agency=doc.agency, office=doc.office,
                                  issued_at=doc.issued_at, expires_at=doc.expires_at, fields=doc.fields, body="", qr=qr)
    w, h = page.size
    crop = page.crop((0, h - 900, 900, h))
    crop = crop.resize((round(crop.width * 3.5 / 4), round(crop.height * 3.5 / 4)), Image.Resampling.BILINEAR)
    crop = crop.rotate(7, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255)
    frame_img = Image.new("L", (640, 480), 190)
    frame_img.paste(crop, ((640 - crop.width) // 2, (480 - crop.height) // 2))
    frame_img = frame_img.filter(ImageFilter.GaussianBlur(0.7))
    rgb = np.asarray(frame_img.convert("RGB")).astype(np.int16)
    rgb = np.clip(rgb + np.random.default_rng(1).normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)
    store = KioskStore(tmp / "kiosk")
    with store.tx() as ks:
        document_verifier.pin_root(ks, root_pub.hex())
        for ds in (trust_ds, status_ds):
            kiosk_datasets.install(ks, ds.name, ds.version, ds.body, ds.sha256)
    verifier = document_verifier.OfflineVerifier(store, recheck_after=1.0)
    assert verifier.verify(qr, now).ok
    every = document_verifier.OfflineVerifier(store)
    assert every.verify(qr, now).ok
    t0 = time.perf_counter()
    for _ in range(200):
        every.verify(qr, now)
    add("kiosk verify, store read on every call", (time.perf_counter() - t0) / 200 * 1e3, "ms", "-",
        "CLI setting (recheck_after=0); camera loop below uses 1 s")
    dec, ver, tot = [], [], []
    for _ in range(200):
        t0 = time.perf_counter()
        payloads = qr_image_decoder.decode_frame(rgb, thorough=False)
        t1 = time.perf_counter()
        v = verifier.verify(qr_image_decoder.single_text(payloads), now)
        t2 = time.perf_counter()
        assert v.ok, v.reason
        dec.append((t1 - t0) * 1e3)
        ver.append((t2 - t1) * 1e3)
        tot.append((t2 - t0) * 1e3)
    add("kiosk frame: decode+signature+status, median", statistics.median(tot), "ms", "< 10",
        "640x480 BGR, 3.5 px/module, 7 deg, blur, noise; 200 frames; fast pass")
    add("kiosk frame: p95", pct(tot, 95), "ms", "-", "")
    add("kiosk frame: zbar decode median", statistics.median(dec), "ms", "-", "binary mode, QR only, half-density pass")
    add("kiosk frame: verify median", statistics.median(ver), "ms", "-", "Base45+COSE+Ed25519 + status bit; lists re-checked at most once a second")
    # A frame of printed text without a code: what the loop pays while waiting for one.
    textonly = np.asarray(page.crop((200, 300, 1480, 1260)).resize((640, 480), Image.Resampling.BILINEAR))
    for thorough in (False, True):
        ts = []
        for _ in range(30):
            t0 = time.perf_counter()
            assert qr_image_decoder.decode_frame(textonly, thorough=thorough) == []
            ts.append((time.perf_counter() - t0) * 1e3)
        add(f"kiosk frame without a code, {'thorough' if thorough else 'fast pass'}", statistics.median(ts), "ms",
            "-", "page text only; thorough = half + full density + denoised retry")
    store.close()
    engine.dispose()


def _rate(fn, seconds: float = 2.0) -> float:
    """Calls per second of `fn`, run for about `seconds`."""
    n, t0 = 0, time.perf_counter()
    while (el := time.perf_counter() - t0) < seconds:
        for _ in range(20):
            fn()
        n += 20
    return n / el


def bench_token_signing(tmp: Path) -> None:
    """Central's keys sign in the token (central/hsm.py): each signature is a C_Sign
    through python-pkcs11 into SoftHSM2, against the in-process libraries they replaced."""
    data = bytes(range(256)) + b"x" * 44  # ~ a document's COSE Sig_structure (300 bytes)
    tok = hsm.token()
    ed = hsm.Ed25519TokenKey(tok.generate_ed25519("bench"))
    local, nacl = Ed25519PrivateKey.generate(), NaclKey.generate()
    r_tok, r_local, r_nacl = _rate(lambda: ed.sign(data)), _rate(lambda: local.sign(data)), _rate(lambda: nacl.sign(data))
    add("Ed25519 signatures/s, token (SoftHSM2)", round(r_tok), "1/s", "-",
        f"{1e6 / r_tok:.0f} us each: root, document and downlink keys; python-pkcs11 CKM_EDDSA")
    add("Ed25519 signatures/s, in process (cryptography)", round(r_local), "1/s", "-",
        f"{r_local / r_tok:.0f}x the token: what documents and lists used before")
    add("Ed25519 signatures/s, in process (PyNaCl)", round(r_nacl), "1/s", "-", "what the downlink key used before")
    p256 = hsm.P256TokenKey(tok.generate_p256("bench-ca"))
    local_ec = ec.generate_private_key(ec.SECP256R1())
    r_ec, r_ec_local = _rate(lambda: p256.sign_sha256(data)), _rate(lambda: local_ec.sign(data, ec.ECDSA(hashes.SHA256())))
    add("ECDSA P-256 signatures/s, token", round(r_ec), "1/s", "-", f"CA key; in process {round(r_ec_local):,}/s")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = datetime.now(UTC)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(local_ec.public_key())
         .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1)))
    r_cert, r_cert_local = _rate(lambda: hsm.sign_certificate(b, p256), 1.0), _rate(lambda: b.sign(local_ec, hashes.SHA256()), 1.0)
    add("certificates signed/s, token", round(r_cert), "1/s", "-",
        f"TBS from cryptography, signed in the token, DER put together; in process {round(r_cert_local):,}/s")
    # Whole documents (SQLite: allocate index, sign, insert, commit), signed in the token.
    engine = db.make_engine(f"sqlite:///{tmp / 'issue.db'}")
    db.init_schema(engine)
    S = db.sessions(engine)
    t = int(time.time())
    with S.begin() as s:
        keys.ensure(s, t - 60)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 3.0:
        with S.begin() as s:
            typical_doc(s, t)
        n += 1
    el = time.perf_counter() - t0
    add("documents issued/s, token, SQLite", round(n / el), "1/s", "-",
        f"{el / n * 1e3:.1f} ms each, of which {1e3 / r_tok:.1f} ms the token's signature")
    engine.dispose()
    tok.destroy(ed.kid)
    tok.destroy(p256.kid)


def bench_status_list_size() -> None:
    """Format 2 (Rice-coded gaps) against format 1 (zlib bitmap) on the same list, the
    entropy limit H(0.01) x 10^7 bits, and what a kiosk pays to read and query it."""
    n = TARGET_DOCS
    rng = np.random.default_rng(3)
    revoked = rng.choice(n, size=n // 100, replace=False)
    key = Ed25519PrivateKey.generate()
    root = key.public_key().public_bytes_raw()
    kid = cose_sign1.kid_of(root)
    t0 = time.perf_counter()
    sl = status_list.build(revoked.tolist(), n, 1, 0, 86400)
    body = status_list.encode(sl, key, kid)
    build = time.perf_counter() - t0
    limit = rice_code.binary_entropy(0.01) * n / 8
    assert isinstance(sl.revoked, rice_code.RiceSet)
    add("status list, 10M docs, 1% revoked (signed, format 2: Rice)", round(len(body) / 1000, 1), "KB", "<= 110",
        f"entropy limit {limit / 1000:.1f} KB (+{(len(body) / limit - 1) * 100:.1f}%); k={sl.revoked.k}; "
        f"built+signed in {build:.2f} s")
    v1 = status_list.encode_v1(sl, key, kid)
    add("status list, same list, format 1 (zlib bitmap)", round(len(v1) / 1000, 1), "KB", "-",
        f"{len(v1) / 1024:.1f} KiB; what central published before; kiosks still read it")
    t0 = time.perf_counter()
    got = status_list.decode(body, root)
    dec = time.perf_counter() - t0
    assert isinstance(got.revoked, rice_code.RiceSet) and got.revoked_count() == n // 100
    add("kiosk: check+index the 10M list", round(dec, 2), "s", "-",
        "signature, every code, padding; once per new list (cached by hash)")
    add("kiosk: memory held for the 10M list", round(got.revoked.memory_bytes() / 1000, 1), "KB", "bounded",
        f"codes + 16 B per {rice_code.STRIDE} revoked; the bitmap would be {n // 8 // 1000} KB")
    probe = rng.integers(0, n, size=20_000).tolist()
    want = set(revoked.tolist())
    t0 = time.perf_counter()
    for i in probe:
        assert got.is_revoked(i) == (i in want)
    add("kiosk: is_revoked on the 10M list", (time.perf_counter() - t0) / len(probe) * 1e6, "us", "-",
        f"bisect checkpoints, decode <= {rice_code.STRIDE} codes; 20,000 random indexes")
    sl5 = status_list.build([], n, 1, 0, 1)
    body5 = status_list.encode(sl5, key, kid)
    add("status list, 10M docs, none revoked", round(len(body5) / 1000, 1), "KB", "-", "")


def _old_lookup_verify(s, text: str, now: int, trust) -> Verdict:
    """Central's online verification as it was before issue 18 (the whole ORM row by
    primary key), kept here only to compare with registry.verify_online in one run."""
    def lookup(c):
        row = s.get(registry.Document, c.doc_id)
        if row is None:
            return Status.INVALID, "not in the registry"
        if row.status_index != c.status_index or row.body_sha256 != c.body_sha256.hex():
            return Status.INVALID, "mismatch"
        if row.revoked_at is not None:
            return Status.REVOKED, f"revoked: {row.revoke_reason}"
        return None

    return ur1.verify(text, trust, None, now, lookup=lookup, check_lists=False)


def _core_lookup_verify(s, text: str, now: int, trust) -> Verdict:
    """Central's online verification as it was before the prepared statement (the Core
    select of four columns through the session), kept here only to compare in one run."""
    return ur1.verify(text, trust, None, now, check_lists=False,
                      lookup=lambda c: registry.registry_check(c, s.execute(registry._VERIFY_LOOKUP,
                                                                             {"id": c.doc_id}).first()))


def bench_central_pg() -> None:
    try:
        dsn = PG.replace("postgresql+psycopg://", "postgresql://")
        psycopg.connect(dsn, connect_timeout=3).close()
    except Exception as e:  # noqa: BLE001 - report, do not fail the other figures
        add("central online verify", "n/a", "", "p99 < 2 ms", f"PostgreSQL unavailable: {e}")
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{schema}"
    engine = db.make_engine(url)
    try:
        db.init_schema(engine)
        S = db.sessions(engine)
        now = int(time.time())
        # Bulk rows first, all TARGET_DOCS of them, generated in the database by
        # generate_series into an UNLOGGED table with no index at all (the primary key
        # too), then the primary key, unique constraints and indexes built once each
        # (a sorted build instead of 10M random B-tree inserts), then real signed
        # documents on top whose verification we time.
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE ur1_documents SET UNLOGGED")
            idx = [(r[0], r[1]) for r in conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ur1_documents' AND schemaname = current_schema() "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'ur1_documents'::regclass)")]
            for (name,) in conn.exec_driver_sql(
                    "SELECT conname FROM pg_constraint WHERE conrelid = 'ur1_documents'::regclass AND contype IN ('u', 'p')").all():
                conn.exec_driver_sql(f'ALTER TABLE ur1_documents DROP CONSTRAINT "{name}"')
            for name, _ in idx:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
        chunk, loaded = 2_500_000, 0
        while loaded < TARGET_DOCS:
            with engine.begin() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO ur1_documents (id, doc_type, agency, office, issued_at, fields_json, body, "
                    "body_sha256, status_index, kid, text, revoked_at) "
                    f"SELECT 'B' || g, 'certificate', 'MOI', '', {now - 86400}, '{{}}', '', lpad(to_hex(g), 64, '0'), "
                    f"g, '0000000000000000', 'UR1:', CASE WHEN g %% 100 = 0 THEN {now} END "
                    f"FROM generate_series({loaded}, {min(loaded + chunk, TARGET_DOCS) - 1}) g")
            loaded = min(loaded + chunk, TARGET_DOCS)
        t_ins = time.perf_counter() - t0
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
            conn.exec_driver_sql("ALTER TABLE ur1_documents ADD PRIMARY KEY (id)")
            conn.exec_driver_sql("ALTER TABLE ur1_documents ADD UNIQUE (status_index)")
            conn.exec_driver_sql("ALTER TABLE ur1_documents ADD UNIQUE (request_id)")
            for _, d in idx:
                conn.exec_driver_sql(d)
            conn.exec_driver_sql("ANALYZE ur1_documents")
        load_s = time.perf_counter() - t0
        add("central: documents in PostgreSQL", loaded, "rows", f"{TARGET_DOCS:,}",
            f"generate_series {t_ins:.0f} s + keys and indexes {load_s - t_ins:.0f} s (before: 8M in a 45 s budget)")
        with S.begin() as s:
            keys.ensure(s, now - 60)
            docs = [typical_doc(s, now) for _ in range(200)]
            registry.revoke(s, docs[0].id, "bench", now, publish=False)
        with S.begin() as s:
            trust = keys.trust(s, now)
        rounds = 3000
        # The route that serves online verification to the public (central/web/verifier.py):
        # one raw psycopg read on an async connection, and a code's signature check kept
        # after its first scan; `max_passed=0` keeps nothing, so every call pays decode and
        # signature as a first scan does.
        from central.web import verifier as web_verifier

        loop = asyncio.new_event_loop()
        kept = web_verifier.Verifier(web_verifier.PgReader(engine), db.read_sessions(engine))
        unkept = web_verifier.Verifier(web_verifier.PgReader(engine), db.read_sessions(engine), max_passed=0)
        paths = (("before: ORM row by primary key", lambda s, t: _old_lookup_verify(s, t, now, trust)),
                 ("before: Core select of four columns", lambda s, t: _core_lookup_verify(s, t, now, trust)),
                 ("now: registry.verify_online (prepared)", lambda s, t: registry.verify_online(s, t, now, trust)),
                 ("without a trust list (keys read from the key table per call)",
                  lambda s, t: registry.verify_online(s, t, now)),
                 ("now: the web route's verifier, every scan a first scan",
                  lambda s, t: loop.run_until_complete(unkept.verdict(t, now))[0]),
                 ("now: the web route's verifier, codes kept after their first scan",
                  lambda s, t: loop.run_until_complete(kept.verdict(t, now))[0]))
        lat: dict[str, list[float]] = {name: [] for name, _ in paths}
        cpu: dict[str, list[float]] = {name: [] for name, _ in paths}
        with S() as s:
            for _name, fn in paths:  # warm both paths and the buffers they touch
                for d in docs[1:]:
                    fn(s, d.text)
                    s.rollback()
            for i in range(rounds):  # interleaved, so machine load hits all alike
                d = docs[1 + i % (len(docs) - 1)]
                for name, fn in paths:
                    c1, t1 = time.thread_time(), time.perf_counter()
                    v = fn(s, d.text)
                    lat[name].append((time.perf_counter() - t1) * 1e3)
                    cpu[name].append((time.thread_time() - c1) * 1e3)
                    assert v.ok, v
                    s.rollback()
            assert registry.verify_online(s, docs[0].text, now, trust).status == "REVOKED"
            for ver in (kept, unkept):
                assert loop.run_until_complete(ver.verdict(docs[0].text, now))[0].status == "REVOKED"
                loop.run_until_complete(ver.reader.aclose())
            loop.close()
            # The registry lookup alone for random documents among all 10M rows (cold pages
            # included), as the verdict's lookup runs it, and PostgreSQL's own execution time.
            rnd = np.random.default_rng(5).integers(0, loaded, size=3000).tolist()
            look, look_core, server = [], [], []
            for g in rnd:
                t1 = time.perf_counter()
                row = s.execute(registry._VERIFY_LOOKUP, {"id": f"B{g}"}).first()
                look_core.append((time.perf_counter() - t1) * 1e3)
                assert row is not None and row.status_index == g
                s.rollback()
                t1 = time.perf_counter()
                row = registry.lookup_row(s, f"B{(g + 1) % loaded}")  # a neighbour: not the page just read
                look.append((time.perf_counter() - t1) * 1e3)
                assert row is not None and row.status_index == (g + 1) % loaded
                s.rollback()
            for g in rnd[:300]:
                plan = s.execute(sql_text("EXPLAIN (ANALYZE, FORMAT JSON) SELECT status_index, body_sha256, revoked_at, "
                                          "revoke_reason FROM ur1_documents WHERE id = :id"), {"id": f"B{g}"}).scalar()
                assert plan is not None
                server.append(float(plan[0]["Execution Time"]))
                s.rollback()
        load = os.getloadavg()
        for name, _ in paths:
            add(f"central online verify p50, {name}", statistics.median(lat[name]), "ms", "-",
                f"{loaded + len(docs):,} documents; {rounds} verifications of {len(docs) - 1} documents")
            add(f"central online verify p99, {name}", pct(lat[name], 99), "ms", "< 2",
                f"wall; load average {load[0]:.1f} on {os.cpu_count()} cores (was 3.5 ms at 8M)")
            add(f"... CPU of this process per verify p50/p99, {name}",
                f"{statistics.median(cpu[name]):.3f}/{pct(cpu[name], 99):.3f}", "ms", "-",
                "thread CPU time: what the verification costs without waiting for a core")
        add("registry lookup alone, random rows, Core select p50/p99",
            f"{statistics.median(look_core):.3f}/{pct(look_core, 99):.3f}",
            "ms", "-", f"round trip through the session, 3000 random ids of {loaded:,}")
        add("registry lookup alone, random rows, registry.lookup_row p50/p99",
            f"{statistics.median(look):.3f}/{pct(look, 99):.3f}", "ms", "-", "prepared statement, driver connection")
        add("... PostgreSQL execution time p50/p99", f"{statistics.median(server):.3f}/{pct(server, 99):.3f}", "ms", "-",
            "EXPLAIN ANALYZE: primary key index scan, 300 random ids")
        with S.begin() as s:
            t1 = time.perf_counter()
            sl = registry.build_status(s, now)
            t2 = time.perf_counter()
        add("central: build status list from PostgreSQL", round(t2 - t1, 2), "s", "-",
            f"{sl.size:,} indexes, {sl.revoked_count():,} revoked (partial index)")
    finally:
        engine.dispose()
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main(argv: list[str] | None = None) -> None:
    global TARGET_DOCS
    ap = argparse.ArgumentParser(prog="bench_docs")
    ap.add_argument("--docs", type=int, default=TARGET_DOCS, help="documents loaded in PostgreSQL (default 10M)")
    ap.add_argument("--central-only", action="store_true", help="only central's online verification")
    a = ap.parse_args(argv or [])
    TARGET_DOCS = a.docs
    with tempfile.TemporaryDirectory() as d:
        # A SoftHSM2 token of the bench's own unless one is configured (central/hsm.py).
        os.environ.setdefault("UR_CENTRAL_HSM_DIR", str(Path(d) / "hsm"))
        if not a.central_only:
            bench_qr_and_kiosk(Path(d))
            bench_token_signing(Path(d))
            bench_status_list_size()
        bench_central_pg()
    load = os.getloadavg()
    add("machine load average (1/5 min) during run", f"{load[0]:.1f}/{load[1]:.1f}", "", "-",
        f"{os.cpu_count()} cores shared with other work; timings scale with it")
    widths = [max(len(r[i]) for r in [("figure", "value", "unit", "goal", "baseline/notes"), *rows]) for i in range(5)]
    header = ("figure", "value", "unit", "goal", "baseline/notes")
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main(sys.argv[1:])
