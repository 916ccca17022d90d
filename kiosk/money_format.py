"""Amounts as citizens read them: whole Iraqi dinars with a thousands separator,
in the screen's language, with Western (0-9) or Arabic-Indic (٠-٩) digits.

Pure: the same amount, language and digit choice always give the same text, so
screens, receipts and tests agree. Which digits a kiosk shows is an operator
setting (`UR_KIOSK_ARABIC_INDIC`), read by the app, not here.
"""

from __future__ import annotations

import os

from contract.errors import UrError
from kiosk.i18n import LANGS, tr

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
ARABIC_THOUSANDS = "\u066c"  # ARABIC THOUSANDS SEPARATOR


def arabic_indic_digits(text: str) -> str:
    """`text` with its Western digits written as Arabic-Indic ones."""
    return text.translate(ARABIC_INDIC)


def format_amount(amount: int, lang: str, arabic_indic: bool) -> str:
    """`25,000 IQD` / `25,000 دينار`, or `٢٥٬٠٠٠ دينار` with Arabic-Indic digits.

    English always keeps Western digits: the setting is for the Arabic-script pages.
    """
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}")
    number = f"{int(amount):,}"
    if arabic_indic and lang != "en":
        number = arabic_indic_digits(number.replace(",", ARABIC_THOUSANDS))
    return tr("money.iqd", lang, amount=number)


def arabic_indic_setting() -> bool:
    """The operator setting UR_KIOSK_ARABIC_INDIC: 1 shows amounts on the Arabic and
    Kurdish pages in Arabic-Indic digits, 0 (the default) in Western digits."""
    raw = os.environ.get("UR_KIOSK_ARABIC_INDIC", "0").strip()
    if raw not in ("0", "1"):
        raise UrError(f"UR_KIOSK_ARABIC_INDIC must be 0 or 1, got {raw!r}")
    return raw == "1"
