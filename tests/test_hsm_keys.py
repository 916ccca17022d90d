"""Central's keys in a PKCS#11 token: a real SoftHSM2 token made for each test in
its temp dir, the real `ur-central` CLIs, real SQLite files scanned byte by byte
for private keys, pycose and openssl as independent verifiers."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import base45
import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.x509.oid import NameOID
from pycose.keys import OKPKey
from pycose.messages import Sign1Message
from sqlalchemy import inspect, text

from central import datasets, db, downlink_key, hsm, keys, pii_key, registry
from contract import cose_sign1, pii_seal, status_list, trust_list
from tests import key_scan
from tests.support import run_cli, sqlite_url


@pytest.fixture
def own_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SoftHSM2 token directory for this test (made on first use by central)."""
    d = tmp_path / "hsm"
    monkeypatch.setenv("UR_CENTRAL_HSM_DIR", str(d))
    monkeypatch.delenv("SOFTHSM2_CONF", raising=False)
    hsm.reset()
    yield d
    hsm.reset()


@pytest.fixture
def central(tmp_path: Path, own_token: Path) -> Iterator[object]:
    engine = db.make_engine(sqlite_url(tmp_path / "central.db"))
    db.init_schema(engine)
    yield db.sessions(engine)
    engine.dispose()


def cli(db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["ur-central", "--db", sqlite_url(db_path), *args])


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def refused(r: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2 with one clear line (no traceback) that contains `words`."""
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
    return r.stderr


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_keys_are_made_in_the_token_and_cannot_leave_it(central, own_token: Path) -> None:
    with central.begin() as s:
        pair = keys.ensure(s, int(time.time()))
        kids = [pair.root.kid_bytes, pair.signing.kid_bytes]
    tok = hsm.token()
    for kid in kids:
        assert tok.attributes(kid) == {"sensitive": True, "extractable": False, "never_extractable": True}
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            tok.private_value(kid)
    # The token directory, its config and the PIN files are private from their first byte.
    assert mode(own_token) == 0o700 and mode(own_token / "tokens") == 0o700
    for name in ("user.pin", "so.pin", "softhsm2.conf"):
        assert mode(own_token / name) == 0o600, name
    assert all(mode(p) & 0o077 == 0 for p in (own_token / "tokens").rglob("*"))
    # The key table has no column for private bytes any more.
    with central() as s:
        cols = {c["name"] for c in inspect(s.connection()).get_columns("ur1_keys")}
    assert "private_key" not in cols and "public_key" in cols


def test_documents_and_lists_signed_in_the_token_verify_with_pycose(central) -> None:
    now = int(time.time())
    with central.begin() as s:
        doc = registry.issue(s, doc_type="certificate", agency="MOI", fields={"name": "Aras"}, now=now)
        registry.publish_status(s, now)
        pair = keys.ensure(s, now)
        root_pub, signing_pub = pair.root.public_key, pair.signing.public_key
        bodies = [datasets.latest(s, "trust_list").body, datasets.latest(s, "status_list").body]  # type: ignore[union-attr]  # init published both lists
        assert registry.verify_online(s, doc.text, now).status.name == "VALID"
    msg = Sign1Message.decode(base45.b45decode(doc.text[4:]))
    msg.key = OKPKey(crv="Ed25519", x=signing_pub)
    assert msg.verify_signature()
    msg.key = OKPKey(crv="Ed25519", x=root_pub)
    assert not msg.verify_signature()  # the check can fail: the root did not sign documents
    for body in bodies:
        m = Sign1Message.decode(body)
        m.key = OKPKey(crv="Ed25519", x=root_pub)
        assert m.verify_signature()
    # And our own decoders accept them under the pinned root.
    assert trust_list.decode(bodies[0], root_pub).lookup(cose_sign1.kid_of(signing_pub))
    assert status_list.decode(bodies[1], root_pub).size >= 1


def test_rotation_and_withdrawal_go_through_the_token(central) -> None:
    now = int(time.time())
    tok = hsm.token()
    with central.begin() as s:
        first = keys.ensure(s, now - 100).signing
        old = first.kid_bytes
        new = keys.rotate(s, now - 50)
        new_kid = new.kid_bytes
        doc = registry.issue(s, doc_type="certificate", agency="MOI", fields={"n": "1"}, now=now - 40)
    assert tok.has(new_kid) and tok.has(old)  # a retired key stays (it signs no more: not active)
    assert doc.kid == new_kid.hex()
    # A withdrawal that is rolled back leaves the key in the token ...
    with pytest.raises(RuntimeError), central.begin() as s:
        keys.withdraw(s, old.hex(), now - 60, now)
        assert tok.has(old)  # nothing destroyed before the commit
        raise RuntimeError("operator aborts")
    assert tok.has(old)
    # ... a committed one destroys it there; the public half stays in the trust list.
    with central.begin() as s:
        keys.withdraw(s, old.hex(), now - 60, now)
    assert not tok.has(old)
    with central.begin() as s:
        withdrawn = {k.kid: k.withdrawn_at for k in keys.signing_keys(s)}
        assert withdrawn[old.hex()] == now - 60
        assert registry.verify_online(s, doc.text, now).status.name == "VALID"
    # Withdrawing the active key rotates to a new key made in the token.
    with central.begin() as s:
        keys.withdraw(s, new_kid.hex(), now - 10, now)
        latest = keys.signing_key(s)
        assert latest is not None and latest.kid_bytes != new_kid
        later = registry.issue(s, doc_type="certificate", agency="MOI", fields={"n": "2"}, now=now)
        assert registry.verify_online(s, later.text, now).status.name == "VALID"
    assert not tok.has(new_kid) and tok.has(latest.kid_bytes)


def test_personal_data_key_is_made_in_the_token_and_opens_sealed_payloads(central) -> None:
    with central.begin() as s:
        row = pii_key.ensure(s)
        pub = bytes(row.public_key)
    tok = hsm.token()
    assert tok.attributes(hsm.key_id(pub))["extractable"] is False
    bound = pii_seal.context("K1", "applications", "m-1")
    blob = pii_seal.seal(pub, b'{"name": "Aras"}', bound, fresh=True)
    with central() as s:
        find = pii_key.decryptor(s)
        assert pii_seal.open_sealed(blob, bound, find) == b'{"name": "Aras"}'
        with pytest.raises(pii_seal.SealError):  # bound to another message: refused
            pii_seal.open_sealed(blob, pii_seal.context("K2", "applications", "m-1"), find)
    with pytest.raises(ValueError):  # a low-order peer point is the peer's fault, not the token's
        tok.exchange_x25519(hsm.key_id(pub), bytes(32))


def test_a_token_made_by_another_process_meanwhile_is_used_not_made_twice(own_token: Path, tmp_path: Path) -> None:
    cfg = hsm.config()
    hsm._softhsm_files(cfg)
    os.environ["SOFTHSM2_CONF"] = str(cfg.softhsm_conf)  # (restored by own_token's monkeypatch)
    lib = pkcs11.lib(cfg.module)  # this process has SoftHSM2 loaded before the token exists
    assert [t.label for t in lib.get_tokens() if t.label] == []
    ok(cli(tmp_path / "central.db", "init"))  # another process makes the token and keys
    root = _rows(tmp_path / "central.db", "SELECT kid FROM ur1_keys WHERE role = 'root'")[0]["kid"]
    assert hsm.token().has(bytes.fromhex(root))  # the same token, with the other process's keys
    hsm.reset()
    assert [t.label for t in pkcs11.lib(cfg.module).get_tokens() if t.label] == ["ur-central"]


def test_concurrent_threads_share_one_session(central) -> None:
    with central.begin() as s:
        key = keys.ensure(s, int(time.time())).signing.private()
    errors: list[str] = []

    def work(n: int) -> None:
        for i in range(40):
            data = f"{n}:{i}".encode()
            try:
                key.public_key().verify(key.sign(data), data)
            except Exception as e:  # collected and asserted below
                errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_no_private_key_in_the_database_after_init_rotate_issue_withdraw(own_token: Path, tmp_path: Path) -> None:
    path = tmp_path / "central.db"
    ok(cli(path, "init"))
    first = json.loads(ok(cli(path, "--json", "keys", "list")).stdout)
    ok(cli(path, "keys", "rotate"))
    ok(cli(path, "docs", "issue", "--type", "certificate", "--agency", "MOI", "--field", "name=Aras"))
    first_signing = next(k["kid"] for k in first if k["role"] == "signing")
    ok(cli(path, "keys", "withdraw", first_signing))
    listed = json.loads(ok(cli(path, "--json", "keys", "list")).stdout)
    assert [(k["role"], k["active"], bool(k["withdrawn_at"])) for k in listed] == [
        ("root", True, False), ("signing", False, True), ("signing", True, False)]
    tok = hsm.token()  # the same token directory the CLIs used
    assert not tok.has(bytes.fromhex(first_signing))
    assert all(tok.has(bytes.fromhex(k["kid"])) for k in listed if k["active"])
    # The broker CA signs in the token too: openssl accepts the server certificate it made.
    out = tmp_path / "broker"
    ok(cli(path, "broker-tls", "--out", str(out), "--port", "18883"))
    r = subprocess.run(["openssl", "verify", "-CAfile", str(out / "ca.crt"), str(out / "server.crt")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    ca_pub = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes()).public_key()
    assert isinstance(ca_pub, ec.EllipticCurvePublicKey)
    assert tok.attributes(hsm.key_id(hsm.ec_point(ca_pub)))["extractable"] is False
    # And the downlink key (made by the first worker or enrollment).
    engine = db.make_engine(sqlite_url(path))
    with db.sessions(engine).begin() as s:
        downlink_key.signer(s)
    engine.dispose()
    publics = [bytes.fromhex(r["public_key"]) for r in
               _rows(path, "SELECT hex(public_key) AS public_key FROM ur1_keys UNION ALL "
                           "SELECT hex(public_key) FROM downlink_key")]
    assert len(publics) == 4
    files = key_scan.files_of(path)
    assert key_scan.find_private_keys(files, publics, [hsm.ec_point(ca_pub)]) == []
    # The scan is able to fail: the same file with one key planted in it is caught.
    planted = tmp_path / "planted.db"
    seed = Ed25519PrivateKey.generate()
    raw = seed.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    data = bytearray(path.read_bytes())
    data[len(data) // 2:len(data) // 2 + 32] = raw
    planted.write_bytes(bytes(data))
    pub = seed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key_scan.find_private_keys([planted], [*publics, pub]) != []


def _rows(path: Path, sql: str) -> list[dict[str, str]]:
    engine = db.make_engine(sqlite_url(path))
    try:
        with engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(text(sql))]
    finally:
        engine.dispose()


def test_pin_file_private_and_correct_or_one_clear_line(own_token: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "central.db"
    ok(cli(path, "init"))
    pin_file = own_token / "user.pin"
    pin = pin_file.read_text().strip()
    r = ok(cli(path, "--json", "docs", "publish-status"))
    assert pin not in r.stdout + r.stderr
    pin_file.chmod(0o644)
    refused(cli(path, "docs", "publish-status"), str(pin_file), "chmod 600")  # the real CLI: one line
    pin_file.chmod(0o600)
    pin_file.write_text("0000000000\n")
    hsm.reset()
    with pytest.raises(hsm.HsmError, match="refused the PIN") as e:
        hsm.token()
    assert pin not in str(e.value)
    pin_file.write_text(pin + "\n")
    assert hsm.token().has(b"\0" * 8) is False  # opens again with the right PIN
    # An operator's PIN file elsewhere (UR_CENTRAL_PIN_FILE) that does not exist: named.
    monkeypatch.setenv("UR_CENTRAL_PIN_FILE", str(tmp_path / "nowhere.pin"))
    with pytest.raises(hsm.HsmError, match="nowhere.pin"):
        hsm.token()


def test_certificates_and_crl_signed_in_the_token_pass_openssl(own_token: Path, tmp_path: Path) -> None:
    tok = hsm.token()
    ca = hsm.P256TokenKey(tok.generate_p256("ca"))
    assert tok.attributes(ca.kid)["extractable"] is False
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])

    def builder(cn: str, pub: ec.EllipticCurvePublicKey, is_ca: bool) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().issuer_name(name).public_key(pub)
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))

    ca_cert = hsm.sign_certificate(builder("Test CA", ca.public_key(), True), ca)
    good = hsm.sign_certificate(builder("K1", ec.generate_private_key(ec.SECP256R1()).public_key(), False), ca)
    bad = hsm.sign_certificate(builder("K2", ec.generate_private_key(ec.SECP256R1()).public_key(), False), ca)
    good.verify_directly_issued_by(ca_cert)
    assert good.signature_hash_algorithm is not None and good.signature_hash_algorithm.name == "sha256"
    crl = hsm.sign_crl(x509.CertificateRevocationListBuilder().issuer_name(name)
                       .last_update(now - timedelta(minutes=5)).next_update(now + timedelta(days=1))
                       .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(bad.serial_number)
                                                .revocation_date(now - timedelta(minutes=1)).build()), ca)
    assert crl.is_signature_valid(ca.public_key())
    other = ec.generate_private_key(ec.SECP256R1())
    assert not crl.is_signature_valid(other.public_key())  # the check can fail
    pem = serialization.Encoding.PEM
    for fname, obj in (("ca.pem", ca_cert), ("good.pem", good), ("bad.pem", bad), ("crl.pem", crl)):
        (tmp_path / fname).write_bytes(obj.public_bytes(pem))

    def verify(leaf: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", str(tmp_path / "ca.pem"),
                               "-CRLfile", str(tmp_path / "crl.pem"), str(tmp_path / leaf)],
                              capture_output=True, text=True, timeout=30)

    assert verify("good.pem").returncode == 0
    r = verify("bad.pem")
    assert r.returncode != 0 and "revoked" in (r.stdout + r.stderr)
    # A certificate signed by another key does not pass as the CA's.
    forged = builder("K3", other.public_key(), False).sign(other, hashes.SHA256())
    (tmp_path / "forged.pem").write_bytes(forged.public_bytes(pem))
    assert verify("forged.pem").returncode != 0


def pii_key_exchange(private_raw: bytes) -> bytes:
    """The in-process X25519 exchange with the base point (9), to compare the token's with."""
    return X25519PrivateKey.from_private_bytes(private_raw).exchange(X25519PublicKey.from_public_bytes(bytes([9]) + bytes(31)))


LEGACY_COLUMN = {"sqlite": "BLOB NOT NULL DEFAULT x''", "postgresql": "BYTEA NOT NULL DEFAULT ''::bytea"}


def _legacy_database(url: str, now: int) -> dict[str, object]:
    """A database as the version before the token wrote it: raw Ed25519 keys in
    ur1_keys.private_key and the CA key as a PEM row."""
    engine = db.make_engine(url)
    db.init_schema(engine)
    root, signing, downlink = (Ed25519PrivateKey.generate() for _ in range(3))
    ca = ec.generate_private_key(ec.SECP256R1())
    pii = X25519PrivateKey.generate()
    pii_pub = pii.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pii_priv = pii.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    raw = {k: (k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
               k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                               serialization.NoEncryption())) for k in (root, signing, downlink)}
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ur Kiosk central CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca.public_key())
               .serial_number(1).not_valid_before(datetime.now(UTC) - timedelta(minutes=5))
               .not_valid_after(datetime.now(UTC) + timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .sign(ca, hashes.SHA256()))
    with engine.begin() as c:
        c.exec_driver_sql(f"ALTER TABLE ur1_keys ADD COLUMN private_key {LEGACY_COLUMN[engine.dialect.name]}")
        for role, k in (("root", root), ("signing", signing)):
            pub, priv = raw[k]
            c.execute(text("INSERT INTO ur1_keys (kid, role, public_key, private_key, agency, types, not_before, active)"
                           " VALUES (:kid, :role, :pub, :priv, '*', '[\"*\"]', :nb, :act)"),
                      {"kid": cose_sign1.kid_of(pub).hex(), "role": role, "pub": pub, "priv": priv,
                       "nb": now - 1000, "act": True})
        c.exec_driver_sql(f"ALTER TABLE downlink_key ADD COLUMN private_key {LEGACY_COLUMN[engine.dialect.name]}")
        c.execute(text("INSERT INTO downlink_key (id, public_key, private_key, created_at) VALUES (1, :pub, :priv, :at)"),
                  {"pub": raw[downlink][0], "priv": raw[downlink][1], "at": datetime.now(UTC)})
        c.exec_driver_sql(f"ALTER TABLE pii_keys ADD COLUMN private_key {LEGACY_COLUMN[engine.dialect.name]}")
        c.execute(text("INSERT INTO pii_keys (kid, public_key, private_key, created_at, active) "
                       "VALUES (:kid, :pub, :priv, :at, :act)"),
                  {"kid": pii_seal.key_id(pii_pub).hex(), "pub": pii_pub, "priv": pii_priv,
                   "at": datetime.now(UTC), "act": True})
        c.execute(text("INSERT INTO pki (name, pem) VALUES ('ca.key', :k), ('ca.crt', :c)"),
                  {"k": ca.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
                   "c": ca_cert.public_bytes(serialization.Encoding.PEM).decode()})
    engine.dispose()
    return {"root": raw[root], "signing": raw[signing], "downlink": raw[downlink], "pii": (pii_pub, pii_priv),
            "ca": ca, "ca_cert": ca_cert}


