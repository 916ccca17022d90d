"""The test suite's fault injection and test settings, and the launcher that
starts the real CLIs with them.

The product reads no fault or test switch from the environment (see
contract/fault_points.py and kiosk/pin_hash.use_hasher): the suite installs
them in-process. A CLI a test starts as its own process is run through this
module instead of `python -m kiosk.cli`:

    python -m tests.faults [--crash-at STEP] [--drop-acks P] [--duplicate-sends P]
                           [--seed N] -- kiosk.cli --data D pay ...

which installs the hooks and the cheap PIN hasher the in-process tests use, and
then runs the module as `python -m` would.
"""

from __future__ import annotations

import argparse
import os
import random
import runpy
import signal
import sys
from collections.abc import Sequence

from argon2 import PasswordHasher, Type

from contract import fault_points
from kiosk import pin_hash

# Tiny Argon2id parameters: the suite logs in hundreds of times, and the real cost is
# seconds per hash. tests/test_pin_hash.py checks the product's default is the real one.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, hash_len=32, salt_len=16,
                             type=Type.ID)


def use_fast_pin_hash(central: bool = True) -> None:
    """Cashier PINs and the web console's staff passwords alike. `central=False` (a
    kiosk process, which never imports central) leaves out central's accounts module:
    importing it is 0.3 s of CPU, a third of a kiosk CLI's start-up (measured)."""
    pin_hash.use_hasher(FAST_HASHER)
    if central:
        from central.web import accounts

        accounts.use_hasher(FAST_HASHER)


def crash_at(step: str) -> fault_points.Hook:
    """A hook that kills this process like a power cut once `step` is committed."""
    def hook(detail: str) -> bool:
        if detail == step:
            os.kill(os.getpid(), signal.SIGKILL)
        return False
    return hook


def share(p: float, rng: random.Random) -> fault_points.Hook:
    """A hook that fires for a share `p` of the calls, drawn from `rng` (seeded by the test)."""
    def hook(_detail: str) -> bool:
        return rng.random() < p
    return hook


def install(crash: str | None = None, drop_acks: float = 0.0, duplicate_sends: float = 0.0,
            seed: int = 0) -> None:
    if crash:
        fault_points.install(fault_points.PAY_STEP_COMMITTED, crash_at(crash))
    if drop_acks:
        fault_points.install(fault_points.WORKER_ACK, share(drop_acks, random.Random(f"{seed}:acks")))
    if duplicate_sends:
        fault_points.install(fault_points.SYNC_PUBLISH, share(duplicate_sends, random.Random(f"{seed}:sends")))


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        sys.exit("usage: python -m tests.faults [options] -- MODULE [ARGS...]")
    cut = argv.index("--")
    p = argparse.ArgumentParser(prog="python -m tests.faults")
    p.add_argument("--crash-at", help="SIGKILL right after this payment step is committed")
    p.add_argument("--drop-acks", type=float, default=0.0, help="share of acks the central worker drops")
    p.add_argument("--duplicate-sends", type=float, default=0.0, help="share of uplink the kiosk publishes twice")
    p.add_argument("--seed", type=int, default=0, help="seed of the shares above")
    opts = p.parse_args(argv[:cut])
    module, *rest = argv[cut + 1:]
    use_fast_pin_hash(central=not module.startswith("kiosk"))
    install(opts.crash_at, opts.drop_acks, opts.duplicate_sends, opts.seed)
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
