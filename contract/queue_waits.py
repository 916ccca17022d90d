"""The "queue_waits" dataset both sides share: central measures, kiosks print estimates.

Why a dataset and not a live answer: the kiosk prints a visit ticket at submit time,
offline-first, so the estimate must come from what it synced last. Central measures
each office's recent tickets (ticket -> call, call -> done) and publishes the
medians per office and counter group, in whole minutes, so the body (and with it the
dataset version) changes only when a figure a citizen would see changes.

Body: JSON {"case_url": "https://.../staff/case/", "offices": {office: {group:
{"wait_min": int, "service_min": int}}}}. A group with no measured ticket yet is
absent: the ticket then says there is no estimate, it never guesses.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from contract.errors import ValidationError

DATASET = "queue_waits"
MAX_MINUTES = 24 * 60


@dataclass(frozen=True)
class Waits:
    """Median minutes for one office and counter group."""

    wait_min: int  # ticket printed -> called at a counter
    service_min: int  # called -> done


@dataclass(frozen=True)
class QueueWaits:
    case_url: str  # prefix of the staff application page; the ticket's QR is prefix + tracking
    offices: dict[str, dict[str, Waits]]

    def estimate(self, office: str, group: str) -> Waits | None:
        return self.offices.get(office, {}).get(group)


def minutes(seconds: float) -> int:
    """Whole minutes, rounded up (a wait of 10 s is "1 min", never "0"), capped at a day."""
    return int(min(MAX_MINUTES, max(0, math.ceil(seconds / 60))))


def median(values: list[float]) -> float:
    """The median (the mean of the middle two for an even count); 0 for none."""
    if not values:
        return 0.0
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def dump(case_url: str, offices: dict[str, dict[str, Waits]]) -> bytes:
    """Canonical body: equal figures give equal bytes (and no new dataset version)."""
    doc: dict[str, Any] = {"case_url": case_url, "offices": {
        o: {g: {"wait_min": w.wait_min, "service_min": w.service_min} for g, w in sorted(groups.items())}
        for o, groups in sorted(offices.items()) if groups}}
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _whole(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_MINUTES else None


def parse(body: bytes) -> QueueWaits:
    """The dataset, checked (problems name office, group and field)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValidationError("queue_waits dataset is not JSON", [str(e)]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("offices"), dict):
        raise ValidationError("queue_waits dataset has no 'offices' map", ["offices: missing or not a map"])
    problems: list[str] = []
    offices: dict[str, dict[str, Waits]] = {}
    for office, groups in doc["offices"].items():
        if not isinstance(groups, dict):
            problems.append(f"offices[{office!r}]: not a map")
            continue
        for group, w in groups.items():
            vals = [_whole(w.get(k)) if isinstance(w, dict) else None for k in ("wait_min", "service_min")]
            if vals[0] is None or vals[1] is None:
                problems.append(f"offices[{office!r}][{group!r}]: wait_min and service_min must be 0..{MAX_MINUTES}")
                continue
            offices.setdefault(str(office), {})[str(group)] = Waits(vals[0], vals[1])
    if problems:
        raise ValidationError("queue_waits dataset is invalid", problems)
    return QueueWaits(str(doc.get("case_url", ""))[:200], offices)
