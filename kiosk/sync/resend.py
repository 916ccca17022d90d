"""When an ack timeout fires, what to send again: TCP's rule for a silent peer.

A kiosk resends a message whose ack did not come in time. That is right when
central is alive and the message (or its ack) was lost, and wrong when central is
only slow: after a power cut a whole hall of kiosks reconnects, central's backlog
outlasts the ack timeout, and every kiosk resending everything makes central pay a
receipt, a signature check, a duplicate lookup and an ack for each copy, which
makes the backlog longer still. So, as TCP does on a retransmission timeout:

- a message whose timeout fired after *some* ack came from central since it was
  sent is resent (central is alive: this one was probably lost);
- of the messages whose timeout fired with *no* ack at all since they were sent
  (central is backlogged or gone), only the oldest is resent, as a probe (its
  timer backs off with every resend: `outbox.mark_sent`); the others are held:
  no deadline, no resend;
- the next ack from central re-arms every held message with a fresh timeout from
  that ack (`rearm`), after which the first rule applies to them; a reconnect
  makes everything due again (`outbox.reset_in_flight`), the caller clears this state.

Exactly-once does not depend on any of this (central's inbox absorbs copies);
liveness does: while anything is held a probe is out, so a message central lost is
still resent once central answers. Pure: the caller passes the time and keeps the
state; the kiosk's sync loop (kiosk/sync/client.py) and the fleet simulator
(bench/fleet.py) use the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Flight:
    """One message sent and not acked yet."""

    sent_at: float  # its last send (the caller's clock)
    deadline: float | None  # resend check due then; None: held until central acks something
    probe: bool = False  # resent as the probe of a silent central


@dataclass
class Plan:
    resend: list[str] = field(default_factory=list)  # send these again now (the probe included)
    hold: list[str] = field(default_factory=list)  # keep in flight, no deadline, until an ack
    probe: str | None = None  # the one of `resend` that probes a silent central


def plan(flights: Mapping[str, Flight], last_ack: float | None, now: float) -> Plan:
    """What to do with the messages whose deadline has passed at `now`, given the
    time of the last ack from central (None: none yet on this connection). Among
    equally old messages the first in `flights`' order is the oldest."""
    out = Plan()
    silent: list[str] = []
    for mid, f in flights.items():
        if f.deadline is None or f.deadline > now:
            continue
        if last_ack is not None and last_ack >= f.sent_at:
            out.resend.append(mid)
        else:
            silent.append(mid)
    if not silent:
        return out
    probing = any(f.probe for mid, f in flights.items() if mid not in out.resend)
    if not probing:
        # No probe out: the oldest silent one becomes it (a held one too, should the
        # last probe have gone without an ack: something must keep asking central).
        held = [mid for mid, f in flights.items() if f.deadline is None]
        candidates = silent + held
        oldest = min(candidates, key=lambda m: flights[m].sent_at)  # min keeps the first of equals
        out.probe = oldest
    for mid in silent:
        if flights[mid].probe or mid == out.probe:
            out.resend.append(mid)
            out.probe = mid
        else:
            out.hold.append(mid)
    if out.probe is not None and out.probe not in out.resend:
        out.resend.append(out.probe)  # a held message promoted to probe
    return out


def apply(flights: MutableMapping[str, Flight], p: Plan) -> None:
    """Held messages lose their deadline; the ones to resend leave the map (the
    caller puts them back with `Flight(now, ..., probe=(mid == p.probe))` once sent)."""
    for mid in p.hold:
        flights[mid] = replace(flights[mid], deadline=None, probe=False)
    for mid in p.resend:
        flights.pop(mid, None)


def rearm(flights: MutableMapping[str, Flight], at: float, ack_timeout: float) -> int:
    """Central acked something at `at`: it is alive. Held messages get a fresh
    timeout from then and nothing is a probe any more. Returns how many were held."""
    n = 0
    for mid, f in list(flights.items()):
        if f.deadline is None:
            flights[mid] = Flight(f.sent_at, at + ack_timeout)
            n += 1
        elif f.probe:
            flights[mid] = replace(f, probe=False)
    return n
