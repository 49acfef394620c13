"""`--db spark://HOST:PORT?parquet=…` on a real Spark standalone cluster: a master and a worker started here (the
`spark-class` launcher PySpark ships), executors in their own JVMs and Python workers, and the report it prints
is the report the DuckDB file prints for the same events.

One machine, but the cluster's path end to end: the driver registers with the master, the master schedules
executors on the worker, and every query's tasks run there. Minutes on a loaded 2-core machine; one run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.parity.test_parity import differences
from tests.serving import AHA, free_port


def _launcher() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


@contextlib.contextmanager
def _daemon(args: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([str(_launcher()), *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(encoding="utf-8", errors="replace"):
            return
        assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in {log}:\n" + log.read_text(encoding="utf-8", errors="replace")[-3000:])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A standalone master and one worker (2 cores, 1 GiB) on 127.0.0.1; yields the master's URL and the folder
    of their logs and the worker's work directory."""
    folder = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "SPARK_HOME": str(_launcher().parent.parent), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_WORKER_DIR": str(folder / "work"), "PYSPARK_PYTHON": sys.executable}
    port, ui, worker_ui = free_port(), free_port(), free_port()
    master = f"spark://127.0.0.1:{port}"
    with _daemon(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                  "--webui-port", str(ui)], folder / "master.log", env) as started:
        _wait_for(folder / "master.log", "I have been elected leader", started)
        with _daemon(["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "2",
                      "--memory", "1g", "--webui-port", str(worker_ui), master], folder / "worker.log", env) as w:
            _wait_for(folder / "worker.log", "Successfully registered with master", w)
            yield master, folder


def test_a_standalone_cluster_reports_what_the_file_reports(logs: Path, cluster: tuple[str, Path]) -> None:
    master, folder = cluster
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    reports = []
    for db in (str(logs / "aha.duckdb"),
               f"{master}?parquet={logs / 'lake'}/&spark.executor.memory=512m&spark.sql.shuffle.partitions=2"):
        done = subprocess.run([AHA, "report", "--json", "--config", "aha.yaml", "--db", db], cwd=logs, env=env,
                              capture_output=True, text=True, timeout=1500, check=False)
        assert done.returncode == 0, (db, done.stderr[-3000:])
        reports.append(json.loads(done.stdout))
    from_file, from_cluster = reports
    assert from_file["funnel"]["groups"][0]["steps"][1]["entities"] > 0
    found = differences(from_file, from_cluster)  # every count equal, floats to 1e-9, data_version aside
    assert not found, "; ".join(found[:5])
    # the queries ran in executors the worker launched (one folder per application), not inside the driver
    assert [p.name for p in (folder / "work").glob("app-*")], (folder / "worker.log").read_text()[-2000:]
