"""Catalogue figures: offline search latency as a citizen types (national size
and ten times that), index build time, and delta size/time for a one-service
change against sending the whole catalogue.

Run: PYTHONPATH=. python -m bench.bench_catalogue
"""

from __future__ import annotations

import os
import random
import statistics
import time

from central import catalogue_generator
from contract import catalogue as cat
from kiosk.applications.catalogue_search import Index


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _typing_queries(c: cat.Catalogue, rng: random.Random, n_names: int = 150) -> list[tuple[str, str | None]]:
    """Every prefix a citizen types for the first two words of random service names."""
    out: list[tuple[str, str | None]] = []
    for s in rng.sample(c.services, n_names):
        lang = rng.choice(cat.LANGS)
        words = s.name.get(lang).split()[:2]
        typed = ""
        for w_i, w in enumerate(words):
            for ch in w:
                typed += ch
                out.append((typed, rng.choice([None, lang])))
            if w_i == 0:
                typed += " "
    return out


def _search_rows(c: cat.Catalogue, label: str) -> list[tuple[str, str, str, str, str]]:
    rng = random.Random(1)
    t0 = time.perf_counter()
    ix = Index(c)
    build = time.perf_counter() - t0
    queries = _typing_queries(c, rng)
    lat = []
    for q, lang in queries:
        t = time.perf_counter()
        ix.search(q, lang=lang)
        lat.append((time.perf_counter() - t) * 1000)
    cold = []
    for q, lang in rng.sample(queries, 200):
        fresh_cache(ix)
        t = time.perf_counter()
        ix.search(q, lang=lang)
        cold.append((time.perf_counter() - t) * 1000)
    return [
        (f"index build, {label}", f"{build * 1000:.0f}", "ms", "-", "once per installed catalogue"),
        (f"search p50 as typed, {label}", f"{statistics.median(lat):.3f}", "ms", "-", f"{len(queries)} keystrokes"),
        (f"search p95 as typed, {label}", f"{_pct(lat, 95):.3f}", "ms", "< 5", "prefix cache warm as typing goes"),
        (f"search max as typed, {label}", f"{max(lat):.3f}", "ms", "-", ""),
        (f"search p95 cold cache, {label}", f"{_pct(cold, 95):.3f}", "ms", "< 5", "worst case: cache emptied each query"),
    ]


def fresh_cache(ix: Index) -> None:
    for li in ix.by_lang.values():
        li.prefix.cache_clear()


def _delta_rows(c: cat.Catalogue, label: str) -> list[tuple[str, str, str, str, str]]:
    old = c.model_copy(update={"version": 1})
    svcs = list(old.services)
    s0 = next(s for s in svcs if s.accepts_applications)
    svcs[svcs.index(s0)] = s0.model_copy(update={"fees": cat.Fees(statutory=s0.fees.statutory + 1000,
                                                                   service=s0.fees.service)})
    new = old.model_copy(update={"version": 2, "services": svcs})
    body_old, body_new = cat.canonical(old), cat.canonical(new)
    t = time.perf_counter()
    delta = cat.make_delta(old, new)
    make_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    rebuilt = cat.apply_delta(body_old, delta)
    apply_ms = (time.perf_counter() - t) * 1000
    assert rebuilt == body_new
    t = time.perf_counter()
    cat.parse(body_new)
    parse_ms = (time.perf_counter() - t) * 1000
    return [
        (f"full catalogue, {label}", f"{len(body_new)}", "bytes", "-", "what a kiosk without a base gets"),
        (f"delta for a 1-service fee change, {label}", f"{len(delta)}", "bytes", "-",
         f"{len(delta) / len(body_new) * 100:.2f}% of full"),
        (f"delta build (central), {label}", f"{make_ms:.1f}", "ms", "-", "diff of two parsed versions"),
        (f"delta apply + canonical (kiosk), {label}", f"{apply_ms:.1f}", "ms", "-", "then sha256 check"),
        (f"catalogue parse+validate, {label}", f"{parse_ms:.1f}", "ms", "-", "kiosk loads after switching"),
    ]


def main() -> None:
    national = catalogue_generator.generate(548, 63)
    tenfold = catalogue_generator.generate(5480, 630)
    rows = [("figure", "value", "unit", "goal", "baseline/notes"),
             ("machine load, 1-min average", f"{os.getloadavg()[0]:.1f}", "runnable", "-",
              f"{os.cpu_count()} cores shared; latency tails grow with load")]
    rows += _search_rows(national, "548 svc")
    rows += _search_rows(tenfold, "5480 svc")
    rows += _delta_rows(national, "548 svc")
    rows += _delta_rows(tenfold, "5480 svc")
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
