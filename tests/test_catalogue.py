"""Catalogue model, data files, form validation, fees per version and deltas."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central import catalogue as central_catalogue
from central import catalogue_generator, datasets, db
from contract import catalogue as cat
from contract.errors import UrError, ValidationError
from tests import support

DATA = central_catalogue.DATA_DIR


@pytest.fixture
def seed() -> cat.Catalogue:
    return central_catalogue.load_seed()


def test_seed_has_real_services_in_three_languages_and_all_kinds(seed: cat.Catalogue) -> None:
    assert len(seed.services) >= 20
    assert {s.kind for s in seed.services} == set(cat.KINDS)
    for wanted in ("unified-national-card", "ordinary-passport", "non-conviction-certificate",
                   "special-power-of-attorney", "trade-name-registration", "subscriber-name-change",
                   "company-final-accounts", "oil-products-transport-permit", "vehicle-fines-info",
                   "vehicle-fine-payment", "ration-card-add-member", "household-water-meter",
                   "birth-registration"):
        seed.service(wanted)
    for s in seed.services:
        assert s.description is not None
        for texts in (s.name, s.description):
            # Arabic and Kurdish in Arabic script, English in Latin letters.
            assert any("\u0600" <= ch <= "\u06ff" for ch in texts.ar), s.id
            assert any("\u0600" <= ch <= "\u06ff" for ch in texts.ckb), s.id
            assert texts.ar != texts.ckb, s.id
            assert texts.en.isascii(), s.id
    passport = seed.service("ordinary-passport")
    assert (passport.fees.statutory, passport.fees.service, passport.fee_total) == (25000, 66000, 91000)
    assert seed.service("non-conviction-certificate").fee_total == 10000
    assert seed.service("unified-national-card").visit_count == 1
    assert seed.service("birth-registration").agencies == ["moi-nationality"]
    # Kurdish has its own letters, not Arabic lookalikes, in the seed.
    ckb = " ".join(s.name.ckb for s in seed.services)
    assert any(ch in ckb for ch in "ێۆڵڕە")


def test_one_file_per_institution(seed: cat.Catalogue) -> None:
    files = sorted(p.stem for p in DATA.glob("*.json"))
    assert files == sorted(i.id for i in seed.institutions)


def _copy_data(tmp: Path) -> Path:
    d = tmp / "data"
    shutil.copytree(DATA, d)
    return d


def _edit(path: Path, fn) -> None:
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj, ensure_ascii=False))


def test_bad_files_name_file_path_and_reason(tmp_path: Path) -> None:
    d = _copy_data(tmp_path)
    _edit(d / "moi-passports.json", lambda o: o["services"][0]["fees"].update(statutory=-5))
    _edit(d / "moj-notary.json", lambda o: o["services"][1]["name"].pop("ckb"))
    _edit(d / "moe.json", lambda o: o["services"][1].update(kind="procedural", visits=2))
    _edit(d / "bcc.json", lambda o: o["services"][0]["form"][3].update(type="colour"))
    _edit(d / "moh.json", lambda o: o["services"][0].update(agencies=["no-such-agency"]))
    _edit(d / "mof-tax.json", lambda o: o["services"][0].update(workflow="birth-registration"))
    _edit(d / "ndc.json", lambda o: o["services"][0].update(workflow="nope"))
    (d / "broken.json").write_text('{"institution": ')
    with pytest.raises(ValidationError) as e:
        central_catalogue.load(d)
    p = e.value.problems
    text = "\n".join(p)
    assert "moi-passports.json: services[0].fees.statutory: Input should be greater than or equal to 0" in p
    assert "moj-notary.json: services[1].name.ckb: Field required" in p
    assert "moe.json: services[1]: a procedural service has exactly one visit (visits: 1)" in p
    assert "bcc.json: services[0].form[3].type:" in text
    assert "moh.json: services[birth-registration]: names unknown institution 'no-such-agency'" in p
    assert "broken.json: not valid JSON" in text
    assert "mof-tax.json: services[tax-clearance].workflow: 'birth-registration' is for participatory services, not interactive" in p
    assert "ndc.json: services[secured-document-check].workflow: no workflow 'nope' in workflows.json" in p


def test_duplicates_across_files_and_wrong_institution(tmp_path: Path) -> None:
    d = _copy_data(tmp_path)
    notary = json.loads((d / "moj-notary.json").read_text())
    _edit(d / "moe.json", lambda o: o["services"].append(notary["services"][0]))
    with pytest.raises(ValidationError) as e:
        central_catalogue.load(d)
    text = "\n".join(e.value.problems)
    assert "services[2].institution: is 'moj-notary' but this file is 'moe'" in text
    assert "id 'special-power-of-attorney' already defined in" in text


def test_import_is_all_or_nothing_and_versions_stay_queryable(tmp_path: Path) -> None:
    engine = db.make_engine(support.sqlite_url(tmp_path / "c.db"))
    db.init_schema(engine)
    S = db.sessions(engine)
    d = _copy_data(tmp_path)
    with S.begin() as s:
        assert central_catalogue.import_path(s, d) == 1
        assert central_catalogue.import_path(s, d) == 1  # unchanged: no new version
    _edit(d / "moi-passports.json", lambda o: o["services"][0]["fees"].update(service=70000))
    _edit(d / "moe.json", lambda o: o["services"][0].update(kind="nonsense"))
    with pytest.raises(ValidationError), S.begin() as s:
        central_catalogue.import_path(s, d)
    with S() as s:
        assert datasets.latest(s, "catalogue").version == 1  # nothing half-imported
    shutil.copy(DATA / "moe.json", d / "moe.json")
    with S.begin() as s:
        assert central_catalogue.import_path(s, d) == 2
    with S() as s:
        assert central_catalogue.fee_for_application(s, "ordinary-passport", 1).total == 91000
        assert central_catalogue.fee_for_application(s, "ordinary-passport", 2).total == 95000
        assert central_catalogue.current(s).version == 2
        with pytest.raises(UrError, match="never published"):
            central_catalogue.at_version(s, 7)


def test_fee_for_is_the_versions_fee(seed: cat.Catalogue) -> None:
    v3 = seed.model_copy(update={"version": 3})
    q = cat.fee_for(v3, "ordinary-passport")
    assert (q.catalogue_version, q.statutory, q.service, q.total) == (3, 25000, 66000, 91000)
    with pytest.raises(UrError, match="informational"):
        cat.fee_for(v3, "vehicle-fines-info")
    with pytest.raises(UrError, match="unknown service"):
        cat.fee_for(v3, "nope")


@pytest.mark.parametrize(("ftype", "value", "normalised"), [
    ("national_id", "١٩٩٠ ٠١٢٣ ٤٥٦٧", "199001234567"),
    ("mobile", "+964 770 123 4567", "07701234567"),
    ("mobile", "٠٧٨٠١٢٣٤٥٦٧", "07801234567"),
    ("plate", "11 a 12345", "11A12345"),
    ("plate", "ب ٤٥٦٧", "ب4567"),
    ("date", "2024-02-29", "2024-02-29"),
    ("arabic_text", "  علي   حسن  ", "علي حسن"),
    ("number", "١٢٠٠٠", "12000"),
])
def test_form_values_are_normalised(ftype: str, value: str, normalised: str) -> None:
    svc = _one_field_service(ftype)
    assert cat.validate_form(svc, {"f": value}) == {"f": normalised}


@pytest.mark.parametrize(("ftype", "value", "reason"), [
    ("national_id", "12345", "12-digit national ID"),
    ("mobile", "07101234567", "Iraqi mobile number"),
    ("mobile", "0770123456", "Iraqi mobile number"),
    ("plate", "ABC", "vehicle plate"),
    ("plate", "11 A 1234567", "vehicle plate"),
    ("date", "2023-02-29", "real date"),
    ("date", "29/02/2024", "real date"),
    ("arabic_text", "Ali Hassan", "Arabic letters"),
    ("arabic_text", "123", "Arabic letters"),
    ("number", "12a", "whole number"),
    ("text", "x" * 201, "longer than 200"),
    ("text", "a\x00b", "control characters"),
])
def test_bad_form_values_give_precise_errors(ftype: str, value: str, reason: str) -> None:
    svc = _one_field_service(ftype)
    with pytest.raises(ValidationError) as e:
        cat.validate_form(svc, {"f": value})
    assert e.value.problems == [f"field 'f' {e.value.problems[0].split(' ', 2)[2]}"]
    assert reason in e.value.problems[0]


def test_form_lists_every_problem(seed: cat.Catalogue) -> None:
    svc = seed.service("ordinary-passport")
    with pytest.raises(ValidationError) as e:
        cat.validate_form(svc, {"national_id": "1", "mobile": "x", "passport_type": "diplomatic", "colour": "red"})
    p = e.value.problems
    assert "unknown field 'colour'" in p
    assert "field 'full_name' is required" in p
    assert "field 'birth_date' is required" in p
    assert any(x.startswith("field 'national_id' must be the 12-digit") for x in p)
    assert "field 'passport_type' must be one of new, renewal, lost" in p
    assert len(p) == 6


def _one_field_service(ftype: str) -> cat.Service:
    field: dict[str, object] = {"name": "f", "type": ftype}
    if ftype == "choice":
        field["choices"] = ["a"]
    return cat.Service.model_validate({
        "id": "t", "name": {"ar": "ا", "ckb": "ا", "en": "t"}, "kind": "interactive",
        "institution": "x", "form": [field]})


def test_kind_rules_are_enforced() -> None:
    base = {"id": "t", "name": {"ar": "ا", "ckb": "ا", "en": "t"}, "institution": "x",
            "form": [{"name": "a"}]}
    for extra, msg in [
        ({"kind": "informational"}, "informational service takes no application"),
        ({"kind": "participatory"}, "at least one other agency"),
        ({"kind": "participatory", "agencies": ["y"], "visits": 1}, "needs no visit"),
        ({"kind": "procedural", "visits": 0}, "exactly one visit"),
        ({"kind": "interactive", "visits": 2}, "at most one visit"),
        ({"kind": "procedural", "form": []}, "needs an application form"),
        ({"kind": "procedural", "form": [{"name": "a"}, {"name": "a"}]}, "repeated: a"),
        ({"kind": "procedural", "form": [{"name": "a", "type": "choice"}]}, "non-empty 'choices'"),
    ]:
        with pytest.raises(ValidationError, match=msg):
            cat.from_obj({"services": [{**base, **extra}]})


def test_parse_rejects_garbage_with_a_message() -> None:
    for bad in (b"", b"\xff\xfe", b"[]", b'{"services": 3}', b'{"services": [{"id": "A B"}]}'):
        with pytest.raises(ValidationError):
            cat.parse(bad)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_parse_fuzz_never_crashes(data: bytes) -> None:
    try:
        cat.parse(data)
    except ValidationError:
        pass


# --- deltas -------------------------------------------------------------------------

def _publish(s, c: cat.Catalogue) -> datasets.Dataset:
    central_catalogue.publish(s, c)
    return datasets.latest(s, "catalogue")


def test_delta_rebuilds_exact_bytes_and_is_small(tmp_path: Path, seed: cat.Catalogue) -> None:
    engine = db.make_engine(support.sqlite_url(tmp_path / "c.db"))
    db.init_schema(engine)
    with db.sessions(engine).begin() as s:
        v1 = _publish(s, seed)
        svcs = [x for x in seed.services if x.id != "electricity-cost-calculator"]
        changed = svcs[0].model_copy(update={"fees": cat.Fees(statutory=1, service=2)})
        v2 = _publish(s, seed.model_copy(update={"services": [changed, *svcs[1:]]}))
        delta = central_catalogue.build_delta(s, v1.version, v2)
        assert delta is not None and len(delta) < len(v2.body) / 5
        rebuilt = cat.apply_delta(v1.body, delta)
        assert rebuilt == v2.body and hashlib.sha256(rebuilt).hexdigest() == v2.sha256
        d = json.loads(delta)
        assert d["removed_services"] == ["electricity-cost-calculator"] and len(d["services"]) == 1
        assert central_catalogue.build_delta(s, 99, v2) is None  # unknown base: whole body
        with pytest.raises(UrError, match="from v1 but this copy is v2"):
            cat.apply_delta(v2.body, delta)
        with pytest.raises(UrError, match="cannot be applied"):
            cat.apply_delta(v1.body, b"{not json")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 547), st.sampled_from(["fee", "drop", "rename"])), max_size=8),
       st.integers(0, 3))
def test_delta_property_random_edits(edits: list[tuple[int, str]], seed_n: int) -> None:
    old = _GEN.model_copy(update={"version": 4})
    services = list(old.services)
    for idx, op in edits:
        if idx >= len(services):
            continue
        s = services[idx]
        if op == "drop":
            services.pop(idx)
        elif op == "fee" and s.accepts_applications:
            services[idx] = s.model_copy(update={"fees": cat.Fees(statutory=s.fees.statutory + 1)})
        else:
            services[idx] = s.model_copy(update={"name": s.name.model_copy(update={"en": s.name.en + "!"})})
    new = cat.Catalogue.model_validate({"version": 5, "institutions": [i.model_dump() for i in old.institutions],
                                        "services": [s.model_dump() for s in services]})
    assert cat.apply_delta(cat.canonical(old), cat.make_delta(old, new)) == cat.canonical(new)


_GEN = catalogue_generator.generate()


def test_generator_is_national_size_mixed_and_deterministic() -> None:
    c = catalogue_generator.generate()
    assert len(c.services) == 548 and len(c.institutions) == 63
    assert {s.kind for s in c.services} == set(cat.KINDS)
    assert {s.institution for s in c.services} == {i.id for i in c.institutions}
    assert cat.canonical(c) == cat.canonical(catalogue_generator.generate())
    assert len(catalogue_generator.generate(5480, 630).services) == 5480


def test_generated_files_round_trip_through_import(tmp_path: Path) -> None:
    catalogue_generator.write_files(_GEN, tmp_path / "gen")
    assert len(list((tmp_path / "gen").glob("*.json"))) == 63
    assert cat.canonical(central_catalogue.load(tmp_path / "gen")) == cat.canonical(_GEN)


def test_cli_import_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    d = _copy_data(tmp_path)
    _edit(d / "moe.json", lambda o: o["services"][0].update(kind="nonsense"))
    url = support.sqlite_url(tmp_path / "c.db")
    r = support.run_cli(["ur-central", "--db", url, "catalogue", "import", str(d)])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "moe.json: services[0].kind" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = support.run_cli(["ur-central", "--db", url, "--json", "catalogue", "import"])
    assert r.returncode == 0 and json.loads(r.stdout)["version"] == 1
    r = support.run_cli(["ur-central", "--db", url, "catalogue", "fee", "ordinary-passport", "--version", "1"])
    assert r.returncode == 0 and "91000 IQD" in r.stdout


def test_lookups_follow_model_copy(seed: cat.Catalogue) -> None:
    seed.service("ordinary-passport")
    fewer = seed.model_copy(update={"services": [s for s in seed.services if s.id != "ordinary-passport"]})
    with pytest.raises(UrError, match="unknown service"):
        fewer.service("ordinary-passport")
    assert seed.service("ordinary-passport").id == "ordinary-passport"
