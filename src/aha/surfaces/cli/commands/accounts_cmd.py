"""`aha accounts [ACCOUNT_ID]`: accounts by highest signal and PQL score with a usage summary, or one account's
members and signal timeline (docs/semantics.md, "Accounts")."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aha.surfaces.cli import options, output

if TYPE_CHECKING:
    from rich.table import Table

    from aha.analyses.accounts import AccountDetailResult, AccountsResult
    from aha.analyses.signals_eval import SignalsResult


def register(app: typer.Typer) -> None:
    app.command("accounts")(accounts)


def accounts(
    account_id: str | None = typer.Argument(None, metavar="[ACCOUNT_ID]", help="Show this account in detail."),
    signal: str | None = typer.Option(None, "--signal", help="Only accounts holding this signal (an id in signals:)."),
    top: int = typer.Option(50, "--top", help="How many accounts to list."),
    db: Path = options.DB,
    config: Path = options.CONFIG,
    as_json: bool = options.JSON,
    as_csv: bool = options.CSV,
    as_of: str | None = options.AS_OF,
) -> None:
    """Accounts by highest signal and PQL score: members, active members (7/30 days), milestones reached."""
    from aha.analyses.accounts import AccountDetailResult, AccountsResult
    from aha.surfaces.cli import remote

    if account_id is not None:
        detail = remote.analysis(AccountDetailResult, db, config, "account", account_id=account_id, as_of=as_of)
        if not output.machine(detail, "account", as_json, as_csv):
            for table in render_detail(detail):
                output.console().print(table)
        return
    listing = remote.analysis(AccountsResult, db, config, "accounts", signal=signal, top=top, as_of=as_of)
    if not output.machine(listing, "accounts", as_json, as_csv):
        output.console().print(render_list(listing))


def render_list(r: AccountsResult) -> Table:
    from rich.table import Table

    shown = f"top {len(r.accounts):,} of {r.total:,}" if r.total > len(r.accounts) else f"{r.total:,}"
    which = f" holding {r.signal_filter}" if r.signal_filter else ""
    t = Table(title=f"Accounts{which} ({shown}), as of {r.as_of:%Y-%m-%d %H:%M} UTC", title_justify="left")
    for name in ("account", "highest signal", "since", "score", "members", "active 7d", "active 30d",
                 "events 30d", "milestones"):
        t.add_column(name, justify="left" if name in ("account", "highest signal") else "right")
    for a in r.accounts:
        since = next((s.entered_at for s in a.signals if s.id == a.highest_signal), None)
        t.add_row(a.account_id, a.highest_signal or "—", f"{since:%Y-%m-%d}" if since else "—",
                  f"{a.score:.1f}", f"{a.members:,}", f"{a.active_members_7d:,}", f"{a.active_members_30d:,}",
                  f"{a.events_30d:,}", f"{a.milestones_reached} of {a.milestones}")
    t.caption = ("score (0–100) = 50 × highest signal's rank ÷ signals + 30 × account milestones reached ÷ account "
                 "milestones + 20 × members active in 30 days ÷ members (docs/semantics.md)")
    return t


def render_detail(r: AccountDetailResult) -> list[str | Table]:
    from rich.table import Table

    a = r.summary
    heading = (f"Account {a.account_id}: signed up {a.signed_up_at:%Y-%m-%d %H:%M} UTC, score {a.score:.1f}, "
               f"{a.members:,} members ({a.active_members_7d:,} active in 7 days, {a.active_members_30d:,} in 30), "
               f"{a.milestones_reached} of {a.milestones} account milestones reached")
    timeline = Table(title="Signal timeline", title_justify="left")
    timeline.add_column("signal")
    timeline.add_column("entered", justify="right")
    for s in a.signals:
        timeline.add_row(s.name, f"{s.entered_at:%Y-%m-%d %H:%M}")
    if not a.signals:
        timeline.caption = "no signal holds yet"
    people = Table(title="Members", title_justify="left")
    for name in ("user", "signed up", "email domain", "milestones reached"):
        people.add_column(name)
    for m in r.members:
        people.add_row(m.user_id, f"{m.signed_up_at:%Y-%m-%d %H:%M}", m.email_domain or "—",
                       ", ".join(m.milestones_reached) or "—")
    return [heading, timeline, people]


def render_signals(r: SignalsResult) -> Table:
    from rich.table import Table

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:.1f}%"

    t = Table(title=f"Signals vs account conversion: {r.conversion}", title_justify="left")
    for name in ("signal", "accounts", "a / b / c / d", "with", "without", "lift (95% CI)", "p", "median to paid",
                 "paid first"):
        t.add_column(name, justify="left" if name == "signal" else "right")
    for s in r.signals:
        cmp = s.comparison
        lift = ("—" if cmp.lift is None or cmp.lift_low is None or cmp.lift_high is None
                else f"{cmp.lift:.2f} ({cmp.lift_low:.2f}–{cmp.lift_high:.2f})")
        median = "—" if s.median_seconds_to_paid is None else f"{s.median_seconds_to_paid / 86400:.1f}d"
        t.add_row(s.name, f"{s.population:,}", f"{s.a} / {s.b} / {s.c} / {s.d}", pct(cmp.rate_reached),
                  pct(cmp.rate_not_reached), lift, "—" if cmp.p_value is None else f"{cmp.p_value:.2g}", median,
                  f"{s.paid_before_signal:,}")
    t.caption = ("accounts whose conversion horizon has closed; with = entered the signal inside the horizon; "
                 "a/b/c/d = with∧paid, with∧¬paid, without∧paid, without∧¬paid; paid first = converters who paid "
                 "before entering it")
    return t
