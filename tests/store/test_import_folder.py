"""A folder given to `aha import`, as an unpacked export is: the hint names the glob for what it holds (Amplitude's
zip unpacks to `export/<project>/*.json.gz`; the hint said `'export/*.csv'`, which matches nothing there), and a
refused command leaves no database behind (a typo'd file name made an empty `aha.duckdb`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

AHA = shutil.which("aha", path=str(Path(sys.executable).parent)) or shutil.which("aha")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert AHA, "the aha console script is not installed in this environment"
    return subprocess.run([AHA, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("files", "said"), [
    (["123/123_2024-01-01_10#0.json.gz", "123/123_2024-01-01_11#0.json.gz"],
     "error: export: is a directory. Pass its files: aha import 'export/**/*.json.gz'"),
    (["tracks.parquet", "pages.parquet", "README.txt"],
     "error: export: is a directory. Pass its files: aha import 'export/*.parquet'"),
    (["notes.txt"], "error: export: is a directory. Pass its files, e.g. 'export/*.csv'; it holds none aha reads"),
])
def test_a_folder_is_answered_with_the_glob_of_its_files(tmp_path: Path, files: list[str], said: str) -> None:
    for name in files:
        (tmp_path / "export" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "export" / name).write_bytes(b"")
    done = run("import", "export", "--db", "aha.duckdb", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(said), done.stderr
    assert not (tmp_path / "aha.duckdb").exists()


def test_a_missing_file_leaves_no_database(tmp_path: Path) -> None:
    done = run("import", "evnets.csv", cwd=tmp_path)
    assert done.returncode == 2 and "evnets.csv: no such file" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_summary_says_one_row_and_one_duplicate(tmp_path: Path) -> None:
    """One event, imported twice, then one row with a previous_id: '1 row read', '1 duplicate skipped', '1 identity
    link' (they read '1 rows read', '1 duplicates skipped', '1 identity links')."""
    (tmp_path / "one.csv").write_text("user_id,event,timestamp\nu1,Signed Up,2024-01-01T10:00:00Z\n")
    run("import", "one.csv", cwd=tmp_path)
    again = run("import", "one.csv", cwd=tmp_path)
    assert again.stdout.splitlines()[0] == "1 file: 1 row read, 0 imported, 1 duplicate skipped, 0 rejected"
    (tmp_path / "link.csv").write_text("user_id,previous_id,event,timestamp\nu2,d2,Login,2024-01-01T11:00:00Z\n")
    linked = run("import", "link.csv", cwd=tmp_path)
    assert linked.stdout.splitlines()[1] == "  1 identity link", linked.stdout
