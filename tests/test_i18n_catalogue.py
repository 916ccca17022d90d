"""The gettext catalogues as Babel builds them: every key the screens can show is
extracted (babel.cfg) and translated in ar/ckb/en, the shipped .mo files are the
compiled .po files, counts follow CLDR plural rules (six forms in Arabic), and no
screen passes a visible text as a literal instead of a catalogue key."""

from __future__ import annotations

import ast
import io
import shutil
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from contract.errors import UrError
from kiosk import i18n, i18n_extract

ROOT = Path(__file__).resolve().parent.parent
SCREENS = ROOT / "kiosk" / "screens"
TEXT_CALLS = {"label": 1, "button": 1, "Field": 2, "make_field": 2}  # callee -> index of its visible text
TEXT_KEYWORDS = {"text", "hint", "caption"}
KEY_CALLS = {"t", "tr", "tn", "ntr"}


def extracted() -> dict[str, bool]:
    """Every key `pybabel extract -F babel.cfg` finds -> is it a counted (plural) key."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keys: dict[str, bool] = {}
    for _file, _line, msg, _comments, _ctx in extract_from_dir(str(ROOT), method_map, options_map):
        if isinstance(msg, tuple):
            keys[msg[0]] = True
        else:
            keys.setdefault(msg, False)
    return keys


def po(lang: str) -> Catalog:
    with i18n.po_path(lang).open("rb") as f:
        return read_po(f, abort_invalid=True)


def test_extraction_sees_literal_marked_counted_and_value_set_keys() -> None:
    keys = extracted()
    # one of each way a key reaches the catalogue, or the completeness test proves nothing
    assert keys["nav.back"] is False  # self.t("...")
    assert keys["home.title"] is False  # title_key = N_("...")
    assert keys["service.duration"] is True  # self.tn("...", n)
    assert keys["verdict.REVOKED.help"] is False  # value set from kiosk.ui_services
    assert keys["money.iqd"] is False  # tr() in kiosk/i18n.py
    assert len(keys) > 150


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_every_extracted_key_is_translated_and_nothing_is_stale(lang: str) -> None:
    keys = extracted()
    cat = po(lang)
    have = {(m.id[0] if isinstance(m.id, tuple) else m.id): m for m in cat if m.id}
    missing = sorted(set(keys) - set(have))
    stale = sorted(set(have) - set(keys))
    assert not missing, f"{lang}: keys used by the screens but not in {i18n.po_path(lang)}: {missing}"
    assert not stale, f"{lang}: keys no screen uses (run make i18n): {stale}"
    for key, plural in keys.items():
        m = have[key]
        assert m.pluralizable == plural, f"{lang}: {key} plural={m.pluralizable}, screens use plural={plural}"
        forms = tuple(m.string) if isinstance(m.string, (tuple, list)) else (str(m.string or ""),)
        assert not m.fuzzy and all(s.strip() for s in forms), f"{lang}: {key} empty or fuzzy"
        if plural:
            assert len(forms) == cat.num_plurals, f"{lang}: {key} has {len(forms)} of {cat.num_plurals} forms"


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_shipped_mo_is_the_compiled_po(lang: str) -> None:
    buf = io.BytesIO()
    write_mo(buf, po(lang))
    shipped = i18n.mo_path(lang).read_bytes()
    assert shipped == buf.getvalue(), f"{i18n.mo_path(lang)} is out of date: run `make i18n`"


def test_plural_forms_follow_cldr() -> None:
    expected = {"ar": 6, "ckb": 2, "en": 2}
    for lang, n_forms in expected.items():
        plural = i18n.translations(lang).plural  # type: ignore[attr-defined]  # GNUTranslations sets plural at run time; typeshed omits it
        cldr = Locale.parse(lang).plural_form
        index_of: dict[str, int] = {}
        for n in range(0, 1200):
            idx, category = plural(n), cldr(n)
            assert index_of.setdefault(category, idx) == idx, (lang, n, category, idx)
        assert len(set(index_of.values())) == len(index_of) == n_forms, (lang, index_of)
    # Arabic: zero, one, two, few (3-10), many (11-99), other (100-102) read differently
    shown = [i18n.ntr("service.duration", n, "ar") for n in (0, 1, 2, 3, 11, 100)]
    assert len(set(shown)) == 6, shown
    assert "يومان" in shown[2] and "أيام" in shown[3] and "يومًا" in shown[4]
    assert i18n.ntr("service.duration", 1, "en") == "Expected duration: 1 day"
    assert i18n.ntr("service.duration", 7, "en") == "Expected duration: 7 days"
    assert "\u20667\u2069" in i18n.ntr("service.duration", 7, "ar")  # count kept LTR in RTL text


def test_a_missing_or_damaged_mo_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(i18n.LOCALE_DIR, tmp_path / "locale")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "locale")
    i18n.translations.cache_clear()
    try:
        (tmp_path / "locale/ar/LC_MESSAGES/kiosk.mo").write_bytes(b"not a catalogue at all")
        with pytest.raises(UrError, match=r"ar.*kiosk\.mo"):
            i18n.tr("nav.home", "ar")
        (tmp_path / "locale/en/LC_MESSAGES/kiosk.mo").unlink()
        with pytest.raises(UrError, match="missing.*make i18n"):
            i18n.tr("nav.home", "en")
    finally:
        monkeypatch.undo()
        i18n.translations.cache_clear()
    assert i18n.tr("nav.home", "en") == "Home"


def _callee(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _has_letters(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(c.isalpha() for c in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_has_letters(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.IfExp):
        return _has_letters(node.body) or _has_letters(node.orelse)
    if isinstance(node, ast.BinOp):
        return _has_letters(node.left) or _has_letters(node.right)
    return False


def _template(node: ast.JoinedStr) -> str:
    return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)


def literal_problems(source: str, where: str) -> list[str]:
    """Visible texts given as literals, and keys a screen builds outside `FAMILIES`."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        texts = [kw.value for kw in node.keywords if kw.arg in TEXT_KEYWORDS]
        if name in TEXT_CALLS and len(node.args) > TEXT_CALLS[name]:
            texts.append(node.args[TEXT_CALLS[name]])
        problems += [f"{where}:{t.lineno}: visible text as a literal: {ast.unparse(t)}"
                     for t in texts if _has_letters(t)]
        if name in KEY_CALLS and node.args:
            key = node.args[0]
            if isinstance(key, ast.JoinedStr) and _template(key) not in i18n_extract.FAMILIES:
                problems.append(f"{where}:{key.lineno}: key built as {_template(key)!r}, "
                                f"not a value-set family of kiosk.i18n_extract.FAMILIES")
            if isinstance(key, ast.IfExp):
                problems.append(f"{where}:{key.lineno}: key chosen inside t(): extraction cannot see it")
    return problems


def test_the_literal_check_catches_literals() -> None:
    bad = ('label(a, "Welcome", kid="x")\nbutton(a, f"Pay {n} now", go, kid="y")\n'
           'self.t(f"nosuch.{k}")\nself.t("a.b" if x else "c.d")\nField(a, "n", "Name", "", kid="z", on_focus=f)\n')
    assert len(literal_problems(bad, "bad.py")) == 5
    good = 'label(a, self.t("home.title"))\nlabel(a, f"{n}. {x}")\nself.t(f"kind.{k}")\nlabel(a, value or "—")\n'
    assert literal_problems(good, "good.py") == []


def test_no_screen_shows_a_literal_text() -> None:
    problems = []
    for py in sorted(SCREENS.glob("*.py")):
        problems += literal_problems(py.read_text(encoding="utf-8"), str(py.relative_to(ROOT)))
    assert not problems, "\n".join(problems)
