"""Named points in the live code where the test suite injects faults.

The failure tests need a payment to die right after a given commit, a worker to
lose acks and a kiosk to publish twice. Those used to be environment variables
read by the money and sync paths, so one stray variable on a deployed machine
could kill payments. Here nothing reads the environment, a file or an argument:
a point fires only when a hook was installed in the same process by a call to
`install`, which only the test suite makes (tests/faults.py, in-process and
through its launcher `python -m tests.launch` for the CLIs it starts). Without a
hook, `reached` is one dict lookup and does nothing.
"""

from __future__ import annotations

from collections.abc import Callable

# Point names (the code that reaches them passes a detail, e.g. the payment step).
PAY_STEP_COMMITTED = "payments.step_committed"  # detail: the step just committed
WORKER_ACK = "worker.ack"  # detail: the kiosk id; a hook returning True drops that ack
SYNC_PUBLISH = "sync.publish"  # detail: the message id; a hook returning True publishes it twice
WORKER_APPLY = "worker.apply"  # detail: the worker id; reached before each batch's apply (a hook may pause there)
POINTS = frozenset({PAY_STEP_COMMITTED, WORKER_ACK, SYNC_PUBLISH, WORKER_APPLY})

Hook = Callable[[str], bool]
_hooks: dict[str, Hook] = {}


def reached(point: str, detail: str = "") -> bool:
    """Whether the fault at `point` fires now (False unless a test installed a hook).
    A hook may also act itself, e.g. kill the process like a power cut."""
    hook = _hooks.get(point)
    return bool(hook(detail)) if hook is not None else False


def install(point: str, hook: Hook) -> None:
    """Install `hook` at `point` for this process (test suite only)."""
    if point not in POINTS:
        raise ValueError(f"unknown fault point {point!r} (known: {', '.join(sorted(POINTS))})")
    _hooks[point] = hook


def clear() -> None:
    """Remove every hook (the product's state)."""
    _hooks.clear()


def installed() -> frozenset[str]:
    return frozenset(_hooks)
