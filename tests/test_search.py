"""Offline catalogue search: Arabic folding, Kurdish letters, English, prefixes
as the citizen types, ranking names first, filters; and the kiosk CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central import catalogue as central_catalogue
from central import catalogue_generator
from contract import catalogue as cat
from contract.errors import UrError
from kiosk.applications.catalogue_search import Index, normalise, tokens
from tests import support


@pytest.fixture(scope="module")
def ix() -> Index:
    return Index(central_catalogue.load_seed())


def ids(hits) -> list[str]:
    return [h.service_id for h in hits]


def test_normalise_folds_arabic_forms_digits_and_marks() -> None:
    assert normalise("أإآٱا") == "ااااا"
    assert normalise("شهادة") == normalise("شهاده")
    assert normalise("مستشفى") == normalise("مستشفي")
    assert normalise("البِطَاقَة") == normalise("البطاقه")
    assert normalise("جـــواز") == normalise("جواز")
    assert normalise("٥٥٩٩ ۵۵۹۹") == "5599 5599"
    assert normalise("PASSPORT") == "passport"
    assert normalise("ڕێگە") == normalise("ريگه")  # Sorani letters vs an Arabic keyboard
    assert tokens("وەکالەتی‌تایبەت") == [normalise("وەکالەتی"), normalise("تایبەت")]  # ZWNJ splits


@pytest.mark.parametrize(("query", "first"), [
    ("جواز السفر", "ordinary-passport"),
    ("جواز", "ordinary-passport"),
    ("جوا", "ordinary-passport"),  # prefix as you type
    ("شهاده عدم المحكوميه", "non-conviction-certificate"),  # haa for taa marbuta
    ("شهادة عدم", "non-conviction-certificate"),
    ("عدم محكومية", "non-conviction-certificate"),  # without the article
    ("البطاقة الوطنية", "unified-national-card"),
    ("بطاقه وطنيه", "unified-national-card"),
    ("اضافة فرد", "ration-card-add-member"),  # plain alef for hamza-alef
    ("مقياس ماء", "household-water-meter"),
    ("پاسپۆرت", "ordinary-passport"),  # Kurdish
    ("پاسپورت", "ordinary-passport"),  # Kurdish typed without ۆ
    ("کارتی خۆراک", "ration-card-add-member"),
    ("كارتي خوراك", "ration-card-add-member"),  # Arabic kaf / waw for Kurdish letters
    ("passport", "ordinary-passport"),
    ("Pass", "ordinary-passport"),
    ("trade name", "trade-name-registration"),
    ("final accounts", "company-final-accounts"),
    ("oil", "oil-products-transport-permit"),
    ("birth", "birth-registration"),
])
def test_queries_find_the_right_service_first(ix: Index, query: str, first: str) -> None:
    assert ids(ix.search(query))[0] == first


def test_names_rank_before_descriptions(ix: Index) -> None:
    # "fingerprint" only appears in descriptions; "passport" is in a name and a description.
    hits = ix.search("passport", lang="en")
    assert ids(hits)[0] == "ordinary-passport"
    assert hits[0].score > max(h.score for h in hits[1:]) if len(hits) > 1 else True
    desc_only = ix.search("fingerprints", lang="en")
    assert desc_only and all(h.score < 10 for h in desc_only)
    # A name hit outranks a description hit for the same word.
    water = ix.search("water", lang="en")
    assert set(ids(water)[:2]) == {"household-water-meter", "subscriber-name-change"}


def test_every_word_must_match_and_nothing_odd_matches(ix: Index) -> None:
    assert ix.search("passport xyzzy") == []
    assert ix.search("زززز") == []
    assert ix.search("٥٥") == []


def test_filters_by_institution_kind_and_language(ix: Index) -> None:
    notary = ix.search("", institution="moj-notary")
    assert set(ids(notary)) == {"special-power-of-attorney", "general-power-of-attorney"}
    info = ix.search("", kind="informational", limit=100)
    assert info and all(h.kind == "informational" for h in info)
    assert "vehicle-fines-info" in ids(info)
    assert ix.search("eight", lang="ar") == []  # English word, Arabic texts only
    assert ids(ix.search("eight", lang="en")) == ["ordinary-passport"]
    assert ids(ix.search("passport", lang="en")) == ["ordinary-passport"]
    assert ix.search("جواز", lang="en") == []
    assert ix.search("passport", lang="en")[0].name == "Ordinary passport"
    assert ix.search("passport", kind="informational") == []
    with pytest.raises(UrError, match="language"):
        ix.search("x", lang="fr")
    with pytest.raises(UrError, match="kind"):
        ix.search("x", kind="magic")


def test_limit_and_national_size(ix: Index) -> None:
    big = Index(catalogue_generator.generate())
    hits = big.search("إصدار", limit=5)
    assert len(hits) == 5 and all(h.name.startswith("إصدار") for h in hits)
    assert len(big.search("", limit=1000)) == 548
    target = catalogue_generator.generate().services[100]
    words = target.name.en.lower().split()
    en = big.search(f"{words[0]} {words[-1][:4]}", lang="en", limit=600)
    assert target.id in ids(en)
    assert all(any(w.startswith(words[-1][:4]) for w in h.name.lower().split()) or h.score < 10 for h in en)


def _kiosk_with_catalogue(tmp_path: Path) -> tuple[str, Path]:
    url = support.sqlite_url(tmp_path / "c.db")
    assert support.run_cli(["ur-central", "--db", url, "init"]).returncode == 0
    return url, support.enroll_kiosk(url, "K1", tmp_path / "k1", "mqtt://127.0.0.1:1", tmp_path)


def test_kiosk_cli_search_and_show_offline(tmp_path: Path) -> None:
    _, kdir = _kiosk_with_catalogue(tmp_path)
    r = support.run_cli(["ur-kiosk", "--data", str(kdir), "--json", "catalogue", "search", "جواز"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["service_id"] == "ordinary-passport"
    r = support.run_cli(["ur-kiosk", "--data", str(kdir), "catalogue", "search", "--kind", "participatory"])
    assert "birth-registration" in r.stdout and "ordinary-passport" not in r.stdout
    r = support.run_cli(["ur-kiosk", "--data", str(kdir), "catalogue", "show", "ordinary-passport", "--lang", "en"])
    assert r.returncode == 0
    assert "25000 + 66000 = 91000 IQD" in r.stdout and "held by the state" in r.stdout
    r = support.run_cli(["ur-kiosk", "--data", str(kdir), "catalogue", "show", "nope"])
    assert r.returncode == 2 and "unknown service 'nope'" in r.stderr
    r = support.run_cli(["ur-kiosk", "--data", str(tmp_path / "empty"), "catalogue", "search", "x"])
    assert r.returncode == 2 and "no service catalogue" in r.stderr
    assert cat.LANGS == ("ar", "ckb", "en")


_FUZZ_IX = Index(central_catalogue.load_seed())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.sampled_from([None, *cat.LANGS]), st.integers(0, 30))
def test_any_query_is_answered_within_the_limit(q: str, lang: str | None, limit: int) -> None:
    hits = _FUZZ_IX.search(q, lang=lang, limit=limit)
    assert len(hits) <= limit
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert normalise(normalise(q)) == normalise(q)
