"""One generated log, three backends: the DuckDB file `aha sample` writes, the same Parquet files read in place by
DuckDB (`parquet://`), and by Spark in local mode (`spark:local[2]?parquet=`). Each backend's answers are computed
once per test run (a session fixture per backend, one Spark session for the run), then compared by the tests.

Small on purpose (CI has 2 cores and a 90-minute budget for everything): 150 users, about 7,000 events; Spark's
cost is per query (a second or two each on a loaded machine), not per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import aha
from tests.serving import aha as aha_cli

USERS = "150"
BACKENDS = ("duckdb", "parquet", "spark")  # the first is the reference


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`aha sample --out lake`: the DuckDB file, its aha.yaml and the Parquet files it was loaded from."""
    folder = tmp_path_factory.mktemp("parity")
    done = aha_cli("sample", "--users", USERS, "--seed", "3", "--out", "lake", "--db", "aha.duckdb", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """The run's one Spark session (local mode; starting one costs several seconds). Not skipped when PySpark or
    Java is missing: the parity suite is part of the test command (`.ci/run` installs Java where it can)."""
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("aha-parity")
               .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    yield session
    session.stop()


def url(backend: str, logs: Path) -> str:
    return {"duckdb": str(logs / "aha.duckdb"), "parquet": f"parquet://{logs / 'lake'}/",
            "spark": f"spark:local[2]?parquet={logs / 'lake'}/"}[backend]


class Answers:
    """One backend's project and its answers, each computed on first use and kept."""

    def __init__(self, project: aha.Project) -> None:
        self.project = project
        self._kept: dict[str, Any] = {}

    def get(self, name: str, ask: Callable[[aha.Project], Any]) -> Any:
        if name not in self._kept:
            self._kept[name] = ask(self.project)
        return self._kept[name]


@pytest.fixture(scope="session")
def answers(logs: Path, spark_session: Any) -> Iterator[Callable[[str], Answers]]:
    """backend → its Answers, each backend opened on first use and closed at the end of the run, before the Spark
    session stops."""
    opened: dict[str, Answers] = {}

    def of(backend: str) -> Answers:
        if backend not in opened:
            opened[backend] = Answers(aha.open(url(backend, logs), str(logs / "aha.yaml")))
        return opened[backend]

    yield of
    for kept in opened.values():
        kept.project.close()
