"""Offline catalogue search on the kiosk, as the citizen types.

Arabic-aware: alef forms (أ إ آ ٱ), taa marbuta/haa (ة ه), yaa/alef maqsura
(ي ى ی), hamza carriers, diacritics and tatweel are folded; Eastern Arabic and
Persian digits equal Western ones. Sorani letters are kept as letters and
folded to their nearest Arabic-keyboard form (ڕ ر, ڵ ل, ێ ی, ۆ و, ە ه, ک ك),
so a citizen on an Arabic keyboard still finds Kurdish names. English is
case-folded. Every query word matches as a prefix of some word of the service;
name words weigh more than institution words, which weigh more than
description words, so names rank first.

The index is built once per installed catalogue (by its sha256) and kept:
a sorted vocabulary per language (prefix range by bisect) with postings.
"""

from __future__ import annotations

import bisect
import heapq
import re
from dataclasses import dataclass
from functools import lru_cache, partial

from sqlalchemy.orm import Session

from contract import catalogue as cat
from contract.errors import UrError
from kiosk import datasets

NAME_W, INST_W, DESC_W = 10, 3, 1
EXACT_BONUS = 1.2  # a whole-word match beats a prefix match of the same field

_FOLD = str.maketrans({
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ة": "ه", "ە": "ه", "ھ": "ه", "ۀ": "ه",
    "ى": "ي", "ی": "ي", "ێ": "ي", "ئ": "ي", "ې": "ي",
    "ؤ": "و", "ۆ": "و", "ۇ": "و",
    "ک": "ك", "ڪ": "ك",
    "ڕ": "ر", "ڵ": "ل",
    "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4", "٥": "5", "٦": "6", "٧": "7", "٨": "8", "٩": "9",
    "۰": "0", "۱": "1", "۲": "2", "۳": "3", "۴": "4", "۵": "5", "۶": "6", "۷": "7", "۸": "8", "۹": "9",
    "\u0640": None, "\u200c": " ", "\u200d": None, "\u200f": None, "\u200e": None,
})
_MARKS = re.compile(r"[\u064B-\u065F\u0670\u06D6-\u06ED]")
_SPLIT = re.compile(r"[^\w]+|_")


def normalise(text: str) -> str:
    return _MARKS.sub("", text.casefold()).translate(_FOLD)


def tokens(text: str) -> list[str]:
    return [t for t in _SPLIT.split(normalise(text)) if t]


_ARTICLE = ("وال", "بال", "فال", "كال", "ال", "لل")


def _strip_article(t: str) -> str:
    for art in _ARTICLE:
        if t.startswith(art) and len(t) - len(art) >= 2:
            return t[len(art):]
    return t


def index_tokens(text: str) -> list[str]:
    """Words of a text plus each Arabic word without its article (الكهرباء -> كهرباء),
    so a citizen who leaves out "ال" still finds it."""
    out = []
    for t in tokens(text):
        out.append(t)
        bare = _strip_article(t)
        if bare != t:
            out.append(bare)
    return out


@dataclass(frozen=True)
class Hit:
    service_id: str
    score: float
    name: str
    kind: str
    institution: str


class _LangIndex:
    def __init__(self) -> None:
        self.post: dict[str, dict[int, float]] = {}
        self.vocab: list[str] = []

    def add(self, text: str, doc: int, weight: float) -> None:
        for t in index_tokens(text):
            d = self.post.setdefault(t, {})
            if d.get(doc, 0) < weight:
                d[doc] = weight

    def freeze(self) -> None:
        # Postings split by weight class, so merging a prefix range is a series of
        # dict.update calls (C speed) in ascending weight order: the last write is the max.
        self.vocab = sorted(self.post)
        self.split: dict[str, list[dict[int, float]]] = {}
        for tok, docs in self.post.items():
            self.split[tok] = [{d: w for d, w in docs.items() if w == cls} for cls in _CLASSES]
        self.post = {}
        self.prefix = lru_cache(maxsize=4096)(self._prefix)

    def _prefix(self, q: str) -> dict[int, float]:
        lo = bisect.bisect_left(self.vocab, q)
        hi = bisect.bisect_left(self.vocab, q + "\U0010ffff", lo)
        toks = self.vocab[lo:hi]
        exact = self.split.get(q) if toks and toks[0] == q else None
        acc: dict[int, float] = {}
        for c in range(len(_CLASSES)):
            for tok in toks:
                part = self.split[tok][c]
                if part and tok != q:
                    acc.update(part)
            if exact is not None and exact[c]:
                acc.update({d: w * EXACT_BONUS for d, w in exact[c].items()})
        return acc


