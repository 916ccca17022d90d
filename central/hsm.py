"""Central's private keys in a PKCS#11 token (an HSM; SoftHSM2 in tests and the demo).

The root key, the document signing keys, the downlink key, the broker CA key
and the personal-data sealing key are generated inside the token (CKA_SENSITIVE
true, CKA_EXTRACTABLE false) and never leave it: the database keeps only public
keys and key ids, and every signature and key exchange is a call into the
token. A stolen database or backup signs nothing and opens nothing.

Decisions:
- Which token: the PKCS#11 module `$UR_CENTRAL_PKCS11_MODULE` (default Debian's
  SoftHSM2) and the token labelled `$UR_CENTRAL_TOKEN` (default "ur-central").
  Keys are found by CKA_ID (8 bytes: the key's kid), so several central
  databases may share one token without clashing.
- Where SoftHSM2 keeps it: central writes its own SoftHSM2 config and token
  directory under `$UR_CENTRAL_HSM_DIR` (default `var/hsm`, beside the default
  database), 0700/0600 from the first byte, and creates the token on first
  use. An operator's own `SOFTHSM2_CONF` is used as it is when
  `UR_CENTRAL_HSM_DIR` is not set. A real HSM is initialised by its vendor's
  tools; central never creates one.
- The user PIN: read from a file, `$UR_CENTRAL_PIN_FILE` (default
  `<hsm dir>/user.pin`), which must be 0600 (refused if group or others can
  read it). Never an argument (visible in `ps`), never printed or logged.
  When central creates a SoftHSM2 token it makes a random PIN into that file
  (or takes the one the operator put there) and writes a random SO PIN to
  `<hsm dir>/so.pin` (0600) for the operator to move offline.
- One logged-in session per process, and a lock around each operation: a
  PKCS#11 session is not for concurrent use. The session is reopened after a
  fork or when the configuration changes (tests switch tokens).

With SoftHSM2 the token is files on central's disk, encrypted under the PIN:
whoever can read both the token directory and the PIN file can sign. The
boundary is real with a hardware token behind the same code.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pkcs11
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pkcs11 import KDF, Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from contract import private_files
from contract.errors import UrError

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
DEFAULT_LABEL = "ur-central"
DEFAULT_DIR = "var/hsm"
ED25519_OID = "1.3.101.112"
# X25519 (the personal-data sealing key). SoftHSM2 2.6 makes and uses it as a CKK_EC_EDWARDS
# key on this curve (python-pkcs11 0.10 has no CKK_EC_MONTGOMERY, the PKCS#11 3.0 name).
X25519_OID = "1.3.101.110"
P256 = "secp256r1"
ID_LEN = 8
PIN_BYTES = 16  # 32 hex digits


class HsmError(UrError):
    """The token cannot be reached or refused an operation."""


@dataclass(frozen=True)
class Config:
    module: str
    label: str
    pin_file: Path
    hsm_dir: Path
    softhsm_conf: Path | None  # set when central manages the SoftHSM2 token directory

    @property
    def managed(self) -> bool:
        return self.softhsm_conf is not None


def config() -> Config:
    """The token configuration from the environment (see the module docstring)."""
    module = os.environ.get("UR_CENTRAL_PKCS11_MODULE") or SOFTHSM_MODULE
    hsm_dir = Path(os.environ.get("UR_CENTRAL_HSM_DIR") or DEFAULT_DIR).absolute()
    pin_file = Path(os.environ.get("UR_CENTRAL_PIN_FILE") or hsm_dir / "user.pin").absolute()
    # An operator's own SOFTHSM2_CONF is used as it is unless UR_CENTRAL_HSM_DIR is set.
    managed = "softhsm" in Path(module).name and (
        bool(os.environ.get("UR_CENTRAL_HSM_DIR")) or not os.environ.get("SOFTHSM2_CONF"))
    return Config(module, os.environ.get("UR_CENTRAL_TOKEN") or DEFAULT_LABEL, pin_file, hsm_dir,
                  hsm_dir / "softhsm2.conf" if managed else None)


def read_pin(path: Path) -> str:
    """The user PIN from its file; refused when other users could read it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise HsmError(f"token PIN file {path} does not exist (set UR_CENTRAL_PIN_FILE)") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise HsmError(f"token PIN file {path} is readable by other users "
                       f"(mode {stat.S_IMODE(st.st_mode):o}); chmod 600 it")
    pin = path.read_text(encoding="utf-8").strip()
    if not pin:
        raise HsmError(f"token PIN file {path} is empty")
    return pin


