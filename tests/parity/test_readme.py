"""The README's commands for a Parquet lake and for Spark work as written (through the console script), and the
two reports they print are the same text."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tests.serving import AHA


def commands() -> list[list[str]]:
    """The `aha ...` lines of the README's backends section (the pip line installs what the tests already have)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Where your events already are"):text.index("## What the numbers mean")]
    lines = [line.split("  #")[0].strip() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
             for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("aha ")]


def test_readme_lake_and_spark_commands(tmp_path: Path) -> None:
    found = commands()
    assert [c[:3] for c in found] == [["sample", "--users", "300"], ["report", "--db", "parquet:lake/"],
                                      ["report", "--db", "spark:local[2]?parquet=lake/"]]
    printed = []
    for command in found:
        # Spark's start and a state built query by query: minutes on a loaded 2-core machine, hence no 120 s limit
        done = subprocess.run([AHA, *command], cwd=tmp_path, capture_output=True, text=True, timeout=1200,
                              check=False)
        assert done.returncode == 0, (command, done.stderr[-2000:])
        printed.append(done.stdout)
    assert "Signed up" in printed[1] and printed[2] == printed[1]
