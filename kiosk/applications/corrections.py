"""A citizen's correction of an application that central returned to them
(interactive and participatory services ask only when needed): the corrected
fields are validated against the kiosk's catalogue and queued on the
`corrections` stream in one transaction; central applies them and moves the
case back to the agency (casework.handle_correction)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from contract import catalogue as cat
from contract import tracking
from contract.errors import UrError
from kiosk.applications.applications import KioskApplication, load_catalogue
from kiosk.identity import Identity
from kiosk.store import KioskStore
from kiosk.sync import outbox

STREAM = "corrections"


def resubmit(store: KioskStore, ident: Identity, number: str, fields: dict[str, str],
             now: float | None = None) -> str:
    now = time.time() if now is None else now
    number = tracking.parse(number)
    with store.tx() as s:
        app = s.get(KioskApplication, number)
        if app is None:
            raise UrError(f"application {number} was not made at this kiosk")
        if app.status != "returned":
            raise UrError(f"application {number} is {app.status}: only a returned application can be corrected")
        old = json.loads(ident.data_key.open(app.fields_enc, "applications", app.tracking))
        values = cat.validate_form(load_catalogue(s).service(app.service_id), {**old, **fields})
        app.fields_enc = ident.data_key.seal(json.dumps(values, ensure_ascii=False).encode(), "applications", app.tracking)
        at = datetime.fromtimestamp(now, UTC)
        app.status, app.status_at = "resubmitted", at
        outbox.enqueue(s, ident, STREAM, {"tracking": number, "fields": values, "at": at.isoformat()}, now=now)
    return number