def key_id(public_bytes: bytes) -> bytes:
    """CKA_ID of a key: the first 8 bytes of SHA-256 of its public key (for Ed25519
    keys this is the COSE kid, for EC keys the hash of the uncompressed point)."""
    return hashlib.sha256(public_bytes).digest()[:ID_LEN]


def ec_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _raw_point(value: bytes, size: int | None = None) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING (SoftHSM2); some tokens return it raw."""
    if size is not None and len(value) == size:
        return value
    try:
        return bytes(asn1_core.OctetString.load(value).native)
    except ValueError:
        return value


# ---- SoftHSM2 set-up (tests and the demo) ------------------------------------------

_CKF_TOKEN_INITIALIZED = 0x400


def _init_token(module: str, slot_id: int, so_pin: str, label: str) -> None:
    """C_InitToken: python-pkcs11 has no binding for it, so call the module
    directly (the same loaded library, already C_Initialize'd by python-pkcs11)."""
    lib = ctypes.CDLL(module)
    fn = lib.C_InitToken
    fn.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    fn.restype = ctypes.c_ulong
    pin = so_pin.encode()
    rv = fn(slot_id, pin, len(pin), label.encode().ljust(32)[:32])
    if rv != 0:
        raise HsmError(f"could not initialise token {label!r} (PKCS#11 error 0x{rv:x})")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _softhsm_files(cfg: Config) -> None:
    assert cfg.softhsm_conf is not None
    private_files.private_dir(cfg.hsm_dir)
    tokens = private_files.private_dir(cfg.hsm_dir / "tokens")
    if not cfg.softhsm_conf.exists():
        private_files.write_private(cfg.softhsm_conf, "\n".join([
            f"directories.tokendir = {tokens}", "objectstore.backend = file", "log.level = ERROR",
            "slots.removable = false", "slots.mechanisms = ALL", "library.reset_on_fork = true", ""]))


def _provision(cfg: Config, lib: Any) -> None:
    """Create the SoftHSM2 token `cfg.label` if it does not exist yet."""
    if any(t.label == cfg.label for t in lib.get_tokens()):
        return
    if not cfg.pin_file.exists():
        private_files.write_private(cfg.pin_file, secrets.token_hex(PIN_BYTES) + "\n")
    pin = read_pin(cfg.pin_file)
    so_pin = secrets.token_hex(PIN_BYTES)
    private_files.write_private(cfg.hsm_dir / "so.pin", so_pin + "\n")
    free = [s for s in lib.get_slots() if not s.get_token().flags & _CKF_TOKEN_INITIALIZED]
    if not free:
        raise HsmError("SoftHSM2 has no free slot for a new token")
    _init_token(cfg.module, free[0].slot_id, so_pin, cfg.label)
    with lib.get_token(token_label=cfg.label).open(rw=True, so_pin=so_pin) as s:
        s.init_pin(pin)


# ---- the token ---------------------------------------------------------------------


class Token:
    """One logged-in session on the configured token; every operation holds the lock."""

    def __init__(self, cfg: Config, session: Any) -> None:
        self.cfg = cfg
        self._session = session
        self._lock = threading.RLock()
        self._keys: dict[bytes, Any] = {}

    def close(self) -> None:
        with self._lock, contextlib.suppress(pkcs11.PKCS11Error):
            self._session.close()

    def _private(self, kid: bytes) -> Any:
        k = self._keys.get(kid)
        if k is None:
            try:
                k = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=kid)
            except pkcs11.NoSuchKey:
                raise HsmError(f"key {kid.hex()} is not in token {self.cfg.label!r}") from None
            self._keys[kid] = k
        return k

    def has(self, kid: bytes) -> bool:
        with self._lock:
            try:
                self._private(kid)
                return True
            except HsmError:
                return False

    @staticmethod
    def _private_template(label: str, derive: bool = False) -> dict[Attribute, Any]:
        """Sensitive, never extractable; a signing key or (`derive`) a key-agreement key."""
        return {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False, Attribute.SIGN: not derive, Attribute.DERIVE: derive,
                Attribute.LABEL: label}

    def _generate(self, key_type: KeyType, curve: str, label: str, size: int, derive: bool = False) -> bytes:
        """A new key pair in the token, both halves given the id of the public point
        (known only once the pair exists); returns that raw point."""
        with self._lock:
            params = self._session.create_domain_parameters(
                key_type, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True)
            tmp = secrets.token_bytes(ID_LEN)
            usage = Attribute.DERIVE if derive else Attribute.VERIFY
            pub, priv = params.generate_keypair(
                store=True, id=tmp, label=label,
                public_template={Attribute.TOKEN: True, usage: True, Attribute.LABEL: label},
                private_template=self._private_template(label, derive))
            raw = _raw_point(pub[Attribute.EC_POINT], size)
            kid = key_id(raw)
            pub[Attribute.ID] = kid
            priv[Attribute.ID] = kid
            self._keys[kid] = priv
            return raw

    def _import(self, kid: bytes, key_type: KeyType, curve: str, value: bytes, label: str,
                derive: bool = False) -> bytes:
        """Move an existing raw private key into the token under `kid` (upgrading an
        old database); a key already there is left as it is."""
        with self._lock:
            if not self.has(kid):
                self._session.create_object({
                    **self._private_template(label, derive=derive), Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                    Attribute.KEY_TYPE: key_type, Attribute.ID: kid,
                    Attribute.EC_PARAMS: encode_named_curve_parameters(curve), Attribute.VALUE: value})
        return kid

    def generate_x25519(self, label: str) -> bytes:
        """A new X25519 key-agreement key in the token; returns the raw public key."""
        return self._generate(KeyType.EC_EDWARDS, X25519_OID, label, 32, derive=True)

    def import_x25519(self, private_raw: bytes, public_raw: bytes, label: str) -> bytes:
        """Move an existing raw X25519 key into the token (upgrading an old database)."""
        return self._import(key_id(public_raw), KeyType.EC_EDWARDS, X25519_OID, private_raw, label, derive=True)

    def exchange_x25519(self, kid: bytes, peer_raw: bytes) -> bytes:
        """The X25519 shared secret of key `kid` with `peer_raw` (CKM_ECDH1_DERIVE, no KDF:
        the caller runs HKDF). The secret comes out as a session object that is read and
        destroyed at once. ValueError for an unusable peer key (wrong length, low order),
        as cryptography's exchange raises; HsmError when the token itself fails."""
        if len(peer_raw) != 32:
            raise ValueError("an X25519 public key has 32 bytes")
        with self._lock:
            try:
                secret = self._private(kid).derive_key(
                    KeyType.GENERIC_SECRET, 256, mechanism=Mechanism.ECDH1_DERIVE,
                    mechanism_param=(KDF.NULL, None, peer_raw),
                    template={Attribute.TOKEN: False, Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True})
                try:
                    return bytes(secret[Attribute.VALUE])
                finally:
                    secret.destroy()
            except pkcs11.PKCS11Error as e:
                failure = type(e).__name__
        try:  # a low-order point fails the same way in process: the peer's fault, not the token's
            X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(peer_raw))
        except ValueError:
            raise ValueError("peer key is a low-order X25519 point") from None
        raise HsmError(f"token refused the key exchange with key {kid.hex()}: {failure}")

    def generate_ed25519(self, label: str) -> bytes:
        """A new Ed25519 key pair in the token; returns the raw 32-byte public key."""
        return self._generate(KeyType.EC_EDWARDS, ED25519_OID, label, 32)

    def generate_p256(self, label: str) -> ec.EllipticCurvePublicKey:
        """A new ECDSA P-256 key pair in the token (the broker CA)."""
        point = self._generate(KeyType.EC, P256, label, 65)
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)

    def import_ed25519(self, private_raw: bytes, public_raw: bytes, label: str) -> bytes:
        """Move an existing raw Ed25519 key into the token (upgrading an old database)."""
        return self._import(key_id(public_raw), KeyType.EC_EDWARDS, ED25519_OID, private_raw, label)

    def import_p256(self, key: ec.EllipticCurvePrivateKey, label: str) -> bytes:
        """Move an existing P-256 key into the token (the CA key of an old database)."""
        return self._import(key_id(ec_point(key.public_key())), KeyType.EC, P256,
                            key.private_numbers().private_value.to_bytes(32, "big"), label)

    def destroy(self, kid: bytes) -> int:
        """Delete both halves of key `kid` from the token; returns how many objects went."""
        with self._lock:
            self._keys.pop(kid, None)
            objs = list(self._session.get_objects({Attribute.ID: kid}))
            for o in objs:
                o.destroy()
            return len(objs)

    def attributes(self, kid: bytes) -> dict[str, bool]:
        """CKA_SENSITIVE / CKA_EXTRACTABLE of the private key (tests assert them)."""
        with self._lock:
            k = self._private(kid)
            return {"sensitive": bool(k[Attribute.SENSITIVE]), "extractable": bool(k[Attribute.EXTRACTABLE]),
                    "never_extractable": bool(k[Attribute.NEVER_EXTRACTABLE])}

    def private_value(self, kid: bytes) -> bytes:
        """Ask the token for the private key bytes: it must refuse (tests prove it does)."""
        with self._lock:
            return bytes(self._private(kid)[Attribute.VALUE])

    def sign_eddsa(self, kid: bytes, data: bytes) -> bytes:
        with self._lock:
            try:
                return bytes(self._private(kid).sign(data, mechanism=Mechanism.EDDSA))
            except pkcs11.PKCS11Error as e:
                raise HsmError(f"token refused to sign with key {kid.hex()}: {type(e).__name__}") from None

    def sign_ecdsa_sha256(self, kid: bytes, data: bytes) -> bytes:
        """ECDSA over SHA-256(data), DER-encoded (what X.509 wants). SoftHSM2 offers
        only CKM_ECDSA, so the hash is taken here and the token signs the digest."""
        digest = hashlib.sha256(data).digest()
        with self._lock:
            try:
                rs = bytes(self._private(kid).sign(digest, mechanism=Mechanism.ECDSA))
            except pkcs11.PKCS11Error as e:
                raise HsmError(f"token refused to sign with key {kid.hex()}: {type(e).__name__}") from None
        half = len(rs) // 2
        return encode_dss_signature(int.from_bytes(rs[:half], "big"), int.from_bytes(rs[half:], "big"))