def test_legacy_sqlite_keys_move_into_the_token_on_init(own_token: Path, tmp_path: Path) -> None:
    now = int(time.time())
    path = tmp_path / "central.db"
    old = _legacy_database(sqlite_url(path), now)
    (root_pub, root_priv), (sig_pub, sig_priv), (down_pub, down_priv) = old["root"], old["signing"], old["downlink"]  # type: ignore[misc]  # the legacy database's dict holds (pub, priv) pairs
    ca: ec.EllipticCurvePrivateKey = old["ca"]  # type: ignore[assignment]  # the legacy database's dict holds the CA key here
    ca_point = hsm.ec_point(ca.public_key())
    publics = [root_pub, sig_pub, down_pub]
    assert len(key_scan.find_private_keys(key_scan.files_of(path), publics, [ca_point])) >= 4  # there now
    # Every command but init refuses the database with one line naming the fix.
    refused(cli(path, "docs", "issue", "--type", "certificate", "--agency", "MOI"), "ur-central init",
            "ur1_keys.private_key", "downlink_key.private_key", "pii_keys.private_key", "pki ca.key")
    r = json.loads(ok(cli(path, "--json", "init")).stdout)
    assert set(r["keys_moved_into_token"]) == {"ur1_keys.private_key", "downlink_key.private_key",
                                               "pii_keys.private_key", "pki ca.key"}
    # Gone from every byte of the database files; in the token, unextractable, same ids.
    assert key_scan.find_private_keys(key_scan.files_of(path), publics, [ca_point]) == []
    blob = b"".join(p.read_bytes() for p in key_scan.files_of(path))
    pii_pub, pii_priv = old["pii"]  # type: ignore[misc]  # the legacy database's dict holds (pub, priv) pairs
    assert root_priv not in blob and sig_priv not in blob and down_priv not in blob and pii_priv not in blob
    tok = hsm.token()
    for kid in (hsm.key_id(root_pub), hsm.key_id(sig_pub), hsm.key_id(down_pub), hsm.key_id(ca_point)):
        assert tok.attributes(kid)["extractable"] is False
    # The downlink key kiosks pinned signs on, from the token.
    engine = db.make_engine(sqlite_url(path))
    with db.sessions(engine)() as s:
        signer = downlink_key.signer(s)
    engine.dispose()
    assert signer.public_hex == down_pub.hex()
    Ed25519PublicKey.from_public_bytes(down_pub).verify(signer.sign(b"ack"), b"ack")
    # Data kiosks sealed to the old personal-data key still opens, in the token now.
    bound = pii_seal.context("K1", "applications", "m-1")
    blob = pii_seal.seal(pii_pub, b"queued before the upgrade", bound, fresh=True)
    assert hsm.X25519TokenKey(pii_pub).exchange(bytes([9]) + bytes(31)) == pii_key_exchange(pii_priv)
    engine = db.make_engine(sqlite_url(path))
    with db.sessions(engine)() as s:
        assert pii_seal.open_sealed(blob, bound, pii_key.decryptor(s)) == b"queued before the upgrade"
    engine.dispose()
    # The same keys sign on: a new document under the old signing kid, checked by central,
    # and the status list init published verifies under the root kiosks pinned before.
    issued = json.loads(ok(cli(path, "--json", "docs", "issue", "--type", "certificate", "--agency", "MOI",
                                "--field", "name=Aras")).stdout)
    assert issued["kid"] == cose_sign1.kid_of(sig_pub).hex()
    assert json.loads(cli(path, "docs", "verify", issued["qr"]).stdout)["status"] == "VALID"
    body = bytes.fromhex(_rows(path, "SELECT hex(body) AS b FROM datasets WHERE name = 'status_list'")[0]["b"])
    assert status_list.decode(body, root_pub).size == 0  # published by init, before the document
    # The CA key signs in the token now: a certificate made with it chains to the old CA.
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "K1")]))
            .issuer_name(old["ca_cert"].subject).public_key(ec.generate_private_key(ec.SECP256R1()).public_key())  # type: ignore[attr-defined]  # old['ca_cert'] is an x509.Certificate
            .serial_number(7).not_valid_before(datetime.now(UTC)).not_valid_after(datetime.now(UTC) + timedelta(days=1)))
    hsm.sign_certificate(leaf, hsm.P256TokenKey(ca.public_key())).verify_directly_issued_by(old["ca_cert"])  # type: ignore[arg-type]  # old['ca_cert'] is an x509.Certificate
    ok(cli(path, "keys", "list"))  # and the other commands accept the database again


@pytest.mark.postgres
def test_legacy_postgres_keys_move_into_the_token_on_init(own_token: Path, pg_url: str) -> None:
    now = int(time.time())
    old = _legacy_database(pg_url, now)
    r = run_cli(["ur-central", "--db", pg_url, "keys", "list"])
    refused(r, "ur-central init")
    ok(run_cli(["ur-central", "--db", pg_url, "init"]))
    engine = db.make_engine(pg_url)
    try:
        with engine.connect() as c:
            assert "private_key" not in {col["name"] for col in inspect(c).get_columns("ur1_keys")}
            assert c.execute(text("SELECT count(*) FROM pki WHERE name = 'ca.key'")).scalar() == 0
    finally:
        engine.dispose()
    assert hsm.token().has(hsm.key_id(old["root"][0]))  # type: ignore[index]  # old['root'] is a (pub, priv) pair
    assert os.environ["UR_CENTRAL_HSM_DIR"] == str(own_token)
