"""Docs kept with the code (datasette's tests/test_docs.py): every result field and every analysis is documented."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from aha.analyses import (
    accounts,
    checks,
    discovery,
    paths,
    retention,
    revalidation,
    scoring,
    signals_eval,
    validation,
)
from aha.project import ReportResult

DOCS = Path(__file__).resolve().parents[1] / "docs"


def result_types() -> list[type]:
    from aha.guidance.checklist import ChecklistResult
    from aha.guidance.impact import ImpactResult
    from aha.guidance.rules import InterventionsResult, RulesRunResult
    from aha.guidance.timeline import TimelineResult

    seen: list[type] = []

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.append(cls)
        for hint in typing.get_type_hints(cls).values():
            for arg in (hint, *typing.get_args(hint)):
                for inner in (arg, *typing.get_args(arg)):
                    if dataclasses.is_dataclass(inner) and isinstance(inner, type):
                        walk(inner)

    for root in (ReportResult, checks.ChecksResult, validation.ValidationResult, retention.RetentionResult,
                 discovery.DiscoveryResult, scoring.ScoringResult, paths.PathsResult,
                 revalidation.RevalidationResult, ChecklistResult, RulesRunResult, InterventionsResult,
                 ImpactResult, accounts.AccountsResult, accounts.AccountDetailResult, signals_eval.SignalsResult,
                 TimelineResult):
        walk(root)
    return seen


def sections() -> dict[str, str]:
    text = (DOCS / "results.md").read_text(encoding="utf-8")
    parts = re.split(r"^### ", text, flags=re.M)[1:]
    return {p.split()[0]: p for p in parts}


@pytest.mark.parametrize("cls", result_types(), ids=lambda c: c.__name__)
def test_every_result_field_is_documented(cls):
    section = sections().get(cls.__name__)
    assert section is not None, f"docs/results.md has no '### {cls.__name__}' section"
    missing = [f.name for f in dataclasses.fields(cls) if f"`{f.name}`" not in section]
    assert missing == []


def test_every_result_kind_is_listed() -> None:
    from aha.results import ResultMixin

    def subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    import aha.project  # noqa: F401  (imports every analysis, so every result class exists)

    kinds = {cls.kind for cls in subclasses(ResultMixin)} - {"result"}
    head = (DOCS / "results.md").read_text(encoding="utf-8").split("schema_version", 1)[0]
    listed = set(re.findall(r"`([a-z_]+)`", head.split('"kind"', 1)[1]))
    assert kinds == listed
