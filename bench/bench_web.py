"""Central's web service under load, on PostgreSQL, on the real server
(`ur-central web --workers 2`, uvicorn) in its own processes:

- the public verification page `/UR1/<Base32>` and its JSON twin with 1,000,000
  documents in the registry, driven by `wrk` (Debian's, a C load generator in its own
  process), against the same server's trivial `/health` route in the same run as the
  baseline. Goal: verification at >= 40% of the health route's rate, p99 < 50 ms.
- the clerk's worklist page for an agency holding 100,000 open cases, one person
  clicking (sequential requests with the session cookie): p95 < 150 ms.

The 1,000,000 rows are loaded in bulk (generate_series, as bench_docs does; their QR
text is never read); the documents whose codes are verified are issued through
registry.issue and signed by the token, so every request does the real work: the
registry read by primary key among the million (with the trust list's version), and
the verdict. Each serving process keeps a code whose signature passed (and its rendered
VALID answer), so the SIGNED codes cycled here pay decode and signature check once per
process: that cost is printed on its own (in-process CPU per first scan).
Besides the rates, the server's own CPU per request is printed, which the load of other
work on a shared machine changes much less than the rates.
The open cases are copies of a real case's state under 100,000 real tracking numbers.

Run: PYTHONPATH=. python -m bench.bench_web   (PostgreSQL from $UR_BENCH_PG or the test DSN)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench import harness
from bench.table import print_table
from central import applications, casework, db, keys, registry
from central import catalogue as central_catalogue
from contract import qr_text, tracking, ur1

PG = os.environ.get("UR_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DOCUMENTS = 1_000_000
OPEN_CASES = 100_000
SIGNED = 200  # real documents whose codes the load generator cycles through
AGENCY = "moi-criminal-evidence"
WORKERS = 2
CONNECTIONS = 32
SECONDS = 10
WORKLIST_VIEWS = 100
FIELDS = {"name": "محمد عبدالله حسن الجبوري", "number": "4471/ب/2026", "date": "2026-11-20"}

rows: list[tuple[object, ...]] = []


def add(figure: str, value: object, unit: str, goal: str, notes: str = "") -> None:
    rows.append((figure, value, unit, goal, notes))


def _load_documents(engine: object, now: int) -> float:
    """DOCUMENTS filler rows in one statement, secondary indexes rebuilt after (seconds taken)."""
    t0 = time.perf_counter()
    with engine.begin() as conn:  # type: ignore[attr-defined]  # engine is an SQLAlchemy Engine, typed object here
        idx = [r[0] for r in conn.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'ur1_documents' AND schemaname = current_schema() "
            "AND indexname NOT LIKE '%%pkey'")]
        for (name,) in conn.exec_driver_sql(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'ur1_documents'::regclass AND contype = 'u'").all():
            conn.exec_driver_sql(f'ALTER TABLE ur1_documents DROP CONSTRAINT "{name}"')
        for (name,) in conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'ur1_documents' AND schemaname = current_schema() "
                "AND indexname NOT LIKE '%%pkey'").all():
            conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{name}"')
        conn.exec_driver_sql(
            "INSERT INTO ur1_documents (id, doc_type, agency, office, issued_at, fields_json, body, "
            "body_sha256, status_index, kid, text, revoked_at) "
            f"SELECT 'B' || g, 'certificate', 'MOI', '', {now - 86400}, '{{}}', '', lpad(to_hex(g), 64, '0'), "
            f"g + 100000000, '0000000000000000', 'UR1:', CASE WHEN g %% 100 = 0 THEN {now} END "
            f"FROM generate_series(1, {DOCUMENTS - SIGNED}) g")
        conn.exec_driver_sql("ALTER TABLE ur1_documents ADD UNIQUE (status_index)")
        conn.exec_driver_sql("ALTER TABLE ur1_documents ADD UNIQUE (request_id)")
        for d in idx:
            if "UNIQUE" not in d:
                conn.exec_driver_sql(d)
        conn.exec_driver_sql("ANALYZE ur1_documents")
    return time.perf_counter() - t0


def _load_cases(engine: object, dsn: str, schema: str) -> float:
    """OPEN_CASES open cases for AGENCY: one real application's case, copied under real
    tracking numbers with SLA clocks spread from 5 days overdue to 10 days ahead."""
    S = db.sessions(engine)  # type: ignore[arg-type]  # engine is an SQLAlchemy Engine, typed object here
    first = tracking.make(9, 1)
    with S.begin() as s:
        central_catalogue.publish(s, central_catalogue.load_seed())
    with S.begin() as s:
        applications.handle_submission(s, "K1", "bench-1", {
            "tracking": first, "service_id": "non-conviction-certificate", "catalogue_version": 1,
            "fee_total": 10000, "fields": {"full_name": "زينب علي", "national_id": "199001234567",
                                           "mobile": "07801234567"}, "submitted_at": datetime.now(UTC).isoformat()})
    with S() as s:
        tpl = s.get(casework.CaseRow, first)
        assert tpl is not None and tpl.agency == AGENCY and tpl.status == "in_review"
        cols = (tpl.subject, tpl.service_id, tpl.workflow, tpl.status, tpl.agency, tpl.role, tpl.state)

    t0 = time.perf_counter()
    now = datetime.now(UTC)
    with psycopg.connect(dsn, options=f"-csearch_path={schema}") as c, c.cursor() as cur:
        with cur.copy("COPY cases (number, subject, service_id, workflow, status, agency, role, sla_due, "
                      "escalated, state, updated_at) FROM STDIN") as cp:
            for i in range(2, OPEN_CASES + 1):
                due = now + timedelta(minutes=(i * 7919) % (15 * 24 * 60) - 5 * 24 * 60)
                cp.write_row((tracking.make(9, i), *cols[:6], due, False, cols[6], now))
        cur.execute("ANALYZE cases")
    return time.perf_counter() - t0


def _wrk(url: str, paths: list[str], tmp: Path) -> dict[str, float]:
    """One wrk run over `paths` in turn: requests/s, p50, p99 (ms), errors."""
    script = tmp / f"paths-{uuid.uuid4().hex[:6]}.lua"
    script.write_text("paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n"
                      "i = 0\n"
                      "request = function()\n  i = i + 1\n  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n")
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, timeout=SECONDS + 60, check=True).stdout

    def ms(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:.*", out)
    assert rps, out
    return {"rps": float(rps.group(1)), "p50": ms("50"), "p99": ms("99"),
            "errors": float(bad.group(1)) if bad else 0.0, "socket": 1.0 if errs else 0.0}


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the server process and its workers so far."""
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for p in [str(pid), *kids]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _wrk_cpu(url: str, paths: list[str], tmp: Path, pid: int) -> dict[str, float]:
    """_wrk, plus the server's own CPU milliseconds per request (its processes only, not
    PostgreSQL's or wrk's): on a machine shared with other work the rate follows the
    cores the server gets, its CPU per request much less so."""
    c0 = _tree_cpu(pid)
    r = _wrk(url, paths, tmp)
    r["cpu_ms"] = (_tree_cpu(pid) - c0) * 1e3 / max(1.0, r["rps"] * SECONDS)
    return r


