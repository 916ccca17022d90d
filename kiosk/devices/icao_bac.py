"""Basic Access Control (ICAO Doc 9303 Part 11, 4.3 and 9.7): the key derivation from
the MRZ and the mutual authentication that yields the secure-messaging session keys.

Sans-I/O: the terminal's side of the handshake as two pure steps. `start` takes the
chip's challenge (GET CHALLENGE) and returns the EXTERNAL AUTHENTICATE data;
`finish` takes the chip's answer and returns the session, or raises `BacFailed`
when the chip's cryptogram does not verify (wrong MRZ, or not this chip).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from kiosk.devices import icao_crypto as crypto
from kiosk.devices.card_errors import BacFailed
from kiosk.devices.icao_mrz import MrzKey

GET_CHALLENGE = bytes.fromhex("0084000008")


@dataclass(frozen=True)
class AccessKeys:
    """K_seed and the document basic access keys K_enc, K_mac."""

    seed: bytes
    enc: bytes
    mac: bytes


def access_keys(key: MrzKey) -> AccessKeys:
    seed = hashlib.sha1(key.information()).digest()[:16]
    return AccessKeys(seed, crypto.derive_key(seed, crypto.ENC), crypto.derive_key(seed, crypto.MAC))


@dataclass(frozen=True)
class Session:
    """The secure-messaging keys KS_enc, KS_mac and the send sequence counter's start."""

    enc: bytes
    mac: bytes
    ssc: int


@dataclass(frozen=True)
class Handshake:
    """The terminal's half of mutual authentication, between its two messages."""

    keys: AccessKeys
    rnd_icc: bytes
    rnd_ifd: bytes
    k_ifd: bytes

    def command(self) -> bytes:
        """The EXTERNAL AUTHENTICATE APDU: E_IFD || M_IFD, Le = 0x28."""
        s = self.rnd_ifd + self.rnd_icc + self.k_ifd
        e_ifd = crypto.encrypt(self.keys.enc, s)
        m_ifd = crypto.retail_mac(self.keys.mac, crypto.pad(e_ifd))
        data = e_ifd + m_ifd
        return bytes([0x00, 0x82, 0x00, 0x00, len(data)]) + data + b"\x28"

    def finish(self, response_data: bytes) -> Session:
        if len(response_data) != 40:
            raise BacFailed(f"mutual authentication answer of {len(response_data)} bytes (40 expected)")
        e_icc, m_icc = response_data[:32], response_data[32:]
        if not hmac.compare_digest(crypto.retail_mac(self.keys.mac, crypto.pad(e_icc)), m_icc):
            raise BacFailed("the chip's answer does not verify: the MRZ data do not match this card")
        r = crypto.decrypt(self.keys.enc, e_icc)
        if r[:8] != self.rnd_icc or r[8:16] != self.rnd_ifd:
            raise BacFailed("the chip's answer does not carry our challenge: not the chip we asked")
        k_icc = r[16:32]
        seed = bytes(a ^ b for a, b in zip(self.k_ifd, k_icc, strict=True))
        ssc = int.from_bytes(self.rnd_icc[4:] + self.rnd_ifd[4:], "big")
        return Session(crypto.derive_key(seed, crypto.ENC), crypto.derive_key(seed, crypto.MAC), ssc)


def start(key: MrzKey, rnd_icc: bytes, rnd_ifd: bytes, k_ifd: bytes) -> Handshake:
    """rnd_ifd (8 bytes) and k_ifd (16 bytes) come from the caller's secure random source."""
    if len(rnd_icc) != 8:
        raise BacFailed(f"GET CHALLENGE gave {len(rnd_icc)} bytes (8 expected)")
    if len(rnd_ifd) != 8 or len(k_ifd) != 16:
        raise ValueError("rnd_ifd must be 8 bytes and k_ifd 16 bytes")
    return Handshake(access_keys(key), rnd_icc, rnd_ifd, k_ifd)
