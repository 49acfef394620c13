"""DuckDB's memory limit (AHA_MEMORY_LIMIT): half the machine by default, a size or share when given, and a wrong
value is one line naming the variable, through the real console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from aha.store import open_store

AHA = str(Path(sys.executable).parent / "aha")


def _limit(path: Path) -> str:
    store = open_store(path)
    try:
        return str(store.scalar("SELECT current_setting('memory_limit')"))
    finally:
        store.close()


def test_default_is_half_the_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AHA_MEMORY_LIMIT", raising=False)
    half = duckdb.connect()
    half.execute("SET memory_limit = '50%'")
    assert _limit(tmp_path / "a.duckdb") == half.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert half.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] != duckdb.connect().execute(
        "SELECT current_setting('memory_limit')").fetchall()[0][0]  # not DuckDB's own 80%


def test_a_given_size_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AHA_MEMORY_LIMIT", "1GB")
    assert _limit(tmp_path / "a.duckdb") == "953.6 MiB"  # 10^9 bytes, shown in binary units


def test_a_wrong_value_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    subprocess.run([AHA, "init"], cwd=tmp_path, check=True, capture_output=True)
    open_store(tmp_path / "a.duckdb").close()
    env = {**os.environ, "AHA_MEMORY_LIMIT": "lots"}
    done = subprocess.run([AHA, "report", "--db", str(tmp_path / "a.duckdb")], env=env, capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode != 0
    assert "AHA_MEMORY_LIMIT='lots': not a memory size" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
