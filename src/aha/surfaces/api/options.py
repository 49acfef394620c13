"""What each read of `POST /v1/query/{analysis}` may carry: one pydantic model of options per analysis (unknown
options are refused by name), the request bodies, and which analyses need the definitions file's text."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Signups(Options):
    """The signup date range, UTC days: `signups_from` included, `signups_to` excluded (`--from`, `--to`)."""

    signups_from: str | None = Field(None, max_length=32)
    signups_to: str | None = Field(None, max_length=32)


class _Segmented(_Signups):
    segment: str | None = None
    as_of: str | None = None


class FunnelOptions(_Segmented):
    order: Literal["ordered", "unordered"] = "ordered"
    include_immature: bool = False


class ReportOptions(FunnelOptions):
    period: Literal["day", "week", "month"] = "week"
    level: Literal["user", "account"] = "user"


class LevelOptions(_Segmented):
    """evaluate and revalidate: users or accounts as the unit (`--level`)."""

    level: Literal["user", "account"] = "user"


class ActivationOptions(_Segmented):
    period: Literal["day", "week", "month"] = "week"
    days: tuple[int, ...] | None = None
    milestone: str | None = None


class DiscoverOptions(_Signups):
    outcome: Literal["retention", "conversion"] = "retention"
    window: Literal[1, 3, 7, 14] = 14
    as_of: str | None = None
    segment: str | None = None
    landmark: bool | None = None


class ScoreOptions(_Signups):
    outcome: Literal["retention", "conversion"] = "retention"
    as_of: str | None = None
    landmark: bool | None = None


class UserStateOptions(Options):
    user_id: str = Field(max_length=1024)
    as_of: str | None = None


class UserTimelineOptions(UserStateOptions):
    limit: int = Field(500, ge=1, le=5_000)


class AccountStateOptions(Options):
    account_id: str = Field(max_length=1024)
    as_of: str | None = None


class RunRulesOptions(Options):
    dry_run: bool = False
    as_of: str | None = None


class ImpactOptions(Options):
    rule_id: str = Field(max_length=64)
    as_of: str | None = None


class InterventionsOptions(Options):
    rule_id: str | None = Field(None, max_length=64)
    status: Literal["held_out", "pending", "delivered", "failed", "withdrawn"] | None = None
    limit: int = Field(50, ge=1, le=10_000)


class AccountsOptions(Options):
    signal: str | None = Field(None, max_length=256)
    top: int = Field(50, le=1_000_000)  # below 1: the project says what to give
    as_of: str | None = None


class AccountOptions(Options):
    account_id: str = Field(max_length=1024)
    as_of: str | None = None


class AsOfOptions(Options):
    as_of: str | None = None


class RetentionOptions(_Segmented):
    bucket: Literal["day", "week"] = "day"


class SignupsOptions(_Signups):
    as_of: str | None = None


class PathsOptions(_Segmented):
    top: int = Field(10, ge=1, le=100)


OPTIONS: dict[str, type[Options]] = {
    "report": ReportOptions, "evaluate": LevelOptions, "retention": RetentionOptions, "discover": DiscoverOptions,
    "funnel": FunnelOptions, "timing": _Segmented, "activation": ActivationOptions, "validate": Options,
    "score": ScoreOptions, "paths": PathsOptions, "revalidate": LevelOptions, "keys": Options,
    "dead-letters": Options, "notes": Options, "signups": SignupsOptions,
    "user_state": UserStateOptions, "account_state": AccountStateOptions,
    "user_timeline": UserTimelineOptions,
    "run_rules": RunRulesOptions, "impact": ImpactOptions, "interventions": InterventionsOptions,
    "accounts": AccountsOptions, "account": AccountOptions, "evaluate_signals": AsOfOptions,
}
NEEDS_DEFINITIONS = {"report", "evaluate", "retention", "discover", "funnel", "timing", "activation", "validate",
                     "signups", "score", "paths", "revalidate", "user_state", "account_state", "user_timeline",
                     "run_rules", "impact", "interventions", "accounts", "account", "evaluate_signals"}


class QueryBody(BaseModel):
    """What the CLI sends: the definitions file's YAML text, its name (for messages), the command's options."""

    model_config = ConfigDict(extra="forbid")
    definitions: str | None = Field(None, description="The definitions file's YAML text (all analyses but keys, "
                                                      "dead-letters).")
    source: str = Field("aha.yaml", description="The definitions file's name, used in error messages.")
    options: dict[str, Any] = Field(default_factory=dict)


class KeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Literal["write", "read"] = "write"
