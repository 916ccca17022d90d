"""MQTT topic names, in one place for both sides.

A kiosk publishes only under its own id (the broker ACL enforces it); central
workers share one subscription to every kiosk's uplink.
"""

from __future__ import annotations

from contract.errors import UrError

ROOT = "ur/v1"
SHARE_GROUP = "central"


def up(kiosk_id: str, stream: str) -> str:
    return f"{ROOT}/kiosk/{kiosk_id}/up/{stream}"


def down(kiosk_id: str, kind: str) -> str:
    return f"{ROOT}/kiosk/{kiosk_id}/down/{kind}"


def up_filter_shared() -> str:
    return f"$share/{SHARE_GROUP}/{ROOT}/kiosk/+/up/#"


def manifest(dataset: str) -> str:
    return f"{ROOT}/manifest/{dataset}"


MANIFEST_FILTER = f"{ROOT}/manifest/+"
REQUEST_FILTER_SHARED = f"$share/{SHARE_GROUP}/{ROOT}/kiosk/+/req/#"


def request(kiosk_id: str, kind: str) -> str:
    return f"{ROOT}/kiosk/{kiosk_id}/req/{kind}"


def parse_kiosk_topic(topic: str) -> tuple[str, str, str]:
    """`ur/v1/kiosk/K/up/stream` -> (K, "up", stream); raises UrError otherwise."""
    parts = topic.split("/")
    if len(parts) != 6 or f"{parts[0]}/{parts[1]}" != ROOT or parts[2] != "kiosk" or not parts[3]:
        raise UrError(f"topic {topic!r} is not a kiosk topic")
    return parts[3], parts[4], parts[5]
