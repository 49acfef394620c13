"""A read key's options are not trusted (tried from outside): `days` of the activation read is bounded before any
work. Before: `{"days": [0, 1, ..., 99999]}` made the server compute one column per day; it grew past 9 GB and
answered no other read for minutes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import aha
from aha.errors import UserError
from tests.serving import create_key, running, sample_db


@pytest.mark.parametrize("days", [list(range(100_000)), [10**18], [-5], [], [7, 7], [1.5], [True]])
def test_the_python_api_refuses_days_outside_the_bounds(tmp_path: Path, days: list[object]) -> None:
    db = sample_db(tmp_path, users=30)
    project = aha.open(db, tmp_path / "aha.yaml")
    with pytest.raises(UserError, match=r"days: .* is not 1 to 12 different whole numbers of days from 0 to 36,500"):
        project.activation(days=tuple(days))  # type: ignore[arg-type]
    assert project.activation(days=(0, 1, 36500)).days == (0, 1, 36500)


def test_the_read_api_refuses_a_hundred_thousand_days_at_once(tmp_path: Path) -> None:
    db = sample_db(tmp_path, users=30)
    definitions = (tmp_path / "aha.yaml").read_text()
    with running(db) as server:
        key = create_key(db, "analyst", "read")
        answer = httpx.post(server.url + "/v1/query/activation", auth=(key, ""), timeout=120,
                            json={"definitions": definitions, "options": {"days": list(range(100_000))}})
        assert answer.status_code == 422, answer.text
        assert "days: [0, 1, 2" in answer.json()["reason"]
        fine = httpx.post(server.url + "/v1/query/activation", auth=(key, ""), timeout=120,
                          json={"definitions": definitions, "options": {"days": [1, 7]}})
        assert fine.status_code == 200 and fine.json()["days"] == [1, 7]
