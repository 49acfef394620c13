"""`rules:` in aha.yaml: when to nudge a user toward a milestone, how, and how many to hold out (docs/semantics.md,
"Rules and holdouts").

    rules:
      - id: connect_nudge
        when: {not_reached: data_connected, after: 24h}
        scope: {persona: admin}
        then: {webhook: "https://example.com/hooks/aha", secret: env:AHA_WEBHOOK_SECRET}
        holdout: 0.1
      - id: team_to_sales                      # sales assist: the unit is the account
        when: {signal: team}                   # an account entered the signal `team` (signals:)
        then: {email: {subject: "{{ account_id }} entered {{ signal.name }}", body: "..."}}  # to owner_email
        holdout: 0.2
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

from aha.definitions.counts import STRICT, Scalars
from aha.definitions.durations import Duration
from aha.jsonpointer import key_problem, shown

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)]
MAX_HOLDOUT = 0.9
OWNER_TRAIT = "owner_email"  # the account trait a signal rule's email goes to by default


class _Strict(BaseModel):
    model_config = STRICT


class Trigger(_Strict):
    """Exactly one of `not_reached` (with `after`), `reached`, `stalled` (optionally `before`), or `signal` (an
    account entered a signal: the rule's unit is then the account)."""

    # Ids, not any text: an empty `reached: ""` was read as the primary milestone, `not_reached: ""` a KeyError.
    not_reached: Identifier | None = Field(default=None, description="Milestone id: fires `after` signup if not "
                                                                     "reached.")
    after: Duration | None = Field(default=None, description="With not_reached: how long after signup.")
    reached: Identifier | None = Field(default=None, description="Milestone id, or `primary`: fires when it is "
                                                                 "reached.")
    stalled: Duration | None = Field(default=None, description="Fires when the user has done nothing for this long "
                                                                "while `before` is not reached and its window open.")
    before: Identifier | None = Field(default=None, description="With stalled: the milestone (default: primary).")
    signal: Identifier | None = Field(default=None, description="Signal id (signals:): fires once per account when the "
                                                         "account enters it (sales assist).")

    @model_validator(mode="after")
    def _shape(self) -> Trigger:
        if sum(x is not None for x in (self.not_reached, self.reached, self.stalled, self.signal)) != 1:
            raise ValueError("give exactly one trigger: `not_reached: <milestone>` with `after`, "
                             "`reached: <milestone or primary>`, `stalled: <duration>`, or `signal: <signal id>`")
        if self.not_reached is not None and self.after is None:
            raise ValueError("`not_reached` needs `after`, e.g. `after: 24h` (how long after signup)")
        for name in ("after", "stalled"):
            value = getattr(self, name)
            if value is not None and value <= timedelta(0):
                raise ValueError(f"`{name}` must be a positive duration, e.g. 24h")
        if self.not_reached is None and self.after is not None:
            raise ValueError("`after` goes with `not_reached`; a `reached` rule fires when the milestone is reached")
        if self.stalled is None and self.before is not None:
            raise ValueError("`before` goes with `stalled`")
        return self

    @property
    def unit(self) -> str:
        """What the rule fires for: "account" for a signal trigger, else "user"."""
        return "account" if self.signal is not None else "user"

    @property
    def milestone(self) -> str:
        """The milestone the trigger watches (`primary` stands for the primary milestone)."""
        return self.not_reached or self.reached or self.before or "primary"


def check_template(text: str) -> str | None:
    """A syntax error in a Jinja2 template, in one line, or None (parsing only: nothing is rendered here)."""
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    try:
        SandboxedEnvironment().parse(text)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    except RecursionError:  # Jinja's parser recurses per nested bracket, operator or block: `{{ ((((…1)))) }}`
        return "expressions or blocks nested too deep to parse; write it with fewer nested brackets or blocks"
    return None


def _key(value: str) -> str:
    problem = key_problem(value)
    if problem:
        raise ValueError(f"{problem}; got {shown(value)}")
    return value


def _webhook_url(value: str | None) -> str | None:
    """A URL the sender can post to, or ValueError saying what is wrong: one that could never be sent (no host, a
    space, a port that is not one) was accepted and failed every firing's eight attempts."""
    if value is None:
        return None
    from urllib.parse import urlsplit

    problem = None
    if bad := next((ch for ch in value if ch.isspace() or not ch.isprintable()), None):
        problem = f"it holds {bad!r} (spaces and control characters are not allowed in a URL; write %20 for a space)"
    else:
        try:
            parts = urlsplit(value)
            port = parts.port
            if not parts.hostname:
                problem = "it names no host"
            elif port == 0:
                problem = "port 0 is not a port"
            else:
                parts.hostname.encode("idna")
        except ValueError as exc:  # a port that is not a number or out of range, a bracket not closed
            problem = str(exc)[:1].lower() + str(exc)[1:]
        except UnicodeError:
            problem = "its host name is not a valid (internationalised) domain name"
    if problem:
        raise ValueError(f"{shown(value)} is not a URL a webhook can be sent to: {problem}; write it as "
                         "https://host[:port]/path")
    return value


def _in_app(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("an in-app message needs its text (users would be shown a blank)")
    return value


def _secret(value: str | None) -> str | None:
    if value is not None and not (value.startswith("whsec_") or value.startswith("env:")):
        raise ValueError("write the signing secret as `whsec_<base64>` or `env:VARIABLE` (read when sending)")
    return value


class Email(_Strict):
    """An email from templates (Jinja2, sandboxed) over the user's traits (`user`), checklist (`state`) and `rule`;
    for a signal rule over the account's traits (`account`), usage `summary` and `signal`."""

    subject: str = Field(max_length=1000)
    body: str = Field(max_length=50_000)
    to: str | None = Field(default=None, max_length=256, description=(
        "The trait holding the address: a user trait (default `email`); for a signal rule an account trait from "
        "group calls (default `owner_email`: the account's owner)."))

    def address_trait(self, unit: str) -> str:
        return self.to or (OWNER_TRAIT if unit == "account" else "email")

    @model_validator(mode="after")
    def _templates(self) -> Email:
        for name in ("subject", "body"):
            problem = check_template(getattr(self, name))
            if problem:
                raise ValueError(f"the {name} template does not parse ({problem})")
        return self


class Action(_Strict):
    """Where the nudge goes: a webhook (Standard Webhooks, signed), an email, or an in-app message the product
    fetches."""

    webhook: Annotated[str | None, AfterValidator(_webhook_url)] = Field(
        default=None, pattern=r"^https?://", max_length=2048, description="URL that receives a signed POST per firing.")
    secret: Annotated[str | None, AfterValidator(_secret)] = Field(default=None, description=(
        "The webhook's signing secret: whsec_<base64>, or env:VARIABLE."))
    in_app: Annotated[str | None, AfterValidator(_in_app)] = Field(default=None, max_length=2000,
                                                                   description="An in-app message's text.")
    email: Email | None = None

    @model_validator(mode="after")
    def _one(self) -> Action:
        if sum(x is not None for x in (self.webhook, self.in_app, self.email)) != 1:
            raise ValueError("give one action: `webhook: <url>` (with `secret`), `email: {subject, body}` or "
                             "`in_app: <message>`")
        if self.webhook is not None and self.secret is None:
            raise ValueError("a webhook needs its signing `secret` (whsec_… or env:VARIABLE)")
        return self

    @property
    def channel(self) -> str:
        return "webhook" if self.webhook is not None else "email" if self.email is not None else "in_app"


def _share(value: Any) -> Any:
    """A share is a number: YAML 1.1 reads `holdout: yes` or `no` as a boolean, which pydantic took for 1 or 0."""
    if isinstance(value, bool):
        raise ValueError(f"a share of users from 0 to {MAX_HOLDOUT}, such as 0.2, not {str(value).lower()} (YAML "
                         "reads yes, no, on and off as true or false)")
    return value


class Rule(_Strict):
    id: Identifier
    when: Trigger
    scope: dict[Annotated[str, AfterValidator(_key)], Scalars] = Field(
        default_factory=dict, description="Trait (or signup property) → value or list: only these users are eligible.")
    then: Action
    holdout: Annotated[float, BeforeValidator(_share)] = Field(default=0.0, ge=0.0, le=MAX_HOLDOUT,
                           description="Share of eligible users kept un-nudged, by a hash of rule and user.")
    late_after: Duration = Field(default=timedelta(days=1), description=(
        "A user whose moment came longer ago than this when the rules run is not nudged (nor held out): counted as "
        "too late. It keeps a new rule, or a server back after a pause, from nudging every user of the past."))
    aims_at: Identifier | None = Field(default=None, description="The milestone the nudge should move (impact is "
                                                                 "measured on it); default: the trigger's milestone.")

    @property
    def target(self) -> str:
        return self.aims_at or self.when.milestone


TIME_OF_DAY = r"^([01]\d|2[0-3]):[0-5]\d$"


def _time_of_day(value: Any) -> Any:
    """A number where a time of day belongs is YAML 1.1 at work: it reads an unquoted 22:00 as 22 × 60 + 0 = 1320
    (base 60), 9:30 as 570. Refused saying so, with the quoted time it stood for (never guessed into one)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 60 <= value < 24 * 60:
            hours, minutes = divmod(value, 60)
            raise ValueError(f'write the time in quotes, "{hours:02d}:{minutes:02d}" (YAML reads an unquoted '
                             f"{hours}:{minutes:02d} as the number {value})")
        raise ValueError('write the time of day in quotes as "HH:MM", such as "22:00"')
    return value


class QuietHours(_Strict):
    """No email or webhook nudge between `start` and `end` in the user's local time (deferred to `end`)."""

    start: Annotated[str, BeforeValidator(_time_of_day)] = Field(pattern=TIME_OF_DAY, description="HH:MM, local time.")
    end: Annotated[str, BeforeValidator(_time_of_day)] = Field(pattern=TIME_OF_DAY, description="HH:MM, local time.")
    timezone_trait: str = Field(default="timezone", max_length=256,
                                description="The trait holding the user's IANA time zone (Europe/Berlin).")
    default_timezone: str = Field(default="UTC", description="For users without a valid time zone trait.")

    @model_validator(mode="after")
    def _zone(self) -> QuietHours:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(self.default_timezone)
        except (ValueError, KeyError, OSError):
            raise ValueError(f"unknown time zone {self.default_timezone[:60]!r}; use an IANA name such as "
                             "Europe/Berlin") from None
        if self.start == self.end:
            raise ValueError("quiet hours need a different start and end")
        return self


class Nudges(_Strict):
    """Limits across every rule: at most `cap` email and webhook nudges per user in any `per`, and quiet hours."""

    cap: int | None = Field(default=None, ge=1, le=1000)
    per: Duration = Field(default=timedelta(days=1))
    quiet_hours: QuietHours | None = None


def check_signal_rule(i: int, rule: Rule, signals: list[Any], at: Any) -> None:
    """A signal rule's unit is the account: its signal must exist, it cannot show an in-app message (users fetch
    those) and it is measured on account conversion (no `aims_at`). `at(loc, message)` builds the error."""
    ids = [s.id for s in signals]
    if rule.when.signal not in ids:
        known = ", ".join(ids) or "(none: add `signals:` to the definitions file)"
        raise at(("rules", i, "when", "signal"), f"no signal {rule.when.signal!r}; known signals: {known}")
    if rule.then.in_app is not None:
        raise at(("rules", i, "then", "in_app"), "a signal rule fires for an account, and in-app messages are "
                 "fetched by a user: use `webhook` (e.g. a CRM) or `email` (to the account's owner_email)")
    if rule.aims_at is not None:
        raise at(("rules", i, "aims_at"), "a signal rule is measured on account conversion (any member paid); "
                 "leave `aims_at` out")