_state_lock = threading.Lock()
_current: tuple[Config, int, Token] | None = None


def _open(cfg: Config, reinitialize: bool) -> Token:
    if cfg.softhsm_conf is not None:
        _softhsm_files(cfg)
        # SoftHSM2 reads SOFTHSM2_CONF in C_Initialize; child processes inherit both.
        os.environ["SOFTHSM2_CONF"] = str(cfg.softhsm_conf)
        os.environ["UR_CENTRAL_HSM_DIR"] = str(cfg.hsm_dir)
    try:
        lib = pkcs11.lib(cfg.module)
        if reinitialize:  # another token directory than before, or a forked child
            lib.reinitialize()
    except pkcs11.PKCS11Error as e:
        raise HsmError(f"cannot load PKCS#11 module {cfg.module}: {e}") from None
    if cfg.managed:
        with _locked(cfg.hsm_dir / ".provision.lock"):
            # SoftHSM2 reads its token directory in C_Initialize: start again, so a token
            # another process made since this one loaded the module is seen (not made twice).
            lib.reinitialize()
            _provision(cfg, lib)
    pin = read_pin(cfg.pin_file)
    try:
        tok = lib.get_token(token_label=cfg.label)
    except pkcs11.NoSuchToken:
        raise HsmError(f"no PKCS#11 token labelled {cfg.label!r} in {cfg.module}") from None
    try:
        session = tok.open(rw=True, user_pin=pin)
    except pkcs11.PinIncorrect:
        raise HsmError(f"token {cfg.label!r} refused the PIN in {cfg.pin_file}") from None
    except pkcs11.PKCS11Error as e:
        raise HsmError(f"cannot open token {cfg.label!r}: {type(e).__name__}") from None
    return Token(cfg, session)


