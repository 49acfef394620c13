"""A report in which a milestone is reached by nobody says when that is because its event never occurs in the data
(a misspelt name read as 0%), naming the line of aha.yaml and the closest name; a report whose names all occur says
nothing of the kind."""

from __future__ import annotations

from pathlib import Path

from tests.serving import aha, sample_db


def test_a_misspelt_milestone_event_is_named_by_the_report(tmp_path: Path):
    sample_db(tmp_path, users=200)
    config = tmp_path / "aha.yaml"
    clean = aha("report", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    assert "in the data" not in clean.stderr  # every name occurs: no note, even where a milestone is unreached
    text = config.read_text(encoding="utf-8")
    assert "event: Data Imported" in text
    config.write_text(text.replace("event: Data Imported", "event: Data Imprted", 1), encoding="utf-8")
    done = aha("report", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    note = " ".join(done.stderr.split())
    assert "no event 'Data Imprted' in the data. Did you mean 'Data Imported'?" in note
    assert "milestones[" in note and "].event" in note  # the line to fix
    kept = aha("report", cwd=tmp_path)  # the answer kept in the file keeps its notes
    assert "no event 'Data Imprted' in the data" in " ".join(kept.stderr.split())
