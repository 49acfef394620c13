"""`aha sample`: fill a store with a realistic SaaS event log whose effects are known (docs/sample.md)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path
from time import perf_counter

import typer

from aha.errors import UserError
from aha.surfaces.cli import options


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)


def sample(
    db: Path = options.DB,
    users: int = typer.Option(20_000, "--users", min=1, help="How many users (about 50 events each)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same data."),
    days: int = typer.Option(120, "--days", min=1, help="Signups spread over this many days from --start."),
    start: str = typer.Option("2026-01-01", "--start", help="First signup day (UTC), YYYY-MM-DD."),
    out: Path | None = typer.Option(
        None, "--out", help="Keep the Parquet files here (events-*.parquet can be imported with aha import)."),
    config: Path = options.CONFIG,
    force: bool = typer.Option(False, "--force", help="Delete and recreate the database if it already holds events."),
    nudges: bool = typer.Option(False, "--nudges", help="Also two rules with holdouts and their history, one nudge "
                                "with a planted effect and one without (docs/sample.md): for aha interventions."),
    b2b: bool = typer.Option(False, "--b2b", help="Members' email traits (some free-mail), a team signal and its "
                             "planted effect on account conversion (docs/sample.md, \"Accounts\")."),
) -> None:
    """Generate a sample event log with planted effects and load it into the store."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from aha.sample import generate, load_into
    from aha.store import open_store
    from aha.store.urls import require_file
    from aha.surfaces.cli import remote
    from aha.surfaces.cli.shown_console import Console

    require_file(db, "aha sample")
    remote.refuse_while_serving(db, "aha sample", "choose another --db")

    try:
        first_day = date.fromisoformat(start)
    except ValueError:
        raise UserError(f"--start: {start!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-01.") from None
    recipe = f"users={users} seed={seed} days={days} start={first_day.isoformat()}" + (" nudges" if nudges else "")
    recipe += " b2b" if b2b else ""
    if _refuse_or_clear(db, force, recipe):
        _write_config(config, nudges, b2b)
        typer.echo(f"{db} already holds this sample ({recipe}); nothing to do. Pass --force to regenerate it.")
        return
    began = perf_counter()
    work = Path(tempfile.mkdtemp(prefix="aha-sample-")) if out is None else out
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            gen_task = bar.add_task("generating users", total=users)
            info = generate(
                work,
                users=users,
                seed=seed,
                start=first_day,
                days=days,
                progress=lambda done, total: bar.update(gen_task, completed=done, total=total),
                b2b=b2b,
            )
            load_task = bar.add_task("loading tables", total=1)
            store = open_store(db)
            try:
                events = load_into(
                    store, work, progress=lambda done, total: bar.update(load_task, completed=done, total=total)
                )
                store.raw.execute("INSERT OR REPLACE INTO aha_meta VALUES ('sample', ?)", [recipe])
            finally:
                store.close()
    finally:
        if out is None:
            shutil.rmtree(work, ignore_errors=True)
    wrote_config = _write_config(config, nudges, b2b)
    planted = ""
    if nudges:
        planted = _plant(db, config)
    kept = f", Parquet in {out}" if out is not None else ""
    note = f", wrote {config}" if wrote_config else ""
    typer.echo(
        f"sampled {info.users:,} users and {events:,} events into {db} in {perf_counter() - began:.1f} s{kept}{note}"
        + planted
    )


def _refuse_or_clear(db: Path, force: bool, recipe: str) -> bool:
    """Refuse to mix a sample into a store that already has events; --force starts the file afresh.

    True when the file already holds exactly this sample, so running the quick start twice is harmless.
    """
    if not db.exists():
        return False
    if force:
        db.unlink()
        Path(f"{db}.wal").unlink(missing_ok=True)
        return False
    import duckdb

    from aha.store import one_row

    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise UserError(f"{db}: cannot open it as a DuckDB file ({exc}); pass --force to replace it.") from None
    try:
        held = one_row(con, "SELECT count(*) FROM events")
        same = one_row(con, "SELECT value FROM aha_meta WHERE key = 'sample'")
    except duckdb.CatalogException:
        held, same = (0,), None
    finally:
        con.close()
    if same is not None and same[0] == recipe:
        return True
    if held and held[0]:
        raise UserError(f"{db} already holds {held[0]:,} events; pass --force to replace it, or choose another --db.")
    return False


def _write_config(config: Path, nudges: bool = False, b2b: bool = False) -> bool:
    """Write the sample's definitions (the template with the sample's funnel) unless the file exists; with
    `nudges`, with the sample's rules; with `b2b`, with its team milestone and signal."""
    if config.exists():
        return False
    from aha.sample.definitions import definitions_text

    text = definitions_text()
    if b2b:
        from aha.sample.accounts import DEFINITIONS

        text = text.rstrip("\n") + "\n" + DEFINITIONS
    if nudges:
        from aha.sample.nudges import RULES

        text = text.rstrip("\n") + "\n" + RULES
    config.write_text(text, encoding="utf-8")
    return True


def _plant(db: Path, config: Path) -> str:
    from aha.definitions import load
    from aha.sample.nudges import plant
    from aha.store import open_store

    definitions = load(config)
    if not {"connect_nudge", "invite_prompt"} <= {r.id for r in definitions.rules}:
        raise UserError(f"--nudges: {config} has no rules connect_nudge and invite_prompt; remove it (or pass another "
                        "--config) so that aha sample writes the sample's definitions with them.")
    store = open_store(db)
    try:
        truth = plant(store, definitions)
    finally:
        store.close()
    return (f"; recorded {truth.recorded:,} rule firings, planted +{truth.planted_points:.1f} pts on data_connected "
            f"for connect_nudge ({truth.moved:,} nudged users moved; invite_prompt: no effect)")