def token() -> Token:
    """The process's session on the configured token (opened on first use)."""
    global _current
    cfg = config()
    with _state_lock:
        if _current is not None and _current[0] == cfg and _current[1] == os.getpid():
            return _current[2]
        switching = _current is not None
        if _current is not None:
            _old_cfg, old_pid, old_tok = _current
            _current = None
            if old_pid == os.getpid():
                old_tok.close()
        try:
            tok = _open(cfg, reinitialize=switching)
        except BaseException:
            # Finalize, so the next attempt initialises again with the configuration then.
            with contextlib.suppress(Exception):
                pkcs11.unload(cfg.module)
            raise
        _current = (cfg, os.getpid(), tok)
        return tok


def reset() -> None:
    """Close this process's session (tests switching token directories call it)."""
    global _current
    with _state_lock:
        if _current is not None:
            cfg, pid, tok = _current
            _current = None
            if pid == os.getpid():
                tok.close()
            with contextlib.suppress(Exception):
                pkcs11.unload(cfg.module)


# ---- signers handed to the COSE / envelope code --------------------------------------


class Ed25519TokenKey:
    """An Ed25519 key in the token with the two methods the signing code uses
    (`sign`, `public_key`), so contract.cose_sign1 and contract.envelope take it
    where they took an in-process Ed25519PrivateKey."""

    def __init__(self, public_raw: bytes) -> None:
        self.public_raw = public_raw
        self.kid = key_id(public_raw)

    def sign(self, data: bytes) -> bytes:
        return token().sign_eddsa(self.kid, data)

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_raw)


