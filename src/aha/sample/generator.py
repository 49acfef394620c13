"""How do I get a realistic event log with known answers? `generate` writes one as Parquet, chunk by chunk.

Users are generated in chunks of `CHUNK_USERS` (whole workspaces per chunk) with a generator seeded by (seed, chunk),
so memory stays bounded at any size and the same seed gives byte-identical files. Strings (ids, JSON properties) are
built with Arrow compute kernels from integer arrays; nothing loops per event in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from time import perf_counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aha.sample import accounts as accounts_mod
from aha.sample import catalog as c
from aha.sample.population import DAY, Population, draw_population
from aha.sample.simulate import simulate
from aha.sample.truth import NEVER, EventArrays, reach

CHUNK_USERS = 25_000
B2B_STREAM = 18  # the random stream of `--b2b`'s draws (issue 18), apart from the chunk's
SOURCE = "sample"
EVENT_FILE = "events-{:05d}.parquet"
# Rows per Parquet row group: DuckDB's own size. DuckDB reads a Parquet file in parallel by row group, and pyarrow's
# default (about a million rows) left a whole events file to one thread of `aha import`.
ROW_GROUP_ROWS = 122_880
TABLE_FILES = ("users.parquet", "identities.parquet", "memberships.parquet", "accounts.parquet", "truth.parquet")
_PROPERTIES = pa.array(c.PROPERTIES, type=pa.string())
_EVENT_NAMES = pa.array(c.EVENTS, type=pa.string())
_TS = pa.timestamp("us")


@dataclass(frozen=True, slots=True)
class SampleInfo:
    """What `generate` wrote: counts, the period (as_of is `end`), files, and how long it took."""

    out_dir: Path
    seed: int
    users: int  # all users, including imported ones without Signed Up
    signed_up: int
    accounts: int
    events: int
    start: datetime  # naive UTC
    end: datetime  # naive UTC, exclusive: every event is before it
    seconds: float
    files: list[Path] = field(default_factory=list)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """values[idx], null where idx < 0."""
    return values.take(pa.array(idx, type=pa.int64(), mask=idx < 0))


def _ts(seconds: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(seconds * 1_000_000, type=_TS, mask=missing)


def _trait_dictionary() -> pa.Array:
    """JSON traits for every persona x source x plan x company_size combination (source includes `import`)."""
    sources = (*c.SOURCES, c.IMPORTED_SOURCE)
    keys = np.array(
        np.meshgrid(
            np.arange(len(c.PERSONAS)),
            np.arange(len(sources)),
            np.arange(len(c.PLANS)),
            np.arange(len(c.COMPANY_SIZES)),
            indexing="ij",
        )
    ).reshape(4, -1)
    quoted = [pa.array([f'"{v}"' for v in values]) for values in (c.PERSONAS, sources, c.PLANS, c.COMPANY_SIZES)]
    parts = [q.take(pa.array(k)) for q, k in zip(quoted, keys, strict=True)]
    return pc.binary_join_element_wise(
        '{"persona": ',
        parts[0],
        ', "source": ',
        parts[1],
        ', "plan": ',
        parts[2],
        ', "company_size": ',
        parts[3],
        "}",
        "",
    )


_TRAITS = _trait_dictionary()


class _Chunk:
    """Arrow tables for one chunk: events (sorted by time, then user) and the per-user and per-account tables."""

    def __init__(
        self, seed: int, chunk: int, pop: Population, arrays: tuple[np.ndarray, ...], rng: np.random.Generator,
        b2b_rng: np.random.Generator | None = None,
    ):
        user, anon, code, ts, prop, _ = arrays
        order = np.lexsort((code, user, ts))
        user, anon, code, ts, prop = user[order], anon[order], code[order], ts[order], prop[order]
        n, k = pop.n, len(pop.acc_size)
        first_user = chunk * CHUNK_USERS
        self.user_ids = _ids("u", first_user + np.arange(n), 8)
        self.account_ids = _ids(f"w{chunk:05d}-", np.arange(k), 6)
        anon_ids = _ids(f"anon-{chunk:05d}-", np.arange(int(anon.max(initial=-1)) + 1), 7)
        account = np.where(user >= 0, pop.account[np.maximum(user, 0)], -1)
        delay_us = rng.integers(50_000, 3_000_000, len(ts))
        self.events = pa.table(
            {
                "message_id": _ids(f"{seed}-{chunk:05d}-", np.arange(len(ts)), 8),
                "event": _EVENT_NAMES.take(pa.array(code.astype(np.int64))),
                "user_id": _take(self.user_ids, user),
                "anonymous_id": _take(anon_ids, anon),
                "account_id": _take(self.account_ids, account),
                "timestamp": _ts(ts),
                "received_at": pa.array(ts * 1_000_000 + delay_us, type=_TS),
                "properties": _PROPERTIES.take(pa.array(prop.astype(np.int64))),
                "source": pa.array(np.full(len(ts), SOURCE)),
            }
        )
        self.arrays = EventArrays(user=user, code=code, ts=ts, prop=prop)
        self.pop = pop
        self.chunk = chunk
        self.b2b_rng = b2b_rng

    def tables(self) -> dict[str, pa.Table]:
        pop, t0 = self.pop, self.pop.t0
        signed = np.flatnonzero(~pop.imported)
        got = reach(self.arrays, pop.n)
        n_sources = len(c.SOURCES) + 1
        src = np.where(pop.imported, len(c.SOURCES), pop.source)
        trait = ((pop.persona * n_sources + src) * len(c.PLANS) + pop.plan) * len(c.COMPANY_SIZES)
        trait = trait + pop.acc_company_size[pop.account]
        first = np.flatnonzero(pop.is_owner)
        name = pc.binary_join_element_wise(
            pa.array(c.NAME_A).take(pa.array(pop.acc_name // len(c.NAME_B))),
            pa.array(c.NAME_B).take(pa.array(pop.acc_name % len(c.NAME_B))),
            " ",
        )
        industry = pa.array(c.INDUSTRIES).take(pa.array(pop.acc_industry))
        employees = pc.cast(pa.array(pop.acc_employees), pa.string())
        acc_traits = pc.binary_join_element_wise(
            '{"name": "', name, '", "industry": "', industry, '", "employees": ', employees, "}", ""
        )
        user_ids = self.user_ids

        def reach_ts(a: np.ndarray) -> pa.Array:
            a = a[signed]
            return _ts(np.where(a == NEVER, 0, a), a == NEVER)

        traits = _TRAITS.take(pa.array(trait))
        if self.b2b_rng is not None:
            traits = accounts_mod.with_emails(self.b2b_rng, pop, traits, user_ids, self.account_ids)
        return {
            "users": pa.table({"user_id": user_ids, "traits": traits, "updated_at": _ts(t0)}),
            "identities": pa.table(
                {
                    "anonymous_id": _ids(f"anon-{self.chunk:05d}-", signed, 7),
                    "user_id": user_ids.take(pa.array(signed)),
                    "timestamp": _ts(t0[signed]),
                    "source": pa.array(np.full(len(signed), SOURCE)),
                }
            ),
            "memberships": pa.table(
                {"user_id": user_ids, "account_id": self.account_ids.take(pa.array(pop.account)), "timestamp": _ts(t0)}
            ),
            "accounts": pa.table({"account_id": self.account_ids, "traits": acc_traits, "updated_at": _ts(t0[first])}),
            "truth": pa.table(
                {
                    "user_id": user_ids.take(pa.array(signed)),
                    "t0": reach_ts(got.t0),
                    "workspace": reach_ts(got.workspace),
                    "data_connected": reach_ts(got.data_connected),
                    "project": reach_ts(got.project),
                    "first_output": reach_ts(got.first_output),
                    "core_workflow": reach_ts(got.core_workflow),
                    "collaboration": reach_ts(got.collaboration),
                    "converted": pa.array(got.converted[signed]),
                    "retained_d30": pa.array(got.retained_d30[signed]),
                    "report_shared_14d": pa.array(got.report_shared_14d[signed]),
                    "persona": pa.array(np.array(c.PERSONAS)[pop.persona[signed]]),
                    "source": pa.array(np.array(c.SOURCES)[pop.source[signed]]),
                    "plan": pa.array(np.array(c.PLANS)[pop.plan[signed]]),
                    "account_id": self.account_ids.take(pa.array(pop.account[signed])),
                    "engagement": pa.array(pop.z[signed]),
                }
            ),
        }


def generate(
    out_dir: Path,
    users: int = 20_000,
    seed: int = 0,
    start: date = date(2026, 1, 1),
    days: int = 120,
    progress: Callable[[int, int], None] | None = None,
    b2b: bool = False,
) -> SampleInfo:
    """Write a sample event log (events-NNNNN.parquet and the per-user tables) into `out_dir`; see docs/sample.md.

    `progress(done, total)` gets the users generated so far. Deterministic: the same arguments, the same files.
    """
    if users < 1:
        raise ValueError("users must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    began = perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("events-*.parquet"):
        old.unlink()
    start_s = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    end_s = start_s + days * DAY
    parts: dict[str, list[pa.Table]] = {
        name: [] for name in ("users", "identities", "memberships", "accounts", "truth")
    }
    files: list[Path] = []
    events = signed_up = accounts = 0
    n_chunks = -(-users // CHUNK_USERS)
    for chunk in range(n_chunks):
        n = min(CHUNK_USERS, users - chunk * CHUNK_USERS)
        rng = np.random.default_rng([seed, chunk])
        pop = draw_population(rng, n, start_s, days)
        arrays = simulate(rng, pop, start_s, end_s)
        b2b_rng = np.random.default_rng([seed, chunk, B2B_STREAM]) if b2b else None  # the other draws stay the same
        if b2b_rng is not None:
            arrays = accounts_mod.plant_account_conversion(b2b_rng, pop, arrays, end_s)
        built = _Chunk(seed, chunk, pop, arrays, rng, b2b_rng)
        path = out_dir / EVENT_FILE.format(chunk)
        pq.write_table(built.events, path, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        files.append(path)
        for name, table in built.tables().items():
            parts[name].append(table)
        events += built.events.num_rows
        signed_up += int((~pop.imported).sum())
        accounts += len(pop.acc_size)
        if progress is not None:
            progress(chunk * CHUNK_USERS + n, users)
    for name, tables in parts.items():
        path = out_dir / f"{name}.parquet"
        pq.write_table(pa.concat_tables(tables), path, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        files.append(path)
    return SampleInfo(
        out_dir=out_dir,
        seed=seed,
        users=users,
        signed_up=signed_up,
        accounts=accounts,
        events=events,
        start=datetime(start.year, start.month, start.day),
        end=datetime.fromtimestamp(end_s, UTC).replace(tzinfo=None),
        seconds=perf_counter() - began,
        files=files,
    )
