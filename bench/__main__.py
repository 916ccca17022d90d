"""`make bench`: run every bench/bench_*.py (or those named) and print their tables."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    failed = []
    for name in names:
        print(f"\n### {name}", flush=True)
        t0 = time.monotonic()
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as e:  # noqa: BLE001 - one broken bench must not hide the others
            failed.append(name)
            print(f"{name} FAILED: {type(e).__name__}: {e}", flush=True)
        print(f"({name} took {time.monotonic() - t0:.1f}s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
