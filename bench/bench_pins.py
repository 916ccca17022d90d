"""What a stolen kiosk.db costs an attacker per PIN guess: the old scrypt (N=2^14)
against today's Argon2id (kiosk/pin_hash.py), on one core, and the time to try
every 4- and 6-digit PIN. Also the wait at the station (all cores).

One core: the process is pinned to a single CPU, so Argon2id's two lanes run one
after the other, as they would for an attacker who has one core per guess; the
figure is the CPU time of a guess (a busy machine would inflate wall time)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from bench.table import print_table
from kiosk import pin_hash

MONTH_S = 30 * 86400


def _seconds(fn: Callable[[], object], n: int, clock: Callable[[], float] = time.perf_counter) -> float:
    times = []
    for _ in range(n):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def _days(per_guess: float, space: int) -> float:
    return per_guess * space / 86400


def main() -> None:
    salt = os.urandom(16)
    stored = pin_hash.hash_pin("482913")
    scrypt = lambda: pin_hash.scrypt_pin("482914", salt)  # noqa: E731 - a wrong guess, as an attacker makes
    argon = lambda: pin_hash.verify_pin("482914", b"", stored)  # noqa: E731
    all_cpus = os.sched_getaffinity(0)
    wall_argon = _seconds(argon, 3)
    os.sched_setaffinity(0, {min(all_cpus)})
    try:
        # CPU time, not wall time: other load on the machine would make guesses look dearer.
        one_scrypt = _seconds(scrypt, 9, time.process_time)
        one_argon = _seconds(argon, 3, time.process_time)
    finally:
        os.sched_setaffinity(0, all_cpus)
    params = f"m={pin_hash.MEMORY_KIB // 1024} MiB, t={pin_hash.TIME_COST}, p={pin_hash.LANES}"
    rows = [
        ("scrypt N=2^14 r=8 p=1 (before): s per guess, 1 core", one_scrypt, "s", "", ""),
        ("  time to try all 10^4 (4-digit) PINs", one_scrypt * 10**4 / 60, "min", "", ""),
        ("  time to try all 10^6 (6-digit) PINs", _days(one_scrypt, 10**6), "days", ">= 30", ""),
        (f"Argon2id {params}: s per guess, 1 core", one_argon, "s", "", ""),
        ("  time to try all 10^4 (4-digit) PINs", _days(one_argon, 10**4), "days", "", ""),
        ("  time to try all 10^6 (6-digit) PINs", _days(one_argon, 10**6), "days", ">= 30",
         "OK" if one_argon * 10**6 >= MONTH_S else "TOO FAST"),
        (f"Argon2id login wait at the station, {len(all_cpus)} cores", wall_argon, "s", "", "two lanes in parallel"),
    ]
    print_table("PIN hashes: cost of one guess and of trying every PIN (one core)", rows)


if __name__ == "__main__":
    main()
