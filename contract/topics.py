"""MQTT topic names, in one place for both sides.

A kiosk publishes only under its own id (the broker ACL enforces it). Its uplink
carries its partition, a stable hash of the kiosk id (`partition_of`), as a topic
level: `ur/v1/kiosk/K/up/NN/stream`. A central worker subscribes with standard
MQTT 5 filters to the partitions it leases (`up_filter(p)`: `ur/v1/kiosk/+/up/NN/#`),
so one kiosk's ordered streams always reach one worker, and the kiosk's ACL line
(`ur/v1/kiosk/%u/up/#`) is unchanged. Kiosks of an older release publish on
`ur/v1/kiosk/K/up/stream`; central maps those to the same partition (`parse_uplink`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from contract.errors import UrError

ROOT = "ur/v1"
SHARE_GROUP = "central"
# Fixed for the life of a deployment: changing it moves kiosks between partitions,
# which is only safe with every worker stopped. 64 lets up to 64 workers share the
# load; a worker holds ceil(64 / workers) of them.
PARTITIONS = 64


def partition_of(kiosk_id: str) -> int:
    """The kiosk's partition: the first 4 bytes of sha256(kiosk id), big-endian, mod
    PARTITIONS. Stable across processes and releases (no Python `hash`)."""
    return int.from_bytes(hashlib.sha256(kiosk_id.encode()).digest()[:4], "big") % PARTITIONS


def up(kiosk_id: str, stream: str) -> str:
    return f"{ROOT}/kiosk/{kiosk_id}/up/{partition_of(kiosk_id):02d}/{stream}"


def up_legacy(kiosk_id: str, stream: str) -> str:
    """The uplink topic of kiosks from before partitions (still accepted by central)."""
    return f"{ROOT}/kiosk/{kiosk_id}/up/{stream}"


def up_filter(partition: int) -> str:
    """Every kiosk's uplink in one partition (a plain subscription: one worker at a time)."""
    if not 0 <= partition < PARTITIONS:
        raise UrError(f"partition {partition} is not in 0..{PARTITIONS - 1}")
    return f"{ROOT}/kiosk/+/up/{partition:02d}/#"


# Uplink of older kiosks (`.../up/stream`, one level fewer: `+` never matches the
# partitioned form). Every worker subscribes without sharing and applies only the
# messages of partitions it leases, so such a message is applied by its owner alone.
UP_LEGACY_FILTER = f"{ROOT}/kiosk/+/up/+"
# `ur/v1/kiosk/K/up` itself is junk (no stream): one worker, any, counts it.
UP_BARE_FILTER_SHARED = f"$share/{SHARE_GROUP}/{ROOT}/kiosk/+/up"


@dataclass(frozen=True)
class Uplink:
    kiosk_id: str
    partition: int
    stream: str
    legacy: bool  # sent on the pre-partition topic


def parse_uplink(topic: str) -> Uplink:
    """`ur/v1/kiosk/K/up/NN/stream` (or the legacy `ur/v1/kiosk/K/up/stream`) ->
    Uplink; raises UrError for anything else, including a partition level that is
    not K's own partition."""
    parts = topic.split("/")
    if len(parts) not in (6, 7) or f"{parts[0]}/{parts[1]}" != ROOT or parts[2] != "kiosk" \
            or not parts[3] or parts[4] != "up" or not parts[-1]:
        raise UrError(f"topic {topic!r} is not an uplink topic")
    kiosk_id, stream = parts[3], parts[-1]
    own = partition_of(kiosk_id)
    if len(parts) == 6:
        return Uplink(kiosk_id, own, stream, legacy=True)
    if parts[5] != f"{own:02d}":
        raise UrError(f"topic {topic!r}: partition {parts[5]!r} is not kiosk {kiosk_id}'s ({own:02d})")
    return Uplink(kiosk_id, own, stream, legacy=False)


def down(kiosk_id: str, kind: str) -> str:
    return f"{ROOT}/kiosk/{kiosk_id}/down/{kind}"


def manifest(dataset: str) -> str:
    return f"{ROOT}/manifest/{dataset}"


MANIFEST_FILTER = f"{ROOT}/manifest/+"
# Every worker sees every request and answers those of kiosks in partitions it
# leases. Not a shared subscription: MQTT 5 lets a broker deal a shared message to
# a member that is offline with a persistent session (Mosquitto does), so a dead
# worker would sit on its share of requests until it came back.
REQUEST_FILTER = f"{ROOT}/kiosk/+/req/#"


def request(kiosk_id: str, kind: str) -> str:
    return f"{ROOT}/kiosk/{kiosk_id}/req/{kind}"


def parse_kiosk_topic(topic: str) -> tuple[str, str, str]:
    """`ur/v1/kiosk/K/up/stream` -> (K, "up", stream); raises UrError otherwise."""
    parts = topic.split("/")
    if len(parts) != 6 or f"{parts[0]}/{parts[1]}" != ROOT or parts[2] != "kiosk" or not parts[3]:
        raise UrError(f"topic {topic!r} is not a kiosk topic")
    return parts[3], parts[4], parts[5]
