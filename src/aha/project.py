"""The Python API every surface is built on: `aha.open(db, config)` and one method per question."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

# A report's analyses only: the others (and the guidance that builds expressions) are imported by the methods that
# run them, so that a report whose statements are kept imports no Ibis (docs/engine.md, "A report without Ibis").
from aha import progress
from aha.analyses import activation as activation_mod
from aha.analyses import funnel as funnel_mod
from aha.analyses import headline as headline_mod
from aha.analyses import overview as overview_mod
from aha.analyses import result_cache
from aha.analyses import signups as signups_mod
from aha.analyses import timing as timing_mod
from aha.analyses.as_of import parse_as_of, resolve
from aha.analyses.defaults import ACCOUNTS_TOP, PATHS_TOP
from aha.analyses.report_results import ActivationResult, FunnelResult, Order, Period, ReportResult, TimingResult
from aha.analyses.segment_sources import check_segment, with_segments
from aha.analyses.state import MilestoneState, build
from aha.definitions import Definitions, load
from aha.engine.columns import ACCOUNT, USER
from aha.errors import UserError
from aha.guidance.checklist import ChecklistResult, checklist
from aha.guidance.timeline import LIMIT as TIMELINE_LIMIT
from aha.guidance.timeline import TimelineResult, timeline
from aha.store import Store, open_store, urls

if TYPE_CHECKING:
    from aha.analyses import accounts as accounts_mod
    from aha.analyses import discovery as discovery_mod
    from aha.analyses import paths as paths_mod
    from aha.analyses import retention as retention_mod
    from aha.analyses import revalidation as revalidation_mod
    from aha.analyses import scoring as scoring_mod
    from aha.analyses import signals_eval as signals_eval_mod
    from aha.analyses import validation as validation_mod
    from aha.guidance import rules as rules_mod
    from aha.guidance.impact import ImpactResult
    from aha.guidance.rules import RulesRunResult

Level = Literal["user", "account"]  # the unit an analysis counts (`--level`)


Day = str | date | None  # a signup range end: `--from`, `--to` (analyses.signups)
Method = TypeVar("Method", bound=Callable[..., Any])


_STAGES = {"report": "the report", "discover": "discovering milestones", "discover_segments": "discovering segments",
           "evaluate": "evaluating the milestones", "revalidate": "revalidating the milestones",
           "run_rules": "running the rules", "score": "scoring"}


def _settled(method: Method) -> Method:
    """Return only once the store's background work (a rebuilt state being written to the file) is done, and
    raise its error if it failed: a result never outlives a write it depended on."""
    label = _STAGES.get(method.__name__, method.__name__.replace("_", " "))

    @functools.wraps(method)
    def wrapper(self: Project, *args: Any, **kwargs: Any) -> Any:
        from aha.analyses import compiled

        # what a progress display names (aha/progress.py); the file's shape and kept statements read once
        with progress.stage(label), compiled.one_read(self.store):
            try:
                return method(self, *args, **kwargs)
            finally:
                self.store.settle()
    return cast(Method, wrapper)


class Project:
    """An event store and a definitions file, opened together."""

    def __init__(self, store: Store, definitions: Definitions, config_path: Path | None = None) -> None:
        self.store = store
        self.definitions = definitions
        self.config_path = config_path

    @classmethod
    def open(cls, db: str | Path = "aha.duckdb", config: str | Path = "aha.yaml") -> Project:
        definitions = load(config)
        if urls.parse(db).is_file and not Path(db).exists():
            raise UserError(f"{db}: no such database. Create one with `aha sample` or `aha import FILE --db {db}`.")
        return cls(open_store(db), definitions, Path(config))

    # -- state ---------------------------------------------------------------------------------------

    def as_of(self, as_of: str | date | datetime | None = None) -> datetime:
        """The moment of the analysis: by default the latest stored event, identity link or membership (SEMANTICS.md;
        `aha.analyses.as_of.resolve`: a later time than the latest event is answered as asked, with a note)."""
        return resolve(self.store, as_of)

    @_settled
    def state(self, as_of: str | date | datetime | None = None, force: bool = False) -> MilestoneState:
        """Per-entity milestone state (materialised in the store; rebuilt only when data or definitions change)."""
        if force and self.store.keeps_answers:
            result_cache.forget(self.store.raw)
        return build(self.store, self.definitions, self.as_of(as_of), force=force)

    @_settled
    def user_state(self, user_id: str, as_of: str | date | datetime | None = None) -> ChecklistResult:
        """One user's milestone checklist: status, progress toward each threshold, deadline, guidance, the next
        milestone to push, an activation score (docs/semantics.md, "Checklist"). Unknown ids raise UnknownEntity."""
        return checklist(self.store, self._state_for(as_of, None), USER, user_id)

    @_settled
    def user_timeline(self, user_id: str, as_of: str | date | datetime | None = None,
                      limit: int = TIMELINE_LIMIT) -> TimelineResult:
        """One user's events in time order (the first `limit`, and how many in all), with signup, each milestone
        reached, each open or missed window's end and paid marked from their checklist."""
        ms = self._state_for(as_of, None)
        return timeline(self.store, ms.as_of, checklist(self.store, ms, USER, user_id), limit)

    @_settled
    def account_state(self, account_id: str, as_of: str | date | datetime | None = None) -> ChecklistResult:
        """One account's checklist of account milestones (members' events counted together)."""
        return checklist(self.store, self._state_for(as_of, None), ACCOUNT, account_id)

    @_settled
    def run_rules(self, dry_run: bool = False, as_of: str | date | datetime | None = None,
                  now: datetime | None = None, deliver: bool = True) -> RulesRunResult:
        """Evaluate `rules:` as of `as_of` (the clock for triggers; default the latest data), record new firings in
        the outbox (held-out users too), then send the webhooks that are due at `now` (default: the wall clock).
        `dry_run` lists who would get what and records and sends nothing."""
        from aha.guidance import delivery as delivery_mod
        from aha.guidance import rules as rules_mod
        ms = self._state_for(as_of, None)
        result = rules_mod.run(self.store, ms, dry_run, now)
        if dry_run or not deliver:
            return result
        sent = delivery_mod.deliver(self.store, ms, now or datetime.now(UTC).replace(tzinfo=None))
        return dataclasses.replace(result, sent=sent.attempted, delivered=sent.delivered, retrying=sent.retrying,
                                   failed=sent.failed, deferred=sent.deferred, withdrawn=sent.withdrawn)

    def replay_failed(self, rule_id: str | None = None) -> int:
        """Failed webhook firings back to pending (sent by the next `run_rules`): how many."""
        from aha.guidance import delivery as delivery_mod
        return delivery_mod.replay_failed(self.store, rule_id)

    @_settled
    def impact(self, rule_id: str, as_of: str | date | datetime | None = None) -> ImpactResult:
        """Nudged vs held-out users of one rule: its target milestone reached, with a Newcombe interval."""
        from aha.guidance import impact as impact_mod
        return impact_mod.impact(self.store, self._state_for(as_of, None), rule_id)

    @_settled
    def interventions(self, rule_id: str | None = None, status: str | None = None,
                      limit: int = 50) -> rules_mod.InterventionsResult:
        """The outbox: firings (nudged and held out), latest first, with their delivery status."""
        from aha.guidance import rules as rules_mod
        return rules_mod.interventions(self.store, rule_id, status, limit)

    # -- analyses ------------------------------------------------------------------------------------

    def _accounts_for(self, as_of: str | date | datetime | None, segment: str | None,
                      signups: tuple[Day, Day] = (None, None)) -> MilestoneState:
        """The state with accounts as the unit (analyses.account_level)."""
        from aha.analyses.account_level import account_level
        if segment is not None:
            raise UserError("--segment reads user traits and signup properties; with --level account leave it out.")
        if signups != (None, None):
            raise UserError("--from/--to restrict users by signup; with --level account leave them out.")
        return account_level(self.store, build(self.store, self.definitions, self.as_of(as_of)))

    def _state_for(self, as_of: str | date | datetime | None, segment: str | None,
                   signups: tuple[Day, Day] = (None, None)) -> MilestoneState:
        """The state for an analysis, restricted to the users who signed up in `signups` (`--from`, `--to`); a
        rebuilt one may still be being written to the file (`build`): the public methods settle before they return."""
        days = signups_mod.signup_range(*signups)  # checked before the state is built
        ms = signups_mod.restrict(build(self.store, self.definitions, self.as_of(as_of)), days)
        if segment is None:
            return ms
        ms = with_segments(self.store, ms)
        check_segment(self.store, segment)
        return ms

    @result_cache.remembered("funnel", FunnelResult)
    @_settled
    def funnel(self, order: Order = "ordered", include_immature: bool = False, segment: str | None = None,
               as_of: str | date | datetime | None = None,
               signups_from: Day = None, signups_to: Day = None) -> FunnelResult:
        ms = self._state_for(as_of, segment, (signups_from, signups_to))
        return funnel_mod.run(self.store, ms, order, include_immature, segment)

    @result_cache.remembered("timing", TimingResult)
    @_settled
    def timing(self, segment: str | None = None, as_of: str | date | datetime | None = None,
               signups_from: Day = None, signups_to: Day = None) -> TimingResult:
        return timing_mod.run(self.store, self._state_for(as_of, segment, (signups_from, signups_to)), segment)

    @result_cache.remembered("activation", ActivationResult)
    @_settled
    def activation(self, period: Period = "week", days: tuple[int, ...] = activation_mod.DEFAULT_DAYS,
                   segment: str | None = None, as_of: str | date | datetime | None = None,
                   milestone: str | None = None,
                   signups_from: Day = None, signups_to: Day = None) -> ActivationResult:
        if milestone is not None and milestone not in {m.id for m in self.definitions.milestones}:
            raise UserError(f"--milestone {milestone!r}: no such milestone; known: "
                            f"{', '.join(m.id for m in self.definitions.milestones)}.")
        days = activation_mod.check_days(tuple(days))  # before the state: a read key's `days` is not trusted
        ms = self._state_for(as_of, segment, (signups_from, signups_to))
        return activation_mod.run(self.store, ms, period, days, segment, milestone)

    @result_cache.remembered("evaluate", "aha.analyses.validation:ValidationResult")
    @_settled
    def evaluate(self, segment: str | None = None, as_of: str | date | datetime | None = None,
                 outcomes: tuple[validation_mod.Outcome, ...] | None = None,
                 level: Level = "user", signups_from: Day = None,
                 signups_to: Day = None) -> validation_mod.ValidationResult:
        """Each user milestone against conversion and Day-N retention (lift with intervals, p-values, verdicts);
        with `level="account"`, each account milestone against account conversion."""
        from aha.analyses import validation as validation_mod
        if level == "account":
            return dataclasses.replace(validation_mod.run(
                self.store, self._accounts_for(as_of, segment, (signups_from, signups_to)), None, ("conversion",)),
                unit="account")
        ms = self._state_for(as_of, segment, (signups_from, signups_to))
        return validation_mod.run(self.store, ms, segment, outcomes)

    @_settled
    def evaluate_signals(self, as_of: str | date | datetime | None = None) -> signals_eval_mod.SignalsResult:
        """Each signal's account conversion vs accounts without it: lift with 95% CI, median time to paid."""
        from aha.analyses import signals_eval as signals_eval_mod
        return signals_eval_mod.run(self.store, self._state_for(as_of, None))

    @_settled
    def accounts(self, signal: str | None = None, top: int = ACCOUNTS_TOP,
                 as_of: str | date | datetime | None = None) -> accounts_mod.AccountsResult:
        """Accounts by highest signal and PQL score, with a usage summary (`signal`: only those holding it)."""
        from aha.analyses import accounts as accounts_mod
        if top < 1:
            raise UserError(f"--top {top}: give a number of accounts of at least 1.")
        return accounts_mod.run(self.store, self._state_for(as_of, None), signal, top)

    @_settled
    def account(self, account_id: str, as_of: str | date | datetime | None = None) -> accounts_mod.AccountDetailResult:
        """One account: summary, members with the user milestones each reached, and its signal timeline."""
        from aha.analyses import accounts as accounts_mod
        return accounts_mod.detail(self.store, self._state_for(as_of, None), account_id)

    @result_cache.remembered("revalidate", "aha.analyses.revalidation:RevalidationResult")
    @_settled
    def revalidate(self, segment: str | None = None, as_of: str | date | datetime | None = None,
                   outcomes: tuple[validation_mod.Outcome, ...] | None = None,
                   signups_from: Day = None, signups_to: Day = None,
                   level: Level = "user") -> revalidation_mod.RevalidationResult:
        """The validation per signup month; flags a milestone whose gap or lift shrinks from the first month. With
        `level="account"`: each account milestone against account conversion, per account signup month."""
        from aha.analyses import revalidation as revalidation_mod
        if level == "account":
            ms = self._accounts_for(as_of, segment, (signups_from, signups_to))
            return revalidation_mod.run(self.store, ms, None, ("conversion",), unit="account")
        ms = self._state_for(as_of, segment, (signups_from, signups_to))
        return revalidation_mod.run(self.store, ms, segment, outcomes)

    @result_cache.remembered("retention", "aha.analyses.retention:RetentionResult")
    @_settled
    def retention(self, segment: str | None = None, as_of: str | date | datetime | None = None,
                  bucket: retention_mod.Bucket = "day",
                  signups_from: Day = None, signups_to: Day = None) -> retention_mod.RetentionResult:
        """Retention curves, Day 0…90 by day or week, of users who reached each milestone vs those who did not, and
        the definitions' retention rule (as `evaluate` measures it) reached vs not."""
        from aha.analyses import retention as retention_mod
        if bucket not in retention_mod.BUCKET_DAYS:
            raise UserError(f"--bucket {bucket!r}: use one of {', '.join(retention_mod.BUCKET_DAYS)}.")
        ms = self._state_for(as_of, segment, (signups_from, signups_to))
        return retention_mod.run(self.store, ms, segment, bucket=bucket)

    @result_cache.remembered("discover", "aha.analyses.discovery:DiscoveryResult")
    @_settled
    def discover(self, outcome: validation_mod.Outcome = "retention", window: int = 14,
                 as_of: str | date | datetime | None = None,
                 segment: str | None = None, landmark: bool | None = None,
                 signups_from: Day = None, signups_to: Day = None) -> discovery_mod.DiscoveryResult:
        """Every event × threshold × window as a candidate milestone, ranked; each event's magic number.

        `segment="persona=admin"` runs discovery among those users only (what predicts retention for admins?).
        `landmark` (on by default): compare each window's candidates among users still active after it and, for
        conversion, not yet paid when it closed, so that neither leaving early nor paying early decides who is
        compared (SEMANTICS.md, "Discovery and scoring").
        """
        from aha.analyses import discovery as discovery_mod
        if outcome == "conversion" and self.definitions.paid is None:
            raise UserError("--outcome conversion needs a `paid:` section in the definitions file.")
        if segment is None:
            ms = self._state_for(as_of, None, (signups_from, signups_to))
            return discovery_mod.run(self.store, ms, outcome, window, landmark=landmark)
        key, sep, value = segment.partition("=")
        if not sep or not key or not value:
            raise UserError(f"--segment {segment!r}: discovery runs within one segment value; write KEY=VALUE, "
                            "e.g. --segment persona=admin (every value at once: project.discover_segments in "
                            "Python).")
        ms = self._state_for(as_of, key, (signups_from, signups_to))
        (result,) = discovery_mod.run_segments(self.store, ms, outcome, window, segment=key, only=value,
                                               landmark=landmark).groups
        return result

    @_settled
    def discover_segments(self, segment: str, outcome: validation_mod.Outcome = "retention", window: int = 14,
                          as_of: str | date | datetime | None = None,
                          landmark: bool | None = None,
                          signups_from: Day = None, signups_to: Day = None) -> discovery_mod.DiscoveryBreakdown:
        """`discover` within every value of one trait or signup property (`"persona"`), from one counts pass."""
        from aha.analyses import discovery as discovery_mod
        if outcome == "conversion" and self.definitions.paid is None:
            raise UserError("--outcome conversion needs a `paid:` section in the definitions file.")
        ms = self._state_for(as_of, segment, (signups_from, signups_to))
        return discovery_mod.run_segments(self.store, ms, outcome, window,
                                          segment=segment, landmark=landmark)

    @_settled
    def score(self, outcome: validation_mod.Outcome = "retention", as_of: str | date | datetime | None = None,
              discovery: discovery_mod.DiscoveryResult | None = None,
              landmark: bool | None = None,
              signups_from: Day = None, signups_to: Day = None) -> scoring_mod.ScoringResult:
        """Each significant discovered event scored 1–5 on four axes, and the 3–5 event shortlist.

        Pass the `discovery` of the same outcome to reuse it (`aha discover --write` does); otherwise it is run
        (`landmark` as for `discover`).
        """
        from aha.analyses import scoring as scoring_mod
        found = discovery if discovery is not None else self.discover(
            outcome=outcome, as_of=as_of, landmark=landmark, signups_from=signups_from, signups_to=signups_to)
        return scoring_mod.run(self.store, self._state_for(found.as_of, None, (signups_from, signups_to)), found,
                               outcome)

    @result_cache.remembered("paths", "aha.analyses.paths:PathsResult")
    @_settled
    def paths(self, segment: str | None = None, as_of: str | date | datetime | None = None,
              top: int = PATHS_TOP,
              signups_from: Day = None, signups_to: Day = None) -> paths_mod.PathsResult:
        """The orders in which users reach the funnel milestones, converters vs not, and the drop-off between them."""
        from aha.analyses import paths as paths_mod
        ms = self._state_for(as_of, segment, (signups_from, signups_to))
        return paths_mod.run(self.store, ms, segment, top)

    @result_cache.remembered("report", ReportResult)
    @_settled
    def report(self, segment: str | None = None, as_of: str | date | datetime | None = None,
               period: Period = "week", order: Order = "ordered",
               include_immature: bool = False, level: Level = "user",
               signups_from: Day = None, signups_to: Day = None) -> ReportResult:
        ms = (self._accounts_for(as_of, segment, (signups_from, signups_to)) if level == "account"
              else self._state_for(as_of, segment, (signups_from, signups_to)))
        # Timing (the longest) on a second connection while this one runs the funnel and activation: each side's
        # Python (expressions, compiling) then overlaps the other's queries.
        # Inside a transaction (the server's reads) another connection would not see the state: one after another.
        cursor = self.store.cursor() if self.store.parallel_reads and not self.store.in_transaction else None
        try:
            with progress.stage("funnel, activation, timing"), \
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix="aha-report") as pool:
                timing = pool.submit(timing_mod.run, cursor, ms.on(cursor), segment) if cursor is not None else None
                f = funnel_mod.run(self.store, ms, order, include_immature, segment)
                a = activation_mod.run(self.store, ms, period, activation_mod.DEFAULT_DAYS, segment)
                h = headline_mod.run(self.store, ms)
                t = timing.result() if timing is not None else timing_mod.run(self.store, ms, segment)
        finally:
            if cursor is not None:
                cursor.close()
        # Targets are measured over everyone: a median by segment does not add up to one overall.
        overall = t
        if segment is not None and any(name.startswith("median_time_to_") for name in self.definitions.targets):
            overall = timing_mod.run(self.store, ms, None)
        used = signups_mod.used(self.store, ms) if level == "user" else None
        if h.users == 0 or any(m.reached == 0 for g in overall.groups for m in g.milestones):
            from aha.analyses.absent_events import note_absent_events  # a 0 may be a misspelt name

            note_absent_events(self.store, self.definitions)
        return ReportResult(overview_mod.run(self.store, ms, a, overall), f, t, a, h, level, used)

    @_settled
    def signups(self, as_of: str | date | datetime | None = None, signups_from: Day = None,
                signups_to: Day = None) -> signups_mod.SignupsUsed:
        """The signup range counted: `--from`/`--to` as given, the users in it, their first and last signup."""
        return signups_mod.used(self.store, self._state_for(as_of, None, (signups_from, signups_to)))

    def close(self) -> None:
        self.store.close()


__all__ = ["Project", "ReportResult", "parse_as_of"]
