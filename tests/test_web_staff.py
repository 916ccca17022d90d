"""The staff console over HTTP (ASGI app in-process, real SQLite file): login with
Argon2 passwords and TOTP for the roles that need it, lock-out after failed logins,
signed Secure/HttpOnly/SameSite cookies, CSRF on every form, and the authorisation
matrix on cases (a clerk of agency A cannot touch agency B's case; an auditor reads only).
Case actions land in the audit trail with the person's name."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest

from central import applications, audit, casework
from central import catalogue as central_catalogue
from central.web import accounts
from contract import tracking
from tests import support

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from central.web.app import Settings, create_app  # noqa: E402

PW = "correct horse battery"
AGENCY = "moi-criminal-evidence"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[object, object]]:
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'c.db'}", secret_file=str(tmp_path / "secret"),
                              login_per_minute=1000))
    S = app.state.sessions
    with S.begin() as s:
        central_catalogue.publish(s, central_catalogue.load_seed())
        for name, agency, role in (("clerk-a", AGENCY, "clerk"), ("clerk-b", "moj-notary", "clerk"),
                                   ("aud", AGENCY, "auditor"), ("reg", AGENCY, "registrar")):
            accounts.add(s, name, f"Name of {name}", agency, role, PW)
    with S.begin() as s:
        applications.handle_submission(s, "K1", "m-1", {
            "tracking": tracking.make(7, 1), "service_id": "non-conviction-certificate", "catalogue_version": 1,
            "fee_total": 10000, "fields": {"full_name": "سارا <script>alert(1)</script>",
                                           "national_id": "199001234567", "mobile": "07701234567"},
            "submitted_at": datetime.now(UTC).isoformat()})
    yield app, S
    app.state.engine.dispose()


def client(app) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:300]
    return m.group(1)


def login(c: TestClient, user: str, pw: str = PW, totp: str = "") -> int:
    token = csrf_of(c.get("/staff/login?lang=en").text)
    return c.post("/staff/login", data={"username": user, "password": pw, "totp": totp, "csrf": token}).status_code


def test_clerk_logs_in_sees_worklist_and_approves_with_name_in_audit(env) -> None:
    app, S = env
    c = client(app)
    assert c.get("/staff").status_code == 303  # not logged in
    first = c.get("/staff/login")
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    assert login(c, "clerk-a") == 303
    n = tracking.make(7, 1)
    wl = c.get("/staff?lang=en")
    assert wl.status_code == 200 and n in wl.text
    page = c.get(f"/staff/case/{n}?lang=en")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    token = csrf_of(page.text)
    assert c.post(f"/staff/case/{n}/act", data={"action": "approve"}).status_code == 422  # no token at all
    assert c.post(f"/staff/case/{n}/act", data={"action": "approve", "csrf": "forged"}).status_code == 403
    r = c.post(f"/staff/case/{n}/act", data={"action": "approve", "csrf": token})
    assert r.status_code == 303
    with S() as s:
        trail = audit.trail(s, n)
        assert trail[-1]["action"] == "approve" and trail[-1]["actor"] == "clerk-a (Name of clerk-a)"
        assert trail[-1]["origin"] == f"web:{AGENCY}"
        assert casework.show(s, n)["status"] == "visit_requested"
    bad = c.post(f"/staff/case/{n}/act", data={"action": "approve", "csrf": token})
    assert bad.status_code == 409 and "Traceback" not in bad.text


def test_worklist_pages_overdue_first(env) -> None:
    """A big agency's worklist comes 100 rows a page, in one order across pages:
    overdue first (earliest due first), then by SLA due."""
    from datetime import timedelta

    from sqlalchemy import update

    app, S = env
    numbers = [tracking.make(7, 1)]
    with S.begin() as s:
        for i in range(2, 122):
            numbers.append(tracking.make(7, i))
            applications.handle_submission(s, "K1", f"m-{i}", {
                "tracking": numbers[-1], "service_id": "non-conviction-certificate", "catalogue_version": 1,
                "fee_total": 10000, "fields": {"full_name": f"n{i}", "national_id": "199001234567",
                                               "mobile": "07701234567"},
                "submitted_at": datetime.now(UTC).isoformat()})
    late = {numbers[90]: 3, numbers[40]: 2, numbers[7]: 1}  # hours overdue
    with S.begin() as s:
        for n, hours in late.items():
            s.execute(update(casework.CaseRow).where(casework.CaseRow.number == n)
                      .values(sla_due=datetime.now(UTC) - timedelta(hours=hours)))
    c = client(app)
    assert login(c, "clerk-a") == 303
    first = c.get("/staff?lang=en").text
    assert "Open cases: 121" in first and "Page 1 / 2" in first and 'rel="next"' in first
    shown1 = re.findall(r'href="/staff/case/([0-9-]+)"', first)
    assert len(shown1) == 100 and shown1[:3] == [numbers[90], numbers[40], numbers[7]]
    second = c.get("/staff?page=2&lang=en").text
    shown2 = re.findall(r'href="/staff/case/([0-9-]+)"', second)
    assert len(shown2) == 21 and 'rel="prev"' in second and 'rel="next"' not in second
    assert sorted(shown1 + shown2) == sorted(numbers)  # every case once, across the pages
    api = [x["number"] for x in c.get("/api/v1/staff/worklist?page=1").json()]
    assert api == shown1
    assert c.get("/staff?page=0").status_code == 400 and c.get("/staff?page=x").status_code == 422
    assert c.get("/api/v1/staff/worklist?page=0").status_code == 400


def test_authorisation_matrix_on_cases(env) -> None:
    app, S = env
    n = tracking.make(7, 1)
    # Refused users first: the case must still be untouched when each of them tries.
    expect = {"clerk-b": (403, False), "aud": (200, False), "reg": (200, False), "clerk-a": (200, True)}
    for user, (read, acts) in expect.items():
        c = client(app)
        if user == "reg":
            with S() as s:
                code = pyotp.TOTP(accounts.get(s, "reg").totp_secret or "").now()
            assert login(c, user, totp=code) == 303
        else:
            assert login(c, user) == 303, user
        page = c.get(f"/staff/case/{n}")
        assert page.status_code == read, user
        token = csrf_of(c.get("/staff/login").text)
        r = c.post(f"/staff/case/{n}/act", data={"action": "reject", "note": "x", "csrf": token})
        assert (r.status_code == 303) == acts, (user, r.status_code)
        if not acts:
            assert r.status_code == 403
            with S() as s:
                assert casework.show(s, n)["status"] == "in_review"
        else:
            with S() as s:
                assert casework.show(s, n)["status"] == "rejected"
    assert accounts.may_act("supervisor", AGENCY, AGENCY) and not accounts.may_act("auditor", AGENCY, AGENCY)


def test_totp_roles_and_lockout_and_disable(env) -> None:
    app, S = env
    c = client(app)
    assert login(c, "reg") == 401  # the right password alone is not enough for a registrar
    with S() as s:
        secret = accounts.get(s, "reg").totp_secret
    assert secret
    assert login(c, "reg", totp=pyotp.TOTP(secret).now()) == 303
    c2 = client(app)
    for _ in range(accounts.MAX_FAILS):
        assert login(c2, "clerk-a", pw="wrong password!") == 401
    assert login(c2, "clerk-a") == 401  # locked now, even with the right password
    with S() as s:
        u = accounts.get(s, "clerk-a")
        assert u.failed_logins == accounts.MAX_FAILS and u.locked_until is not None
    with S.begin() as s:
        accounts.reset_password(s, "clerk-a", PW + "!")
    assert login(c2, "clerk-a", pw=PW + "!") == 303
    assert c2.get("/staff").status_code == 200
    with S.begin() as s:
        accounts.set_disabled(s, "clerk-a")
    assert c2.get("/staff").status_code == 303  # an open session ends at once
    assert login(client(app), "nobody") == 401


def test_forged_or_tampered_cookie_is_not_a_login(env) -> None:
    app, _ = env
    c = client(app)
    assert login(c, "clerk-a") == 303
    good = c.cookies.get("ur_staff")
    assert good and c.get("/staff").status_code == 200
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    c.cookies.clear()
    c.cookies.set("ur_staff", tampered)
    assert c.get("/staff").status_code == 303


def test_users_cli(tmp_path: Path) -> None:
    # The CLI's `main` in this process (support.cli_in_process: exit codes, stdout and
    # stderr as a process gives them, without a Python start-up per command).
    db_url = support.sqlite_url(tmp_path / "c.db")
    r = support.cli_in_process(["ur-central", "--db", db_url, "--json", "users", "add", "sup1", "--name", "هدى",
                         "--agency", AGENCY, "--role", "supervisor"], input=PW + "\n")
    assert r.returncode == 0, r.stderr
    assert "otpauth://totp/" in r.stdout and PW not in r.stdout
    r = support.cli_in_process(["ur-central", "--db", db_url, "users", "add", "x", "--agency", "a", "--role", "king"],
                        input=PW + "\n")
    assert r.returncode == 2 and "role 'king'" in r.stderr
    r = support.cli_in_process(["ur-central", "--db", db_url, "users", "add", "y", "--agency", "a", "--role", "clerk"],
                        input="short\n")
    assert r.returncode == 2 and "10 characters" in r.stderr
    assert support.cli_in_process(["ur-central", "--db", db_url, "users", "disable", "sup1"]).returncode == 0
    r = support.cli_in_process(["ur-central", "--db", db_url, "users", "list"])
    assert "sup1\t" + AGENCY + "\tsupervisor\tDISABLED" in r.stdout


def test_staff_passwords_hash_at_the_real_cost_and_cheap_hashes_are_redone(env) -> None:
    """The suite's tiny Argon2 parameters come only from tests/faults.py's hook; the
    product's default is argon2-cffi's real one, and a login with today's hasher redoes
    a hash made with weaker parameters."""
    from argon2 import PasswordHasher

    from tests import faults

    assert accounts.ARGON2.memory_cost >= 64 * 1024 and accounts.ARGON2.time_cost >= 3
    app, S = env
    with S() as s:
        assert accounts.get(s, "clerk-a").password_hash.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    stronger = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    accounts.use_hasher(stronger)
    try:
        assert login(client(app), "clerk-a") == 303
        with S() as s:
            assert accounts.get(s, "clerk-a").password_hash.startswith("$argon2id$v=19$m=16384,t=2,p=1$")
    finally:
        accounts.use_hasher(faults.FAST_HASHER)
    assert login(client(app), "clerk-a") == 303  # still the same password


def test_supervisor_reads_reconciliation_table_chart_and_csv(env) -> None:
    from central import ledger

    app, S = env
    day = "2026-03-01"
    with S.begin() as s:
        accounts.add(s, "sup", "Supervisor", AGENCY, "supervisor", PW)
        for n, (station, amount) in enumerate((("K1", 5000), ("K1", 3000), ("K2", 2000))):
            ledger.record_collection(s, station, {
                "event": "paid", "collection_id": f"c{n}", "amount": amount, "statutory": amount, "service": 0,
                "fee_ref": f"fee-{n}", "business_date": day, "office": "بغداد", "terminal_id": "T1",
                "kind": "card"})
        # K1's Z-report lists c0 and an item central never got; c1 is missing at the station.
        ledger.record_z_report(s, "K1", {"business_date": day, "office": "بغداد", "terminal_id": "T1",
                                         "terminal": {"count": 2, "amount": 6000}, "journal": {"count": 2, "amount": 6000},
                                         "items": [{"id": "c0", "amount": 5000, "state": "paid"},
                                                   {"id": "cX", "amount": 1000, "state": "paid"}]})
        secret = accounts.get(s, "sup").totp_secret or ""
    c = client(app)
    assert login(c, "clerk-a") == 303
    assert c.get(f"/staff/reconciliation?date={day}").status_code == 403  # a clerk does not read it
    c = client(app)
    assert login(c, "sup", totp=pyotp.TOTP(secret).now()) == 303
    page = c.get(f"/staff/reconciliation?date={day}&lang=en")
    assert page.status_code == 200 and "<svg" in page.text and "MISMATCH" in page.text
    rows = re.findall(r"<tr class=\"[a-z]*\">(.*?)</tr>", page.text, re.S)
    k1 = next(r for r in rows if ">K1<" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", k1)
    # office, station, status, matched, missing_at_central, missing_at_station, mismatched, unresolved, amount
    assert cells[2:8] == ["MISMATCH", "1", "1", "1", "0", "0"], cells
    csv_resp = c.get(f"/staff/reconciliation.csv?date={day}")
    assert csv_resp.headers["content-type"].startswith("text/csv")
    assert "missing_at_central" in csv_resp.text and "missing_at_station" in csv_resp.text
    assert c.get("/staff/reconciliation?date=2026-02-30").status_code == 400
    twin = c.get(f"/api/v1/staff/reconciliation?date={day}").json()  # the page's JSON twin
    k1j = next(x for x in twin["stations"] if x["station"] == "K1")
    assert k1j["status"] == "MISMATCH" and k1j["counts"]["missing_at_central"] == 1
    assert k1j["central_amount"] == 8000 and k1j["terminal_amount"] == 6000
    assert c.get("/api/v1/staff/reconciliation?date=2026-02-30").status_code == 400
    clerk = client(app)
    assert login(clerk, "clerk-a") == 303
    assert clerk.get(f"/api/v1/staff/reconciliation?date={day}").status_code == 403


def test_supervisor_overview_sla_complaints_documents_collections(env) -> None:
    import time
    from datetime import timedelta

    from sqlalchemy import update

    from central import complaints, ledger, registry

    app, S = env
    now = datetime.now(UTC)
    today = (now + timedelta(hours=3)).date().isoformat()  # Iraq's calendar day
    with S.begin() as s:
        accounts.add(s, "sup3", "Supervisor", AGENCY, "supervisor", PW)
        secret = accounts.get(s, "sup3").totp_secret or ""
        s.execute(update(casework.CaseRow).where(casework.CaseRow.number == tracking.make(7, 1))
                  .values(sla_due=now - timedelta(hours=2)))  # the one open case: breached
        for i, cat in enumerate(("delay", "delay", "bribery")):
            complaints.handle(s, "K1", f"mc-{i}", {"tracking": tracking.make(7, 999990 + i), "category": cat,
                                                   "text": "<script>x</script>", "filed_at": now.isoformat()})
        t = int(time.time())
        docs = [registry.issue(s, doc_type="certificate", agency="MOI", fields={"n": str(i)}, now=t - 5)
                for i in range(3)]
        registry.revoke(s, docs[0].id, "lost", t)
        for n, (station, amount) in enumerate((("K1", 5000), ("K1", 3000), ("K2", 2000))):
            ledger.record_collection(s, station, {
                "event": "paid", "collection_id": f"oc{n}", "amount": amount, "statutory": amount, "service": 0,
                "fee_ref": f"fee-{n}", "business_date": today, "office": "بغداد", "terminal_id": "T1",
                "kind": "card"})
    from contract import qr_text

    # Citizens verify: two valid codes, one revoked, one garbage. Each process adds its
    # counts to the database every few seconds and when it stops (here: the client's end).
    with TestClient(app, base_url="https://testserver") as pub:
        for d in (docs[1], docs[2], docs[0]):
            path = "/UR1/" + qr_text.verification_text(d.text, "HTTP://X/").split("/UR1/", 1)[1]
            assert pub.get(path).status_code == 200
        assert pub.get("/api/v1/verify/UR1/AAAA").json()["status"] == "INVALID"
    c = client(app)
    assert login(c, "sup3", totp=pyotp.TOTP(secret).now()) == 303
    page = c.get("/staff/overview?lang=en")
    assert page.status_code == 200 and page.text.count("<svg") == 5 and "<script>x" not in page.text
    j = c.get("/api/v1/staff/overview").json()
    sla = {r["agency"]: r for r in j["sla"]}
    assert sla[AGENCY] == {"agency": AGENCY, "open": 1, "breached": 1}
    comp = {r["category"]: r["total"] for r in j["complaints"]}
    assert comp == {"delay": 2, "bribery": 1} and j["complaints"][0]["category"] == "delay"
    assert j["documents"][-1] == {"day": today, "issued": 3, "revoked": 1, "verified_valid": 2,
                                  "verified_not_valid": 2} and len(j["documents"]) == 14
    assert sorted((r["station"], r["count"], r["amount"]) for r in j["collections"]) == [
        ("K1", 2, 8000), ("K2", 1, 2000)]
    assert 'data-agency="moi-criminal-evidence"' in page.text and f'data-day="{today}"' in page.text
    ar = c.get("/staff/overview?lang=ar").text
    assert "٨٬٠٠٠" in ar and 'dir="rtl"' in ar  # numbers in the page's language
    clerk = client(app)
    assert login(clerk, "clerk-a") == 303
    assert clerk.get("/staff/overview").status_code == 403 and clerk.get("/api/v1/staff/overview").status_code == 403


def test_admin_disables_and_enables_accounts_of_the_agency(env) -> None:
    app, S = env
    with S.begin() as s:
        accounts.add(s, "adm", "Admin A", AGENCY, "admin", PW)
        secret = accounts.get(s, "adm").totp_secret or ""
    clerk = client(app)
    assert login(clerk, "clerk-a") == 303 and clerk.get("/staff").status_code == 200
    assert clerk.get("/staff/users").status_code == 403
    a = client(app)
    assert login(a, "adm", totp=pyotp.TOTP(secret).now()) == 303
    page = a.get("/staff/users?lang=en").text
    listed = re.findall(r'data-user="([^"]+)" data-disabled="(yes|no)"', page)
    assert listed == [("adm", "no"), ("aud", "no"), ("clerk-a", "no"), ("reg", "no")]  # own agency only
    token = csrf_of(page)
    assert a.post("/staff/users/clerk-a", data={"disabled": "yes"}).status_code == 422  # no token
    assert a.post("/staff/users/clerk-a", data={"disabled": "yes", "csrf": token}).status_code == 303
    assert clerk.get("/staff").status_code == 303  # her open session ends at once
    assert login(client(app), "clerk-a") == 401
    assert a.post("/staff/users/clerk-b", data={"disabled": "yes", "csrf": token}).status_code == 403  # other agency
    assert a.post("/staff/users/adm", data={"disabled": "yes", "csrf": token}).status_code == 409
    assert a.post("/staff/users/nobody", data={"disabled": "yes", "csrf": token}).status_code == 404
    assert a.post("/staff/users/clerk-a", data={"disabled": "xyz", "csrf": token}).status_code == 400
    j = a.post("/api/v1/staff/users/clerk-a?disabled=false", headers={"X-CSRF-Token": token})
    assert j.status_code == 200 and login(client(app), "clerk-a") == 303
    assert [u["disabled"] for u in a.get("/api/v1/staff/users").json() if u["username"] == "clerk-a"] == [False]
    with S() as s:
        trail = audit.trail(s, "user:clerk-a")
        assert [(t["action"], t["actor"]) for t in trail] == [("user_disable", "adm (Admin A)"),
                                                               ("user_enable", "adm (Admin A)")]


def test_verification_counts_from_several_processes_add_up(env) -> None:
    """Two serving processes' tallies flushing into the same day's row (the second finds
    it made by the first) add up; a failed flush keeps its counts for the next one."""
    from central.web import verify_tally

    app, S = env
    one, two = verify_tally.Tally(S, flush_s=3600), verify_tally.Tally(S, flush_s=3600)
    for _ in range(3):
        one.count(True)
    two.count(True)
    two.count(False)
    one.flush()
    two.flush()
    day = verify_tally.today()
    with S() as s:
        assert verify_tally.read(s, [day]) == {day: (4, 1)}

    class Gone:
        def begin(self) -> object:
            raise OSError("database gone")

    three = verify_tally.Tally(Gone(), flush_s=0)  # flushes on every count, and fails
    three.count(False)
    three.count(False)
    assert three.counts == {verify_tally.names(day)[1]: 2}
    three.sessions = S
    three.flush()
    with S() as s:
        assert verify_tally.read(s, [day]) == {day: (4, 3)}


def test_every_role_against_every_staff_route(env) -> None:
    """The authorisation matrix: each role of the case's agency, a clerk of another agency
    and nobody, against every staff page and JSON route (reads), and every JSON action
    (writes: refused with 403, or let through to the rules behind it)."""
    app, S = env
    n = tracking.make(7, 1)
    roles = {"clerk": "clerk-a", "auditor": "aud", "registrar": "reg"}
    with S.begin() as s:
        for role in ("letters_officer", "supervisor", "admin"):
            accounts.add(s, f"m-{role.replace('_', '-')}", role, AGENCY, role, PW)
            roles[role] = f"m-{role.replace('_', '-')}"
        secrets = {u: accounts.get(s, u).totp_secret or "" for u in roles.values()}
    readers = {"supervisor", "auditor", "admin"}
    everyone = set(accounts.ROLES)
    reads = {  # route: roles (of the case's agency) that may read it
        "/staff": everyone, f"/staff/case/{n}": everyone, "/staff/documents": {"registrar"},
        "/staff/letters": {"letters_officer"}, "/staff/users": {"admin"}, "/staff/overview": readers,
        "/staff/fleet": readers, "/staff/reconciliation": readers, "/staff/reconciliation.csv": readers,
        "/api/v1/staff/worklist": {"clerk", "supervisor", "auditor"}, "/api/v1/staff/letters": {"letters_officer"},
        "/api/v1/staff/keys": {"registrar"}, "/api/v1/staff/users": {"admin"}, "/api/v1/staff/overview": readers,
        "/api/v1/staff/fleet": readers, "/api/v1/staff/reconciliation": readers,
    }
    writes = {  # JSON action: (body, roles that may act)
        f"/api/v1/staff/cases/{n}/act": ({"action": "return", "note": "x"}, {"clerk", "supervisor"}),
        "/api/v1/staff/documents": ({"doc_type": "certificate", "fields": {"a": "b"}}, {"registrar"}),
        "/api/v1/staff/letters": ({"number": "1", "date": "2026-01-01", "to": "X", "subject": "s"},
                                  {"letters_officer"}),
        "/api/v1/staff/users/aud?disabled=false": (None, {"admin"}),
    }
    anon = client(app)
    for route in reads:
        assert anon.get(route).status_code == (401 if route.startswith("/api/") else 303), route
    for route in writes:
        assert anon.post(route, json=writes[route][0]).status_code in (401, 403), route
    for role, user in [*roles.items(), ("other-agency clerk", "clerk-b")]:
        c = client(app)
        totp = pyotp.TOTP(secrets[user]).now() if user in secrets and secrets[user] else ""
        assert login(c, user, totp=totp) == 303, role
        token = csrf_of(c.get("/staff/login").text)
        for route, allowed in reads.items():
            if role == "other-agency clerk":  # a clerk elsewhere: her own worklist, never this agency's case
                ok = route in ("/staff", "/api/v1/staff/worklist")
            else:
                ok = role in allowed
            got = c.get(route).status_code
            assert (got == 200) == ok and got in (200, 403), (role, route, got)
        for route, (body, allowed) in writes.items():
            got = c.post(route, json=body, headers={"X-CSRF-Token": token}).status_code
            if role in allowed:
                assert got not in (401, 403), (role, route, got)  # through to the rules (done or refused by them)
            else:
                assert got == 403, (role, route, got)


def test_json_api_same_authorisation_as_pages(env) -> None:
    app, S = env
    n = tracking.make(7, 1)
    anon = client(app)
    assert anon.get("/api/v1/staff/worklist").status_code == 401
    for user, worklist, act in (("clerk-b", 200, 403), ("aud", 200, 403), ("clerk-a", 200, 200)):
        c = client(app)
        assert login(c, user) == 303
        token = csrf_of(c.get("/staff/login").text)
        wl = c.get("/api/v1/staff/worklist")
        assert wl.status_code == worklist
        assert (n in [x["number"] for x in wl.json()]) == (user != "clerk-b")
        assert c.post(f"/api/v1/staff/cases/{n}/act", json={"action": "approve"}).status_code == 403  # no token
        r = c.post(f"/api/v1/staff/cases/{n}/act", json={"action": "approve"}, headers={"X-CSRF-Token": token})
        assert r.status_code == act, (user, r.text)
    assert r.json()["status"] == "visit_requested"
    again = c.post(f"/api/v1/staff/cases/{n}/act", json={"action": "approve"}, headers={"X-CSRF-Token": token})
    assert again.status_code == 409 and "error" in again.json()
    bad = c.post(f"/api/v1/staff/cases/{n}/act", json={"action": "explode"}, headers={"X-CSRF-Token": token})
    assert bad.status_code == 400
    spec = c.get("/api/openapi.json").json()
    assert "/api/v1/staff/worklist" in spec["paths"] and "/api/v1/staff/cases/{number}/act" in spec["paths"]


def test_letters_officer_registers_routes_and_sets_status(env) -> None:
    from central import letters

    app, S = env
    with S.begin() as s:
        accounts.add(s, "lo-krg", "Officer KRG", "KRG representation Baghdad", "letters_officer", PW)
        accounts.add(s, "lo-mof", "Officer MoF", "Federal Ministry of Finance", "letters_officer", PW)
    c = client(app)
    assert login(c, "clerk-a") == 303
    assert c.get("/staff/letters").status_code == 403
    krg, mof = client(app), client(app)
    assert login(krg, "lo-krg") == 303 and login(mof, "lo-mof") == 303
    token = csrf_of(krg.get("/staff/letters?lang=en").text)
    r = krg.post("/staff/letters", data={"number": "77/ك", "date": "2026-03-02", "to": "Federal Ministry of Finance",
                                         "subject": "<script>x</script> salaries", "csrf": token})
    assert r.status_code == 303
    with S() as s:
        lt = letters.one(s, "77/ك", "2026-03-02")
        lid = lt.id
    page = krg.get("/staff/letters?lang=en").text
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    # The letter is now with the ministry: the sender's officer may not move it, the ministry's may.
    assert krg.post(f"/staff/letters/{lid}", data={"status": "CLOSED", "csrf": token}).status_code == 403
    mtoken = csrf_of(mof.get("/staff/letters").text)
    assert mof.post(f"/staff/letters/{lid}", data={"status": "RECEIVED", "csrf": mtoken}).status_code == 303
    assert mof.post(f"/staff/letters/{lid}", data={"to": "KRG representation Baghdad", "csrf": mtoken}).status_code == 303
    assert mof.post(f"/staff/letters/{lid}", data={"status": "BOGUS", "csrf": mtoken}).status_code == 403
    with S() as s:
        lt = letters.one(s, "77/ك", "2026-03-02")
        assert [e.kind for e in lt.events] == ["registered", "status", "routed"]
        assert lt.holder == "KRG representation Baghdad"
    assert krg.post(f"/staff/letters/{lid}", data={"status": "BOGUS", "csrf": token}).status_code == 409
    with S() as s:  # every change in the hash-chained audit, with the person's name; a refusal writes nothing
        trail = audit.trail(s, f"letter:{lid}")
        assert [(t["action"], t["actor"]) for t in trail] == [
            ("letter_register", "lo-krg (Officer KRG)"), ("letter_status", "lo-mof (Officer MoF)"),
            ("letter_route", "lo-mof (Officer MoF)")]
        assert trail[1]["data"]["status"] == "RECEIVED" and trail[2]["data"]["to"] == "KRG representation Baghdad"
        assert "salaries" not in str(trail)
        assert audit.verify(s)[1] == []
    # The same actions through the JSON API: CSRF token in a header, same rules, same audit.
    ktoken = csrf_of(krg.get("/staff/letters").text)
    body = {"number": "78/ك", "date": "2026-03-03", "to": "Federal Ministry of Finance", "subject": "budget"}
    assert krg.post("/api/v1/staff/letters", json=body).status_code == 403  # no token
    made = krg.post("/api/v1/staff/letters", json=body, headers={"X-CSRF-Token": ktoken})
    assert made.status_code == 201
    lid2 = made.json()["id"]
    assert krg.post("/api/v1/staff/letters", json=body, headers={"X-CSRF-Token": ktoken}).status_code == 409
    assert krg.post(f"/api/v1/staff/letters/{lid2}", json={"status": "CLOSED"},
                    headers={"X-CSRF-Token": ktoken}).status_code == 403  # the ministry holds it now
    mtoken = csrf_of(mof.get("/staff/letters").text)
    got = mof.post(f"/api/v1/staff/letters/{lid2}", json={"status": "RECEIVED"}, headers={"X-CSRF-Token": mtoken})
    assert got.status_code == 200 and got.json()["status"] == "RECEIVED"
    assert mof.post("/api/v1/staff/letters/999999", json={"status": "RECEIVED"},
                    headers={"X-CSRF-Token": mtoken}).status_code == 404
    with S() as s:
        assert [t["action"] for t in audit.trail(s, f"letter:{lid2}")] == ["letter_register", "letter_status"]
    krg.post(f"/api/v1/staff/letters/{lid2}", json={"status": "CLOSED"}, headers={"X-CSRF-Token": ktoken})
    mine = krg.get("/api/v1/staff/letters").json()  # the page's JSON twin, same rule: sent or held
    assert sorted(x["id"] for x in mine) == sorted([lid, lid2])
    assert next(x for x in mine if x["id"] == lid)["subject"].endswith("salaries")
    assert [x["id"] for x in mof.get("/api/v1/staff/letters").json()] == [lid2]  # the first went back to KRG
    assert client(app).get("/api/v1/staff/letters").status_code == 401
    assert c.get("/api/v1/staff/letters").status_code == 403
    public = client(app).get("/api/v1/letters", params={"number": "77/ك", "date": "2026-03-02"}).json()
    assert len(public["letters"][0]["steps"]) == 3 and "salaries" not in str(public)


def test_registrar_issues_downloads_and_revokes(env) -> None:
    import io

    from PIL import Image

    from central import registry
    from contract import qr_decode

    app, S = env
    with S() as s:
        secret = accounts.get(s, "reg").totp_secret or ""
    c = client(app)
    assert login(c, "reg", totp=pyotp.TOTP(secret).now()) == 303
    token = csrf_of(c.get("/staff/documents?lang=en").text)
    r = c.post("/staff/documents", data={"doc_type": "certificate", "fields": "name=هدى <b>\nnumber=12",
                                         "expires_days": "30", "csrf": token})
    assert r.status_code == 303
    doc_id = r.headers["location"].rsplit("/", 1)[1]
    page = c.get(f"/staff/documents/{doc_id}?lang=en").text
    assert "هدى &lt;b&gt;" in page and "/UR1/" in page
    png = c.get(f"/staff/documents/{doc_id}.png")
    assert png.headers["content-type"] == "image/png"
    text = qr_decode.single_text(qr_decode.decode_image(Image.open(io.BytesIO(png.content))))
    public = client(app)
    path = "/UR1/" + text.split("/UR1/", 1)[1]
    assert 'data-status="VALID"' in public.get(path).text
    assert c.get("/staff/documents/DNOSUCHDOC").status_code == 404
    bad = c.post("/staff/documents", data={"doc_type": "certificate", "fields": "no equals sign", "csrf": token})
    assert bad.status_code == 409
    # Another role cannot issue; a clerk gets 403.
    clerk = client(app)
    assert login(clerk, "clerk-a") == 303
    assert clerk.get("/staff/documents").status_code == 403
    assert c.post(f"/staff/documents/{doc_id}/revoke", data={"reason": "lost", "csrf": token}).status_code == 303
    assert 'data-status="REVOKED"' in public.get(path).text
    twin = c.get(f"/api/v1/staff/documents/{doc_id}").json()
    assert twin["revoke_reason"] == "lost" and twin["fields"]["name"] == "هدى <b>" and twin["qr"] == text
    assert [k for k in c.get("/api/v1/staff/keys").json() if k["active"]]
    assert clerk.get("/api/v1/staff/keys").status_code == 403
    assert clerk.get(f"/api/v1/staff/documents/{doc_id}").status_code == 403
    # Issue and revoke through the JSON API (CSRF token in a header), audited the same way.
    api_body = {"doc_type": "certificate", "fields": {"name": "علي", "number": "13"}, "expires_days": 10}
    assert c.post("/api/v1/staff/documents", json=api_body).status_code == 403
    made = c.post("/api/v1/staff/documents", json=api_body, headers={"X-CSRF-Token": token})
    assert made.status_code == 201 and made.json()["fields"] == {"name": "علي", "number": "13"}
    doc2 = made.json()["id"]
    assert 'data-status="VALID"' in public.get("/UR1/" + made.json()["qr"].split("/UR1/", 1)[1]).text
    assert c.post("/api/v1/staff/documents", json={**api_body, "fields": {"": "x"}},
                  headers={"X-CSRF-Token": token}).status_code == 409
    gone = c.post(f"/api/v1/staff/documents/{doc2}/revoke", json={"reason": "typo"}, headers={"X-CSRF-Token": token})
    assert gone.status_code == 200 and gone.json()["revoke_reason"] == "typo"
    ctoken = csrf_of(clerk.get("/staff/login").text)
    assert clerk.post(f"/api/v1/staff/documents/{doc2}/revoke", json={"reason": "x"},
                      headers={"X-CSRF-Token": ctoken}).status_code == 403
    with S() as s:
        assert [(t["action"], t["actor"]) for t in audit.trail(s, doc2)] == [
            ("issue", "reg (Name of reg)"), ("revoke", "reg (Name of reg)")]
    with S() as s:
        assert registry.get(s, doc_id).revoked_at is not None
        trail = audit.trail(s, doc_id)
        assert [t["action"] for t in trail] == ["issue", "revoke"] and trail[1]["actor"] == "reg (Name of reg)"


def test_fleet_page_shows_offline_kiosks_first(env) -> None:
    import json as _json
    from datetime import timedelta

    from central import kiosks

    app, S = env
    now = datetime.now(UTC)
    hb = {"version": "1.2.3", "queue": {"pending": 4, "in_flight": 0, "oldest_pending_age_s": 95.0},
          "devices": {"printer": "paper_low", "terminal": "ready"}}
    with S.begin() as s:
        accounts.add(s, "sup2", "Supervisor", AGENCY, "supervisor", PW)
        for kid, code, seen in (("K-ON", 1, now - timedelta(seconds=20)), ("K-OFF", 2, now - timedelta(minutes=30))):
            s.add(kiosks.Kiosk(kiosk_id=kid, kiosk_code=code, office="بغداد", public_key="00" * 32, enrolled_at=now,
                               last_seen=seen, clock_skew_ms=0, heartbeat=_json.dumps(hb)))
        secret = accounts.get(s, "sup2").totp_secret or ""
    c = client(app)
    assert login(c, "sup2", totp=pyotp.TOTP(secret).now()) == 303
    page = c.get("/staff/fleet?lang=en").text
    states = re.findall(r'data-kiosk="([^"]+)" data-online="(yes|no)"', page)
    assert states == [("K-OFF", "no"), ("K-ON", "yes")]
    assert "paper_low" in page and "1.2.3" in page
    twin = c.get("/api/v1/staff/fleet").json()
    assert [(k["kiosk_id"], k["online"]) for k in twin] == [("K-OFF", False), ("K-ON", True)]
    assert twin[1]["pending"] == 4 and twin[1]["printer"] == "paper_low" and twin[1]["version"] == "1.2.3"
    clerk = client(app)
    assert login(clerk, "clerk-b") == 303 and clerk.get("/staff/fleet").status_code == 403
    assert clerk.get("/api/v1/staff/fleet").status_code == 403
