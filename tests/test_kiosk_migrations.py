"""Kiosk schema migrations: new stores are stamped at head, old ones upgrade in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

import kiosk.store as store_mod
from kiosk.migrations import HEAD
from kiosk.store import KioskStore


def test_head_constant_matches_the_revision_scripts() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store_mod.__file__).with_name("migrations")))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_new_store_is_stamped_and_an_unstamped_old_store_gets_stamped(tmp_path: Path) -> None:
    KioskStore(tmp_path / "a").close()
    with sqlite3.connect(tmp_path / "a" / "kiosk.db") as c:
        assert c.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD
        c.execute("DROP TABLE alembic_version")  # a store from before migrations existed
        c.execute("INSERT INTO stream_seq (stream, last_seq) VALUES ('applications', 7)")
    KioskStore(tmp_path / "a").close()
    with sqlite3.connect(tmp_path / "a" / "kiosk.db") as c:
        assert c.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD
        assert c.execute("SELECT last_seq FROM stream_seq").fetchone()[0] == 7  # data kept
