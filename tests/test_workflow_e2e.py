"""Every kind end to end with real parts: a real Mosquitto, the central ingest
worker and the kiosk sync loop (in-process, stepped by the test), SQLite files
on both sides. Application at the kiosk -> workflow at central -> clerk
actions (some through the real `ur-central apps` CLI) -> status history back
at the kiosk; complaints the same way; a catalogue change reaches the kiosk as
a delta while an application made under the old version keeps its old fee."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from central import applications as central_apps
from central import casework, db, downlink
from central import catalogue as central_catalogue
from central.worker import Worker
from contract import catalogue as cat
from contract import downlink as dl
from contract.errors import UrError
from kiosk import datasets, identity
from kiosk.applications import applications, complaints, corrections
from kiosk.context import wire_sync_handlers
from kiosk.store import KioskStore
from kiosk.sync.client import SyncClient, SyncConfig
from tests import support

# sync imports no business module: the capabilities register their feed handlers
wire_sync_handlers()

FIELDS = {"full_name": "زينب علي", "national_id": "199001234567", "mobile": "07801234567"}


class Rig:
    def __init__(self, tmp: Path, broker_url: str) -> None:
        self.url = support.sqlite_url(tmp / "central.db")
        # The CLIs run in this process (their `main`): the workflow is the subject here, not
        # the process boundary, and each Python start-up is about a second of CPU.
        assert support.run_cli_in_process(["ur-central", "--db", self.url, "init"])[0] == 0
        self.kdir = support.enroll_kiosk(self.url, "K1", tmp / "k1", broker_url, tmp)
        self.store = KioskStore(self.kdir)
        self.ident = identity.load(self.store)
        self.worker = Worker(self.url, broker_url, "w-test")
        self.sync = SyncClient(self.store, self.ident, broker_url,
                               SyncConfig(heartbeat_s=0, catch_up_s=1.0, first_delay_max=0.0, ack_timeout=3.0))
        self.S = db.sessions(db.make_engine(self.url))

    def pump_until(self, pred: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.worker.step(0.01)
            self.sync.step(0.01)
            got = pred()
            if got:
                return got
        raise AssertionError(f"timed out waiting for {what}")

    def kiosk_status(self, number: str) -> dict[str, Any]:
        with self.store.session() as s:
            return applications.status(s, number)

    def central(self, *args: str) -> str:
        code, out = support.run_cli_in_process(["ur-central", "--db", self.url, *args])
        assert code == 0, out
        return out

    def act(self, number: str, action: str, *extra: str) -> None:
        with self.S.begin() as s:
            casework.act(s, number, action, "clerk", "office-1", *extra)

    def close(self) -> None:
        self.sync.close()
        self.worker.client.disconnect()
        self.store.close()


def _status_is(rig: Rig, number: str, status: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return rig.kiosk_status(number)["status"] == status
        except Exception:  # noqa: BLE001 - not known at the kiosk yet
            return False
    return check


def test_every_kind_end_to_end(tmp_path: Path) -> None:
    with support.broker(tmp_path) as broker:
        rig = Rig(tmp_path, broker.url)
        try:
            proc = applications.submit(rig.store, rig.ident, "non-conviction-certificate", FIELDS).tracking
            part = applications.submit(rig.store, rig.ident, "subscriber-name-change", {
                **FIELDS, "water_account": "1234", "electricity_account": "5678", "reason": "purchase"}).tracking
            inter = applications.submit(rig.store, rig.ident, "oil-products-transport-permit", {
                **FIELDS, "plate": "11 A 12345", "product": "kerosene", "capacity_litres": "36000",
                "valid_from": "2026-12-01"}).tracking
            try:
                applications.submit(rig.store, rig.ident, "vehicle-fines-info", {})
                raise AssertionError("an informational service took an application")
            except Exception as e:  # noqa: BLE001
                assert "informational" in str(e)
            for n in (proc, part, inter):
                rig.pump_until(_status_is(rig, n, "received"), f"{n} received at central")
            first = rig.kiosk_status(proc)["history"]
            rig.pump_until(lambda: len(rig.kiosk_status(proc)["history"]) >= 2, "workflow start status")
            start = rig.kiosk_status(proc)["history"][-1]
            assert start["step"] == "review" and start["agency"] == "moi-criminal-evidence"
            assert start["sla_due"] and start["since"] and first[0]["status"] == "received"

            # Procedural: clerk CLI inbox and act, then exactly one visit.
            inbox = json.loads(rig.central("--json", "apps", "inbox", "--agency", "moi-criminal-evidence"))
            assert [r["number"] for r in inbox] == [proc]
            rig.central("apps", "act", proc, "approve", "--actor", "clerk-1", "--office", "baghdad-evidence")
            rig.pump_until(_status_is(rig, proc, "visit_requested"), "visit requested at kiosk")
            rig.central("apps", "act", proc, "visit_done")
            rig.central("apps", "act", proc, "issue")
            rig.pump_until(_status_is(rig, proc, "completed"), "procedural completed at kiosk")

            # Participatory: two agencies, no citizen.
            rig.act(part, "approve")
            rig.act(part, "approve")
            rig.act(part, "issue")
            rig.pump_until(_status_is(rig, part, "completed"), "participatory completed at kiosk")
            hist = rig.kiosk_status(part)["history"]
            assert [h.get("agency") for h in hist[1:]] == ["amanat-baghdad", "moe", "amanat-baghdad", "amanat-baghdad"]
            assert all(h["status"] != "visit_requested" for h in hist)

            # Interactive: returned for a correction, resubmitted, then issued without a visit.
            rig.act(inter, "return", "tanker capacity looks wrong")
            rig.pump_until(_status_is(rig, inter, "returned"), "returned at kiosk")
            assert rig.kiosk_status(inter)["history"][-1]["note"] == "tanker capacity looks wrong"
            try:  # the kiosk refuses to correct a file that is not returned
                corrections.resubmit(rig.store, rig.ident, proc, {})
                raise AssertionError("corrected a completed application")
            except UrError as e:
                assert "only a returned application" in str(e)
            corrections.resubmit(rig.store, rig.ident, inter, {"capacity_litres": "٣٢٠٠٠"})
            rig.pump_until(_status_is(rig, inter, "in_review"), "corrected file back with the agency")
            with rig.S() as s:
                stored = json.loads(s.get(central_apps.Application, inter).fields)
                assert stored["capacity_litres"] == "32000" and stored["product"] == "kerosene"
                assert casework.show(s, inter)["audit"][-1]["origin"] == "K1"
            rig.act(inter, "approve")
            rig.act(inter, "issue")
            rig.pump_until(_status_is(rig, inter, "completed"), "interactive completed at kiosk")
            statuses = [h["status"] for h in rig.kiosk_status(inter)["history"]]
            assert statuses == ["received", "received", "returned", "in_review", "in_review", "completed"]

            # Complaint, anonymous, about the procedural application.
            c = complaints.file_complaint(rig.store, rig.ident, "الموظف طلب مبلغاً إضافياً", "bribery",
                                          application=proc)
            assert c.anonymous and c.tracking.split("-")[1] == "999999"
            rig.pump_until(_status_is(rig, c.tracking, "received"), "complaint received")
            rig.act(c.tracking, "approve")
            rig.act(c.tracking, "approve")
            rig.act(c.tracking, "issue")
            rig.pump_until(_status_is(rig, c.tracking, "completed"), "complaint answered at kiosk")
            agencies = [h.get("agency") for h in rig.kiosk_status(c.tracking)["history"]]
            assert "moi-criminal-evidence" in agencies

            out = rig.central("--json", "audit", "verify")
            assert json.loads(out)["problems"] == []
        finally:
            rig.close()


def test_catalogue_change_arrives_as_delta_and_old_fee_holds(tmp_path: Path) -> None:
    with support.broker(tmp_path) as broker:
        rig = Rig(tmp_path, broker.url)
        try:
            # Made under v1 while the kiosk was not syncing.
            old = applications.submit(rig.store, rig.ident, "ordinary-passport", {
                **FIELDS, "passport_type": "new", "birth_date": "1990-05-01"})
            assert (old.catalogue_version, old.fee_total) == (1, 91000)
            with rig.S.begin() as s:
                c1 = central_catalogue.current(s)
                svcs = [x.model_copy(update={"fees": cat.Fees(statutory=30000, service=66000)})
                        if x.id == "ordinary-passport" else x for x in c1.services]
                assert central_catalogue.publish(s, c1.model_copy(update={"services": svcs})) == 2
            with rig.S() as s:  # central answers a kiosk at v1 with a delta, not the body
                kind, ans = downlink.answer(s, "K1", "dataset", dl.encode("request", name="catalogue", have=1))
                assert kind == "dataset"
                assert "delta" in ans and "body" not in ans and len(ans["delta"]) < 5000  # one service, not 70 kB
            rig.pump_until(lambda: _installed(rig) == 2, "catalogue v2 installed at the kiosk")
            with rig.store.session() as s, rig.S() as cs:
                ds = datasets.current(s, "catalogue")
                assert ds.body == central_catalogue.serialise(central_catalogue.current(cs))
            rig.pump_until(_status_is(rig, old.tracking, "received"), "old-version application accepted")
            # received, then the workflow start (routed right after the ingest commit), not a refusal
            rig.pump_until(lambda: len(rig.kiosk_status(old.tracking)["history"]) == 2, "workflow start")
            assert rig.kiosk_status(old.tracking)["status"] == "received"
            new = applications.submit(rig.store, rig.ident, "ordinary-passport", {
                **FIELDS, "passport_type": "new", "birth_date": "1990-05-01"})
            assert (new.catalogue_version, new.fee_total) == (2, 96000)
            with rig.S() as s:
                assert central_catalogue.fee_for_application(s, "ordinary-passport", 1).total == 91000
                assert central_catalogue.fee_for_application(s, "ordinary-passport", 2).total == 96000
        finally:
            rig.close()


def _installed(rig: Rig) -> int:
    with rig.store.session() as s:
        ds = datasets.current(s, "catalogue")
        return ds.version if ds else 0