_CLASSES = (DESC_W, INST_W, NAME_W)  # ascending; x EXACT_BONUS stays below the next class


class Index:
    def __init__(self, catalogue: cat.Catalogue) -> None:
        self.version = catalogue.version
        self.services = list(catalogue.services)
        self.by_lang = {lang: _LangIndex() for lang in cat.LANGS}
        inst_names = {i.id: i.name for i in catalogue.institutions}
        for n, s in enumerate(self.services):
            for lang, ix in self.by_lang.items():
                ix.add(s.name.get(lang), n, NAME_W)
                ix.add(s.id.replace("-", " "), n, NAME_W)
                inst = inst_names.get(s.institution)
                ix.add(inst.get(lang) if inst else s.institution, n, INST_W)
                if s.description is not None:
                    ix.add(s.description.get(lang), n, DESC_W)
        for ix in self.by_lang.values():
            ix.freeze()
        self.kind_of = [s.kind for s in self.services]
        self.inst_of = [s.institution for s in self.services]
        # Ties break by shorter name, then id: one precomputed rank per language.
        self.rank: dict[str, list[int]] = {}

        def by_name(lang: str, d: int) -> tuple[int, str]:
            return len(self.services[d].name.get(lang)), self.services[d].id

        for lang in cat.LANGS:
            order = sorted(range(len(self.services)), key=partial(by_name, lang))
            r = [0] * len(order)
            for pos, d in enumerate(order):
                r[d] = pos
            self.rank[lang] = r

    def search(self, query: str, lang: str | None = None, institution: str | None = None,
               kind: str | None = None, limit: int = 20) -> list[Hit]:
        if lang is not None and lang not in cat.LANGS:
            raise UrError(f"language {lang!r} is not one of {', '.join(cat.LANGS)}")
        if kind is not None and kind not in cat.KINDS:
            raise UrError(f"kind {kind!r} is not one of {', '.join(cat.KINDS)}")
        qt = [_strip_article(t) for t in tokens(query)]
        langs = [lang] if lang else list(cat.LANGS)
        best: dict[int, float] = {}
        if not qt:  # browsing: everything that passes the filters, by name
            best = {n: 0.0 for n in range(len(self.services))}
        for lg in langs if qt else []:
            ix = self.by_lang[lg]
            scores: dict[int, float] | None = None
            for t in sorted(set(qt), key=len, reverse=True):  # longest (rarest) first
                post = ix.prefix(t)
                if scores is None:
                    scores = post  # shared with the cache: never modified below
                else:
                    scores = {d: s + post[d] for d, s in scores.items() if d in post}
                if not scores:
                    break
            if not scores:
                continue
            if not best:
                best = scores  # not modified in place below: merges build new dicts
            else:
                get = best.get
                best = {**best, **{d: s for d, s in scores.items() if get(d, -1.0) < s}}
        if institution is not None or kind is not None:
            best = {d: s for d, s in best.items()
                    if (institution is None or self.inst_of[d] == institution)
                    and (kind is None or self.kind_of[d] == kind)}
        show = lang or "ar"
        rank = self.rank[show]
        top = [(d, -ns) for ns, _, d in heapq.nsmallest(max(0, limit), [(-s, rank[d], d) for d, s in best.items()])]
        return [Hit(self.services[d].id, round(s, 2), self.services[d].name.get(show), self.kind_of[d],
                    self.inst_of[d]) for d, s in top]


_CACHE: dict[str, Index] = {}


def index_for(session: Session) -> Index:
    """The index of the installed catalogue, built once per catalogue hash."""
    ds = datasets.current(session, "catalogue")
    if ds is None:
        raise UrError("this kiosk has no service catalogue yet (enroll it or let it sync once)")
    ix = _CACHE.get(ds.sha256)
    if ix is None:
        _CACHE.clear()
        ix = _CACHE[ds.sha256] = Index(cat.parse(ds.body))
    return ix


def search(session: Session, query: str, lang: str | None = None, institution: str | None = None,
           kind: str | None = None, limit: int = 20) -> list[Hit]:
    return index_for(session).search(query, lang, institution, kind, limit)
