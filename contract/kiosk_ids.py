"""What a kiosk id may be: one grammar for both sides, checked before anything
is issued for it.

A kiosk id becomes the CN of the kiosk's broker certificate, which Mosquitto
turns into the MQTT user name (`use_identity_as_username`) and client id
(`use_username_as_clientid`), and it sits inside topic names (`%u` in the ACL).
So it must not contain MQTT wildcards or separators, must not be empty, and must
never be a name the broker gives more rights than a kiosk: `central`,
`central-2`, ... are the workers' identities (superusers in the ACL), so a kiosk called `central` would read
every kiosk's uplink. Reserved words are compared case-insensitively, so a
look-alike (`Central`) is refused too.
"""

from __future__ import annotations

import re

from contract.errors import UrError

GRAMMAR = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Identities with broker rights beyond a kiosk's: central's workers are `central`,
# `central-2`, ... (central.pki.worker_users), so the whole prefix is reserved.
RESERVED_PREFIX = "central"


def check(kiosk_id: str) -> str:
    """`kiosk_id` if it is a valid, unreserved kiosk id; else UrError naming why."""
    if not isinstance(kiosk_id, str) or not _RE.fullmatch(kiosk_id):
        raise UrError(f"kiosk id {kiosk_id!r} is not a kiosk id: 1-64 letters, digits, '-' or '_', "
                      "starting with a letter or digit")
    if kiosk_id.lower().startswith(RESERVED_PREFIX):
        raise UrError(f"kiosk id {kiosk_id!r} is reserved (it names central's own broker identity)")
    return kiosk_id
