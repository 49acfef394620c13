"""Who signs up, when, and in which workspace? The per-user and per-account draws of one chunk of the sample.

Accounts never straddle chunks, so account-level facts (2,000 messages in a workspace) are exact within a chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aha.sample import catalog as c

DAY = 86_400
HOUR = 3_600
# Signups by weekday (Mon..Sun) and by UTC hour: business hours in Europe and the Americas.
WEEKDAY_W = np.array([1.15, 1.2, 1.15, 1.1, 0.95, 0.55, 0.5])
HOUR_W = np.array([2, 1.5, 1, 1, 1, 1.5, 2.5, 4, 6, 7, 7.5, 7.5, 7, 7.5, 8, 8.5, 8, 7, 6, 5, 4.5, 4, 3, 2.5])


@dataclass(frozen=True, slots=True)
class Population:
    """One chunk's users (index 0..n-1) and accounts (index 0..k-1); times are epoch seconds."""

    t0: np.ndarray  # signup (or import) time per user
    account: np.ndarray  # account index per user
    owner: np.ndarray  # user index of the account's first member, per user
    is_owner: np.ndarray
    imported: np.ndarray  # no Signed Up event: in no cohort
    persona: np.ndarray  # indices into catalog.PERSONAS
    source: np.ndarray  # indices into catalog.SOURCES
    plan: np.ndarray  # indices into catalog.PLANS (shared by the account)
    z: np.ndarray  # latent engagement, N(0, 1)
    acc_size: np.ndarray  # per account
    acc_company_size: np.ndarray  # per account, indices into catalog.COMPANY_SIZES
    acc_employees: np.ndarray
    acc_industry: np.ndarray
    acc_name: np.ndarray  # per account, index into NAME_A x NAME_B
    acc_chat: np.ndarray  # per account: how chatty the workspace is (Message Sent rate factor)

    @property
    def n(self) -> int:
        return len(self.t0)


def signup_times(rng: np.random.Generator, k: int, start_s: int, days: int) -> np.ndarray:
    """Signup instants over `days` days with weekday and hour-of-day seasonality, to the second."""
    weekday0 = (start_s // DAY + 3) % 7  # 1970-01-01 was a Thursday
    day_w = WEEKDAY_W[(weekday0 + np.arange(days)) % 7]
    day = rng.choice(days, size=k, p=day_w / day_w.sum())
    hour = rng.choice(24, size=k, p=HOUR_W / HOUR_W.sum())
    return start_s + day * DAY + hour * HOUR + rng.integers(0, HOUR, size=k)


def draw_population(rng: np.random.Generator, n: int, start_s: int, days: int) -> Population:
    end_s = start_s + days * DAY
    sizes = rng.choice(np.arange(1, 11), size=n, p=c.ACCOUNT_SIZE_P)
    cum = np.cumsum(sizes)
    k = int(np.searchsorted(cum, n)) + 1
    sizes = sizes[:k].copy()
    sizes[-1] -= int(cum[k - 1]) - n
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    account = np.repeat(np.arange(k), sizes)
    owner = first[account]
    is_owner = np.zeros(n, dtype=bool)
    is_owner[first] = True

    company_size = rng.choice(len(c.COMPANY_SIZES), size=k, p=c.COMPANY_SIZE_P)
    lo = np.array([r[0] for r in c.EMPLOYEES_RANGE])[company_size]
    hi = np.array([r[1] for r in c.EMPLOYEES_RANGE])[company_size]
    employees = np.maximum(lo, np.minimum(hi, np.floor(lo * np.exp(rng.random(k) * np.log(hi / lo + 1)))))
    plan = rng.choice(len(c.PLANS), size=k, p=c.PLAN_P)[account]
    # Bigger teams chat more per person; a heavy tail lets a few busy workspaces pass 2,000 messages in 30 days.
    chat = rng.lognormal(-1.1, 1.5, size=k) * (1 + 0.25 * (sizes - 1))
    busy = (sizes >= c.BUSY_MIN_MEMBERS) & (rng.random(k) < c.BUSY_SHARE)
    chat[busy] *= c.BUSY_CHAT_X

    # Engagement: mostly individual, partly shared with the workspace.
    z = 0.85 * rng.standard_normal(n) + np.sqrt(1 - 0.85**2) * rng.standard_normal(k)[account]

    t_owner = signup_times(rng, k, start_s, days)[account]
    # Members join after the owner, faster when the owner is engaged; capped at 28 days, and before the period ends.
    delay = np.minimum(rng.exponential(3 * DAY * np.exp(-0.4 * z[owner])), 28 * DAY).astype(np.int64)
    late = t_owner + delay >= end_s
    delay[late] = (rng.random(int(late.sum())) * (end_s - 1 - t_owner[late])).astype(np.int64)
    t0 = np.where(is_owner, t_owner, t_owner + delay)

    members = ~is_owner
    p_imported = min(0.5, c.IMPORTED_SHARE * n / max(1, int(members.sum())))
    imported = members & (rng.random(n) < p_imported)
    persona = rng.choice(len(c.PERSONAS), size=n, p=c.PERSONA_P)
    source = rng.choice(len(c.SOURCES), size=n, p=c.SOURCE_P)
    return Population(
        t0=t0.astype(np.int64),
        account=account,
        owner=owner,
        is_owner=is_owner,
        imported=imported,
        persona=persona,
        source=source,
        plan=plan,
        z=z,
        acc_size=sizes,
        acc_company_size=company_size,
        acc_employees=employees.astype(np.int64),
        acc_industry=rng.integers(0, len(c.INDUSTRIES), size=k),
        acc_name=rng.integers(0, len(c.NAME_A) * len(c.NAME_B), size=k),
        acc_chat=chat,
    )