class X25519TokenKey:
    """An X25519 key in the token as a contract.pii_seal Recipient (`public_raw`,
    `exchange`): central opens sealed personal data with it."""

    def __init__(self, public_raw: bytes) -> None:
        self.public_raw = public_raw
        self.kid = key_id(public_raw)

    def exchange(self, peer_public_raw: bytes) -> bytes:
        return token().exchange_x25519(self.kid, peer_public_raw)


class P256TokenKey:
    """The CA's ECDSA P-256 key in the token, signing X.509 structures."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey) -> None:
        self._public = public_key
        self.kid = key_id(ec_point(public_key))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign_sha256(self, data: bytes) -> bytes:
        return token().sign_ecdsa_sha256(self.kid, data)


# cryptography signs only with its own key objects. A certificate is built and signed
# with this throwaway key (same algorithm, so the TBS part names ecdsa-with-SHA256);
# the TBS bytes are then signed in the token and the certificate is put together
# again around the token's signature.
_PLACEHOLDER = ec.generate_private_key(ec.SECP256R1())


def sign_certificate(builder: x509.CertificateBuilder, key: P256TokenKey) -> x509.Certificate:
    """`builder` signed by `key` in the token."""
    tbs = builder.sign(_PLACEHOLDER, hashes.SHA256()).tbs_certificate_bytes
    der = asn1_x509.Certificate({"tbs_certificate": asn1_x509.TbsCertificate.load(tbs),
                                 "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                                 "signature_value": key.sign_sha256(tbs)}).dump()
    return x509.load_der_x509_certificate(der)


def sign_crl(builder: x509.CertificateRevocationListBuilder, key: P256TokenKey) -> x509.CertificateRevocationList:
    """`builder` (a CRL) signed by `key` in the token."""
    tbs = builder.sign(_PLACEHOLDER, hashes.SHA256()).tbs_certlist_bytes
    der = asn1_crl.CertificateList({"tbs_cert_list": asn1_crl.TbsCertList.load(tbs),
                                    "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                                    "signature": key.sign_sha256(tbs)}).dump()
    return x509.load_der_x509_crl(der)
