"""A national-size synthetic catalogue (default 548 services across 63
institutions, the Ur portal's published size) for tests and benchmarks.

Deterministic for a given seed; names are real Arabic, Sorani and English words
combined (action x subject x audience), so search sees realistic vocabulary
and realistic collisions. It passes the same validation as the real data.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from contract import catalogue as cat

_MINISTRIES = [
    ("وزارة الداخلية", "وەزارەتی ناوخۆ", "Ministry of Interior"),
    ("وزارة العدل", "وەزارەتی داد", "Ministry of Justice"),
    ("وزارة الصحة", "وەزارەتی تەندروستی", "Ministry of Health"),
    ("وزارة التجارة", "وەزارەتی بازرگانی", "Ministry of Trade"),
    ("وزارة المالية", "وەزارەتی دارایی", "Ministry of Finance"),
    ("وزارة الكهرباء", "وەزارەتی کارەبا", "Ministry of Electricity"),
    ("وزارة النفط", "وەزارەتی نەوت", "Ministry of Oil"),
    ("وزارة التربية", "وەزارەتی پەروەردە", "Ministry of Education"),
    ("وزارة التعليم العالي", "وەزارەتی خوێندنی باڵا", "Ministry of Higher Education"),
    ("وزارة العمل والشؤون الاجتماعية", "وەزارەتی کار و کاروباری کۆمەڵایەتی", "Ministry of Labour and Social Affairs"),
    ("وزارة الزراعة", "وەزارەتی کشتوکاڵ", "Ministry of Agriculture"),
    ("وزارة النقل", "وەزارەتی گواستنەوە", "Ministry of Transport"),
    ("وزارة الاتصالات", "وەزارەتی گەیاندن", "Ministry of Communications"),
    ("وزارة البلديات والأشغال العامة", "وەزارەتی شارەوانی و کارە گشتییەکان", "Ministry of Municipalities and Public Works"),
    ("وزارة الإعمار والإسكان", "وەزارەتی ئاوەدانکردنەوە و نیشتەجێبوون", "Ministry of Construction and Housing"),
    ("وزارة الموارد المائية", "وەزارەتی سەرچاوەکانی ئاو", "Ministry of Water Resources"),
    ("وزارة الخارجية", "وەزارەتی دەرەوە", "Ministry of Foreign Affairs"),
    ("وزارة الثقافة", "وەزارەتی ڕۆشنبیری", "Ministry of Culture"),
    ("وزارة الصناعة والمعادن", "وەزارەتی پیشەسازی و کانزاکان", "Ministry of Industry and Minerals"),
    ("وزارة البيئة", "وەزارەتی ژینگە", "Ministry of Environment"),
    ("وزارة الشباب والرياضة", "وەزارەتی لاوان و وەرزش", "Ministry of Youth and Sports"),
]
_UNITS = [
    ("المديرية العامة", "بەڕێوەبەرایەتیی گشتی", "General Directorate"),
    ("دائرة التسجيل", "فەرمانگەی تۆمارکردن", "Registration Department"),
    ("دائرة الخدمات", "فەرمانگەی خزمەتگوزاری", "Services Department"),
    ("هيئة التراخيص", "دەستەی مۆڵەتەکان", "Licensing Authority"),
]
_ACTIONS = [
    ("إصدار", "دەرکردنی", "Issue of"), ("تجديد", "نوێکردنەوەی", "Renewal of"),
    ("بدل ضائع", "جێگرەوەی ونبووی", "Replacement of lost"), ("تسجيل", "تۆمارکردنی", "Registration of"),
    ("إلغاء", "هەڵوەشاندنەوەی", "Cancellation of"), ("نقل ملكية", "گواستنەوەی خاوەندارێتیی", "Transfer of"),
    ("تصديق", "پەسەندکردنی", "Certification of"), ("تعديل", "دەستکاریکردنی", "Amendment of"),
    ("الاستعلام عن", "پرسیارکردن لە", "Inquiry about"), ("طلب", "داواکردنی", "Request for"),
]
_SUBJECTS = [
    ("إجازة ممارسة مهنة", "مۆڵەتی پیشە", "professional licence"),
    ("شهادة تخرج", "بڕوانامەی دەرچوون", "graduation certificate"),
    ("عقد إيجار", "گرێبەستی کرێ", "lease contract"),
    ("سند عقار", "تاپۆی خانوو", "property deed"),
    ("إجازة بناء", "مۆڵەتی بیناسازی", "building permit"),
    ("إجازة استيراد", "مۆڵەتی هاوردە", "import licence"),
    ("هوية نقابة", "ناسنامەی سەندیکا", "union card"),
    ("شهادة صحية", "بڕوانامەی تەندروستی", "health certificate"),
    ("سجل تجاري", "تۆماری بازرگانی", "commercial register entry"),
    ("إجازة محل", "مۆڵەتی دوکان", "shop licence"),
    ("مقياس ماء", "پێوەری ئاو", "water meter"),
    ("مقياس كهرباء", "پێوەری کارەبا", "electricity meter"),
    ("خط هاتف أرضي", "هێڵی تەلەفۆنی جێگیر", "landline"),
    ("راتب تقاعدي", "مووچەی خانەنشینی", "pension"),
    ("منحة دراسية", "بورسی خوێندن", "scholarship"),
    ("إجازة صيد", "مۆڵەتی ڕاو", "fishing licence"),
    ("إجازة حفر بئر", "مۆڵەتی لێدانی بیر", "well-drilling permit"),
    ("قطعة أرض سكنية", "پارچە زەویی نیشتەجێبوون", "residential plot"),
    ("قرض سكني", "قەرزی نیشتەجێبوون", "housing loan"),
    ("إعانة اجتماعية", "یارمەتیی کۆمەڵایەتی", "social welfare grant"),
    ("بطاقة ذوي الإعاقة", "کارتی کەمئەندامان", "disability card"),
    ("شهادة منشأ", "بڕوانامەی بنەچە", "certificate of origin"),
    ("إجازة مصنع", "مۆڵەتی کارگە", "factory licence"),
    ("وثيقة مدرسية", "بەڵگەنامەی قوتابخانە", "school record"),
    ("معادلة شهادة", "یەکسانکردنی بڕوانامە", "certificate equivalence"),
    ("إجازة سياحية", "مۆڵەتی گەشتیاری", "tourism licence"),
    ("تأشيرة دخول", "ڤیزای هاتنەژوورەوە", "entry visa"),
    ("إقامة أجنبي", "مانەوەی بیانی", "foreign residence"),
    ("لوحة مركبة", "تابلۆی ئۆتۆمبێل", "vehicle plate"),
    ("سنوية مركبة", "ساڵانەی ئۆتۆمبێل", "vehicle registration"),
    ("إجازة سوق", "مۆڵەتی شۆفێری", "driving licence"),
    ("بطاقة زراعية", "کارتی کشتوکاڵی", "farmer card"),
    ("حصة مياه ري", "بەشە ئاوی ئاودێری", "irrigation water share"),
    ("إجازة بث", "مۆڵەتی پەخش", "broadcast licence"),
    ("رخصة سلاح", "مۆڵەتی چەک", "firearm licence"),
    ("وثيقة زواج", "بەڵگەی هاوسەرگیری", "marriage record"),
    ("شهادة وفاة", "بڕوانامەی مردن", "death certificate"),
    ("حجة وصاية", "بەڵگەی سەرپەرشتی", "guardianship deed"),
    ("براءة اختراع", "مافی داهێنان", "patent"),
    ("علامة تجارية", "نیشانەی بازرگانی", "trademark"),
]
_AUDIENCES = [
    ("", "", ""), ("للأفراد", "بۆ تاکەکان", "for individuals"), ("للشركات", "بۆ کۆمپانیاکان", "for companies"),
    ("للمقيمين", "بۆ نیشتەجێیان", "for residents"), ("المستعجل", "بەپەلە", "(urgent)"),
    ("للمتقاعدين", "بۆ خانەنشینان", "for retirees"), ("للطلبة", "بۆ قوتابیان", "for students"),
    ("للمغتربين", "بۆ دوورەوڵاتان", "for expatriates"),
]
_FIELDS = [
    {"name": "full_name", "type": "text"}, {"name": "national_id", "type": "national_id"},
    {"name": "mobile", "type": "mobile"}, {"name": "notes", "type": "arabic_text", "required": False},
    {"name": "start_date", "type": "date", "required": False}, {"name": "plate", "type": "plate"},
    {"name": "amount", "type": "number"},
]
_KINDS = ["procedural"] * 4 + ["participatory"] * 2 + ["interactive"] * 3 + ["informational"] * 2


def _t(ar: str, ckb: str, en: str) -> dict[str, str]:
    return {"ar": ar, "ckb": ckb, "en": en}


def generate(n_services: int = 548, n_institutions: int = 63, seed: int = 0) -> cat.Catalogue:
    rng = random.Random(seed)
    insts: list[dict[str, Any]] = []
    for n in range(n_institutions):
        m = _MINISTRIES[n % len(_MINISTRIES)]
        u = _UNITS[(n // len(_MINISTRIES)) % len(_UNITS)]
        rank = n // (len(_MINISTRIES) * len(_UNITS))
        suffix = f" {rank + 1}" if rank else ""
        insts.append({
            "id": f"inst-{n + 1:03d}",
            "name": _t(f"{m[0]} - {u[0]}{suffix}", f"{m[1]} - {u[1]}{suffix}", f"{m[2]} - {u[2]}{suffix}"),
            "offices": [{"id": f"inst-{n + 1:03d}-office-{k}", "name": _t(f"مكتب {k}", f"نووسینگەی {k}", f"Office {k}"),
                         "city": rng.choice(["Baghdad", "Basra", "Erbil", "Mosul", "Najaf", "Sulaymaniyah"])}
                        for k in range(1, 3)],
        })
    services = []
    combos = [(a, s, au) for s in _SUBJECTS for a in _ACTIONS for au in _AUDIENCES]
    rng.shuffle(combos)
    for n in range(n_services):
        a, s, au = combos[n % len(combos)]
        rep = n // len(combos)
        extra = f" {rep + 1}" if rep else ""
        inst = insts[n % n_institutions]["id"]
        kind = "informational" if a[2] == "Inquiry about" else _KINDS[rng.randrange(len(_KINDS))]
        name = _t(" ".join(x for x in (a[0], s[0], au[0]) if x) + extra,
                  " ".join(x for x in (a[1], s[1], au[1]) if x) + extra,
                  " ".join(x for x in (a[2], s[2], au[2]) if x) + extra)
        iname = insts[n % n_institutions]["name"]
        svc: dict[str, object] = {
            "id": f"svc-{n + 1:05d}", "name": name,
            "description": _t(f"خدمة {name['ar']} تقدمها {iname['ar']} عبر بوابة أور.",
                              f"خزمەتگوزاریی {name['ckb']} کە {iname['ckb']} لە ڕێگەی دەروازەی ئورەوە پێشکەشی دەکات.",
                              f"{name['en']}, provided by {iname['en']} through the Ur portal."),
            "kind": kind, "institution": inst,
            "steps": [_t("قدّم الطلب", "داواکاری پێشکەش بکە", "Submit the application")],
            "documents": [{"name": _t("البطاقة الوطنية", "کارتی نیشتمانی", "National card"),
                           "held_by_state": rng.random() < 0.5, "copies": rng.randrange(0, 3)}],
            "fees": {"statutory": 0, "service": 0}, "duration_days": 0, "e_payment": False, "form": [],
        }
        if kind != "informational":
            svc["fees"] = {"statutory": rng.choice([0, 1000, 5000, 10000, 25000, 50000]),
                           "service": rng.choice([0, 0, 500, 1000, 2000])}
            svc["duration_days"] = rng.randrange(1, 31)
            svc["e_payment"] = rng.random() < 0.7
            svc["form"] = _FIELDS[:3] + rng.sample(_FIELDS[3:], rng.randrange(0, 3))
        if kind == "participatory":
            others = [i["id"] for i in insts if i["id"] != inst]
            svc["agencies"] = rng.sample(others, min(len(others), rng.randrange(1, 4)))
        services.append(svc)
    return cat.from_obj({"version": 0, "institutions": insts, "services": services})


def write_files(c: cat.Catalogue, out: Path | str) -> list[Path]:
    """One file per institution, the layout `ur-central catalogue import` reads."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for inst in c.institutions:
        svcs = [s.model_dump(mode="json") for s in c.services if s.institution == inst.id]
        p = out / f"{inst.id}.json"
        p.write_text(json.dumps({"institution": inst.model_dump(mode="json"), "services": svcs},
                                ensure_ascii=False, indent=1))
        written.append(p)
    return written