def _login(url: str, user: str, pw: str) -> str:
    """The staff session cookie after a real login (form with its CSRF token)."""
    with urllib.request.urlopen(url + "/staff/login") as r:
        html = r.read().decode()
        cookie = r.headers["Set-Cookie"].split(";", 1)[0]
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:300]
    body = urllib.parse.urlencode({"username": user, "password": pw, "totp": "", "csrf": m.group(1)}).encode()
    req = urllib.request.Request(url + "/staff/login", data=body, headers={"Cookie": cookie})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: object, **k: object) -> None:
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(req)
        raise AssertionError("login did not redirect")
    except urllib.error.HTTPError as e:
        assert e.code == 303, e.code
        return str(e.headers["Set-Cookie"]).split(";", 1)[0]


def _worklist(url: str, cookie: str, page: int) -> list[float]:
    lat = []
    for _ in range(WORKLIST_VIEWS):
        req = urllib.request.Request(f"{url}/staff?page={page}", headers={"Cookie": cookie})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req) as r:
            body = r.read()
        lat.append((time.perf_counter() - t0) * 1e3)
        assert r.status == 200 and b"/staff/case/" in body
    return lat


def _p(xs: list[float], q: int) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1]


def bench(tmp: Path) -> None:
    from central.web import accounts

    dsn = PG.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_web_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{schema}"
    engine = db.make_engine(url)
    server: subprocess.Popen[bytes] | None = None
    try:
        db.init_schema(engine)
        now = int(time.time())
        load_s = _load_documents(engine, now)
        S = db.sessions(engine)
        with S.begin() as s:
            keys.ensure(s, now - 60)
            docs = [registry.issue(s, doc_type="certificate", agency="وزارة الداخلية", office="مديرية الجنسية العامة",
                                   fields=FIELDS, now=now - 30, expires_at=now + 365 * 86400) for _ in range(SIGNED)]
            accounts.add(s, "bench-clerk", "Bench Clerk", AGENCY, "clerk", "bench password 1")
        cases_s = _load_cases(engine, dsn, schema)
        with engine.connect() as conn:
            n_docs = conn.exec_driver_sql("SELECT count(*) FROM ur1_documents").scalar_one()
            n_cases = conn.exec_driver_sql(
                f"SELECT count(*) FROM cases WHERE agency = '{AGENCY}' AND status = 'in_review'").scalar_one()
        add("documents in the registry", n_docs, "rows", f"{DOCUMENTS:,}", f"bulk load + indexes {load_s:.0f} s")
        add("open cases of one agency", n_cases, "rows", f"{OPEN_CASES:,}", f"loaded in {cases_s:.0f} s")

        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        server = subprocess.Popen(
            [sys.executable, "-m", "central.cli", "--db", url, "web", "--listen", f"127.0.0.1:{port}",
             "--workers", str(WORKERS), "--secret-file", str(tmp / "web-secret"), "--insecure-cookies",
             "--rate-limit", "1000000000"], env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "web.log", "wb"))
        _wait_health(base, server, tmp / "web.log")
        paths = ["/UR1/" + qr_text.verification_text(d.text, qr_text.DEFAULT_BASE).split("/UR1/", 1)[1]
                 for d in docs]
        # The code verifies before the load starts: a bench of error pages would be worthless.
        with urllib.request.urlopen(base + "/api/v1/verify" + paths[0]) as r:
            assert json.loads(r.read())["status"] == "VALID"
        _wrk(base, ["/health"], tmp)  # warm-up: connections, imports, caches of both workers
        _wrk(base, paths[:20], tmp)
        load0 = os.getloadavg()[0]
        health = _wrk_cpu(base, ["/health"], tmp, server.pid)
        page = _wrk_cpu(base, paths, tmp, server.pid)
        api = _wrk_cpu(base, ["/api/v1/verify" + p for p in paths], tmp, server.pid)
        load1 = os.getloadavg()[0]
        for name, r in (("health", health), ("verification page", page), ("verification JSON", api)):
            assert r["errors"] == 0, f"{name}: {r['errors']:.0f} answers were not 2xx"
        note = f"wrk -t1 -c{CONNECTIONS} -d{SECONDS}s; {WORKERS} uvicorn workers; 2 cores shared with wrk"
        add("/health (baseline), requests/s", round(health["rps"]), "1/s", "-", note)
        add("/health p50 / p99", f"{health['p50']:.1f} / {health['p99']:.1f}", "ms", "-", "")
        add("/health, server CPU per request", round(health["cpu_ms"], 3), "ms", "-",
            "the uvicorn processes' user + system time / requests")
        for name, r in (("verification page /UR1/…", page), ("verification JSON /api/v1/verify/UR1/…", api)):
            share = r["rps"] / health["rps"] * 100
            add(f"{name}, requests/s", round(r["rps"]), "1/s", ">= 40% of /health",
                f"{share:.0f}% of /health; {SIGNED} signed codes in turn among {n_docs:,} rows")
            add(f"{name}, p50", round(r["p50"], 1), "ms", "-", "")
            add(f"{name}, p99", round(r["p99"], 1), "ms", "< 50", "")
            add(f"{name}, server CPU per request", round(r["cpu_ms"], 3), "ms", "-",
                f"{r['cpu_ms'] / health['cpu_ms']:.2f}x /health's")
        # What the kept codes save: a code's first scan in a process pays decode and signature
        # check on top of the figures above (the bench's codes are all kept after their first).
        with S() as s:
            trust = keys.trust(s, now)
        t0 = time.process_time()
        for d in docs:
            assert ur1.verify(d.text, trust, None, now, lookup=lambda c: None, check_lists=False).ok
        first_ms = (time.process_time() - t0) * 1e3 / len(docs)
        add("a code's first scan in a process: decode + signature check, CPU", round(first_ms, 3), "ms", "-",
            "added to a request once per code and process (later scans reuse it, central/web/verifier.py)")
        add("load average (1 min) before / after the three runs", f"{load0:.1f} / {load1:.1f}", "", "-",
            "2 cores; other work on the machine shows here")

        cookie = _login(base, "bench-clerk", "bench password 1")
        first = _worklist(base, cookie, 1)
        deep = _worklist(base, cookie, OPEN_CASES // 100 // 2)
        add("clerk worklist, page 1 (overdue first), p50", round(statistics.median(first), 1), "ms", "-",
            f"{WORKLIST_VIEWS} views one after another; 100 rows a page of {n_cases:,}")
        add("clerk worklist, page 1, p95", round(_p(first, 95), 1), "ms", "< 150", "")
        add(f"clerk worklist, page {OPEN_CASES // 100 // 2}, p95", round(_p(deep, 95), 1), "ms", "-",
            "a page in the middle (SQL offset)")
    finally:
        if server is not None:
            harness.stop(server, grace=30)
        engine.dispose()
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_health(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"ur-central web exited {server.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("ur-central web did not answer /health within 120 s")


def main() -> None:
    title = "central web service on PostgreSQL (real uvicorn server, wrk in its own process)"
    if shutil.which("wrk") is None:
        add("web figures", "n/a", "", "-", "Debian's wrk is not installed (make setup installs it)")
        print_table(title, rows)
        return
    try:
        psycopg.connect(PG.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3).close()
    except Exception as e:  # noqa: BLE001 - report, do not fail the other benches
        add("web figures", "n/a", "", "-", f"PostgreSQL unavailable: {e}")
        print_table(title, rows)
        return
    with tempfile.TemporaryDirectory() as d:
        # A SoftHSM2 token of the bench's own unless one is configured (central/hsm.py).
        os.environ.setdefault("UR_CENTRAL_HSM_DIR", str(Path(d) / "hsm"))
        try:
            bench(Path(d))
        finally:
            print_table(title, rows)


if __name__ == "__main__":
    main()
