"""Kiosk keys as receipt signers in the trust list.

Decision (payments): a kiosk signs its payment receipts (UR1 type "receipt") with its
enrollment key. The trust list central publishes carries every enrolled kiosk's key
with allowed type "receipt" only and a window from its enrollment, so a kiosk key
can never sign a certificate or letter, and dropping a kiosk drops its receipts' trust.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.kiosks import Kiosk
from contract import cose_sign1
from contract.trust_list import ANY, TrustedKey


def receipt_keys(session: Session) -> tuple[TrustedKey, ...]:
    out = []
    for k in session.scalars(select(Kiosk).order_by(Kiosk.kiosk_id)):
        pub = bytes.fromhex(k.public_key)
        out.append(TrustedKey(cose_sign1.kid_of(pub), pub, agency=ANY, types=("receipt",),
                              not_before=int(k.enrolled_at.timestamp()) - 300))
    return tuple(out)
