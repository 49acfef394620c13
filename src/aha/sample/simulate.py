"""What does each user do? One chunk's events, drawn with numpy, with the effects of docs/sample.md planted in order.

Milestone events come first; the effects on conversion and retention are then drawn from the reach times those events
actually produce (truth.reach), and activity is drawn last around them. The Day-30 bracket is enforced exactly: a
retained user gets an active event in [t0 + 30d, t0 + 31d), a churned user has every active event there removed.
A user who has left does nothing more after their life ends, except the events the planted effects were drawn from.
"""

from __future__ import annotations

import numpy as np

from aha.sample import catalog as c
from aha.sample.population import Population
from aha.sample.truth import DAY, HOUR, MINUTE, NEVER, EventArrays, reach

ANON = -1


class _Log:
    """Collects event arrays; concatenated once per chunk."""

    def __init__(self) -> None:
        self.user: list[np.ndarray] = []
        self.anon: list[np.ndarray] = []
        self.code: list[np.ndarray] = []
        self.ts: list[np.ndarray] = []
        self.prop: list[np.ndarray] = []
        self.stays: list[np.ndarray] = []

    def add(
        self,
        user: np.ndarray,
        ts: np.ndarray,
        event: str,
        prop: np.ndarray | int,
        anon: np.ndarray | None = None,
        stays: np.ndarray | bool = False,
    ) -> None:
        """`stays`: kept even after the user's life ends (noise, or an event a planted effect was drawn from)."""
        k = len(ts)
        self.stays.append(np.broadcast_to(np.asarray(stays, dtype=bool), (k,)))
        self.user.append(np.asarray(user, dtype=np.int64))
        self.anon.append(np.full(k, ANON, dtype=np.int64) if anon is None else np.asarray(anon, dtype=np.int64))
        self.code.append(np.full(k, c.CODE[event], dtype=np.int16))
        self.ts.append(np.asarray(ts, dtype=np.int64))
        self.prop.append(np.broadcast_to(np.asarray(prop, dtype=np.int32), (k,)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(p) for p in (self.user, self.anon, self.code, self.ts, self.prop, self.stays))

    def events(self) -> EventArrays:
        user, _, code, ts, prop, _ = self.arrays()
        return EventArrays(user=user, code=code, ts=ts, prop=prop)


def _pick(rng: np.random.Generator, event: str, k: int, p: np.ndarray | None = None) -> np.ndarray:
    """Property indices for `event`'s single property, values drawn with probabilities p (uniform by default)."""
    values = c.SIMPLE_VALUES[event][1]
    return c.PROPERTY_OFFSET[event] + rng.choice(len(values), size=k, p=p)


def _spread(
    rng: np.random.Generator, users: np.ndarray, rate: np.ndarray, t_from: np.ndarray, t_to: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A Poisson process per user: `rate` events per day in [t_from, t_to) (absolute seconds)."""
    span = np.maximum(t_to - t_from, 0)
    counts = rng.poisson(rate * span / DAY)
    u = np.repeat(users, counts)
    return u, np.repeat(t_from, counts) + (rng.random(len(u)) * np.repeat(span, counts)).astype(np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def simulate(rng: np.random.Generator, pop: Population, start_s: int, end_s: int) -> tuple[np.ndarray, ...]:
    """Return (user, anon, code, ts, prop, retained) arrays; anon indices >= pop.n are never-signed-up visitors."""
    n, t0, z = pop.n, pop.t0, pop.z
    persona = np.array(c.PERSONAS)[pop.persona]
    source = np.array(c.SOURCES)[pop.source]
    su = np.flatnonzero(~pop.imported)
    log = _Log()

    # Signup, with the anonymous id that the identify call links; a few users sign up twice (t0 is the first).
    signup_prop = c.PROPERTY_OFFSET[c.SIGNED_UP] + (pop.persona * len(c.SOURCES) + pop.source) * len(c.PLANS) + pop.plan
    log.add(su, t0[su], c.SIGNED_UP, signup_prop[su], anon=su, stays=True)
    dup = su[rng.random(len(su)) < 0.005]
    log.add(dup, t0[dup] + rng.integers(DAY, 20 * DAY, len(dup)), c.SIGNED_UP, signup_prop[dup], stays=True)

    # Anonymous page views before signup, and visitors who never sign up.
    u = np.repeat(su, rng.poisson(1.8, len(su)))
    ts = t0[u] - 1 - rng.exponential(1.5 * DAY, len(u)).astype(np.int64)
    log.add(np.full(len(u), ANON), ts, "Page Viewed", _pick(rng, "Page Viewed", len(u)), anon=u)
    visitors = round(c.VISITORS_PER_USER * n)
    v = n + np.repeat(np.arange(visitors), 1 + rng.poisson(1.2, visitors))
    log.add(
        np.full(len(v), ANON),
        rng.integers(start_s, end_s, len(v)),
        "Page Viewed",
        _pick(rng, "Page Viewed", len(v)),
        anon=v,
    )

    # Workspace: owners, mostly within minutes; 1% exactly at the 30m boundary (not reached), 1% at t0 itself (a tie).
    ow = su[pop.is_owner[su] & (rng.random(len(su)) < 0.9)]
    d = rng.lognormal(np.log(6 * MINUTE), 1.0, len(ow)).astype(np.int64)
    r = rng.random(len(ow))
    d[r < 0.01] = 30 * MINUTE
    d[(r >= 0.01) & (r < 0.02)] = 0
    mem = su[~pop.is_owner[su] & (rng.random(len(su)) < 0.05)]
    d = np.concatenate([d, rng.lognormal(np.log(2 * DAY), 1.0, len(mem)).astype(np.int64)])
    ws_users = np.concatenate([ow, mem])
    log.add(ws_users, t0[ws_users] + d, "Workspace Created", _pick(rng, "Workspace Created", len(ws_users)),
            stays=d <= 30 * MINUTE)

    # Integrations: attempts rise with engagement and differ by persona; slack and csv do not qualify.
    lam = np.exp(-0.4 + 0.5 * z + np.vectorize(c.INTEGRATION_PERSONA.get)(persona))
    cnt = rng.poisson(lam[su])
    u = np.repeat(su, cnt)
    rank = np.arange(len(u)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    first_t = rng.lognormal(np.log(3 * HOUR), 1.6, n).astype(np.int64)
    first_t[rng.random(n) < 0.01] = 24 * HOUR  # exactly at the window's end: not reached
    ts = t0[u] + np.where(rank == 0, first_t[u], first_t[u] + rng.exponential(3 * DAY, len(u)).astype(np.int64))
    cum_p = np.cumsum([c.INTEGRATION_TYPE_P[p] for p in c.PERSONAS], axis=1)
    kind = (rng.random(len(u))[:, None] > cum_p[pop.persona[u]]).sum(axis=1)
    log.add(u, ts, "Integration Connected", c.PROPERTY_OFFSET["Integration Connected"] + kind, stays=ts - t0[u] <= DAY)

    # Core workflow: a project then an output; propensity from engagement, persona and source.
    logit = (
        c.CORE_BASE_LOGIT
        + c.CORE_Z * z
        + np.vectorize(c.CORE_PERSONA.get)(persona)
        + np.vectorize(c.CORE_SOURCE.get)(source)
    )
    intend = ~pop.imported & (rng.random(n) < _sigmoid(logit))
    cu = np.flatnonzero(intend)
    tp = rng.lognormal(np.log(90 * MINUTE), 1.3, len(cu)).astype(np.int64)
    # Users who connect something start their project after it, as the product's onboarding suggests.
    connects = np.bincount(np.repeat(su, cnt), minlength=n)[cu] > 0
    tp[connects] = first_t[cu[connects]] + rng.lognormal(np.log(40 * MINUTE), 1.0, int(connects.sum())).astype(np.int64)
    to = tp + rng.lognormal(np.log(45 * MINUTE), 1.3, len(cu)).astype(np.int64)
    r = rng.random(len(cu))
    to[r < 0.03] = tp[r < 0.03]  # project and output at the same second
    to[(r >= 0.03) & (r < 0.035)] = 3 * DAY  # output exactly at the window's end: not reached
    log.add(cu, t0[cu] + tp, "Project Created", _pick(rng, "Project Created", len(cu)), stays=tp <= 3 * DAY)
    log.add(cu, t0[cu] + to, "Output Generated", _pick(rng, "Output Generated", len(cu)), stays=to <= 3 * DAY)
    rest = np.flatnonzero(~intend & ~pop.imported)
    pu = rest[rng.random(len(rest)) < 0.35]
    log.add(
        pu,
        t0[pu] + rng.lognormal(np.log(DAY), 1.5, len(pu)).astype(np.int64),
        "Project Created",
        _pick(rng, "Project Created", len(pu)),
    )
    ou = rest[rng.random(len(rest)) < 0.15]
    log.add(
        ou,
        t0[ou] + 3 * DAY + rng.exponential(4 * DAY, len(ou)).astype(np.int64),
        "Output Generated",
        _pick(rng, "Output Generated", len(ou)),
    )

    # Collaboration: each invited member's signup is an Invite Accepted on the owner (same second: a tie).
    m = su[~pop.is_owner[su]]
    o = pop.owner[m]
    early = t0[m] - t0[o] <= 7 * DAY
    log.add(o, t0[m], "Invite Accepted", _pick(rng, "Invite Accepted", len(m), p=np.array([0.9, 0.1])), stays=early)
    sent = np.maximum(t0[o], t0[m] - rng.exponential(DAY, len(m)).astype(np.int64))
    log.add(o, sent, "Invite Sent", _pick(rng, "Invite Sent", len(m), p=np.array([0.9, 0.1])), stays=early)

    # Report Shared in the first 14 days: nearly independent of engagement, so the step at 3 is the effect itself.
    k14 = rng.choice(len(c.REPORT_SHARED_14D_P), size=n, p=c.REPORT_SHARED_14D_P)
    k14[pop.imported] = 0
    shared_by = np.repeat(np.arange(n), k14)
    shared_at = rng.random(len(shared_by))  # placed inside the user's life once it is drawn (below)

    # Planted outcomes, from the reach times the events above produce.
    got = reach(log.events(), n)
    core = got.core_workflow != NEVER
    data = got.data_connected != NEVER
    collab = got.collaboration != NEVER
    p_ret = np.clip(
        c.RETENTION_BASE
        + c.RETENTION_Z * z
        + c.RETENTION_CORE * core
        + c.RETENTION_DATA * data
        + c.RETENTION_COLLAB * collab
        + c.RETENTION_REPORT_STEP * (k14 >= c.REPORT_STEP_AT),
        0.02,
        0.95,
    )
    p_ret[pop.imported] = 0.4
    retained = rng.random(n) < p_ret
    life = np.where(retained, 31 * DAY + rng.exponential(45 * DAY, n), 0.2 * DAY + rng.exponential(6 * DAY, n))
    returners = ~retained & (rng.random(n) < 0.1)  # churned users who come back later (never on day 30)
    life[returners] = 35 * DAY + rng.exponential(20 * DAY, int(returners.sum()))

    base = np.array([c.CONVERSION_BASE[p] for p in c.PLANS])[pop.plan]
    p_conv = base * np.where(core, c.CONVERSION_CORE_X, 1) * np.where(data, c.CONVERSION_DATA_X, 1)
    p_conv = np.clip(p_conv * np.exp(c.CONVERSION_Z * z), 0, 0.95)
    conv = ~pop.imported & (rng.random(n) < p_conv)
    reached_by = np.maximum(np.where(core, got.core_workflow - t0, HOUR), np.where(data, got.data_connected - t0, HOUR))
    tc = t0 + reached_by + (rng.random(n) * (30 * DAY - 1 - reached_by)).astype(np.int64)
    late = retained & ~conv & ~pop.imported & (rng.random(n) < 0.03)
    tc[late] = t0[late] + 31 * DAY + rng.integers(0, 29 * DAY, int(late.sum()))
    payers = np.flatnonzero(conv | late)
    log.add(payers, tc[payers], c.PAID, _pick(rng, c.PAID, len(payers), p=np.array([0.8, 0.2])), stays=True)
    log.add(
        payers, np.maximum(t0[payers], tc[payers] - 300), "Pricing Viewed", _pick(rng, "Pricing Viewed", len(payers))
    )
    life = np.maximum(life, np.where(conv | late, tc - t0 + HOUR, 0))
    # The drawn number of shares (the planted step) is kept exactly; a user who leaves early shares sooner.
    last = np.minimum(14 * DAY, life.astype(np.int64))[shared_by]
    u = shared_by
    ts = t0[u] + 30 * MINUTE + (shared_at * (last - 30 * MINUTE)).astype(np.int64)
    log.add(u, ts, "Report Shared", _pick(rng, "Report Shared", len(u)), stays=True)

    # Activity over each user's life [t0, t0 + life).
    everyone = np.arange(n)
    t_end = t0 + life.astype(np.int64)
    eng = np.exp(0.5 * z)
    for event, rate, t_from in (
        ("Page Viewed", 0.5 * eng, t0),  # rises with engagement only: no effect of its own
        ("Message Sent", 0.36 * eng * pop.acc_chat[pop.account], t0),
        ("Output Generated", 0.2 * eng, t0 + 3 * DAY),  # after the core window, so it never changes its truth
        ("Project Created", 0.03 * eng, t0 + 3 * DAY),
        ("Report Shared", 0.05 * eng, t0 + 14 * DAY),
        ("Help Article Viewed", np.full(n, 0.06), t0),
        ("Settings Changed", np.full(n, 0.04), t0),
    ):
        u, ts = _spread(rng, everyone, rate, t_from, t_end)
        log.add(u, ts, event, _pick(rng, event, len(u)))

    # Imports in the first week; 2% import exactly 50 rows once (the sum threshold's boundary).
    cnt = rng.poisson(0.9 * np.exp(0.3 * z[su]))
    u = np.repeat(su, cnt)
    rows = np.clip(rng.lognormal(np.log(20), 1.2, len(u)), 1, c.MAX_ROWS).astype(np.int64)
    exact = su[rng.random(len(su)) < 0.02]
    u = np.concatenate([u, exact])
    rows = np.concatenate([rows, np.full(len(exact), 50)])
    log.add(
        u,
        t0[u] + rng.lognormal(np.log(DAY), 1.2, len(u)).astype(np.int64),
        "Data Imported",
        c.PROPERTY_OFFSET["Data Imported"] + rows,
    )

    # Upgrade intent: trials look at pricing more.
    plan_x = np.where(pop.plan == c.PLANS.index("trial"), 2.0, 1.0)[su] * np.exp(0.3 * z[su])
    for event, rate in (("Pricing Viewed", 0.5), ("Upgrade Clicked", 0.15)):
        u = np.repeat(su, rng.poisson(rate * plan_x))
        log.add(u, t0[u] + rng.integers(0, 10 * DAY, len(u)), event, _pick(rng, event, len(u)))

    # SSO: admins only.
    admins = su[(pop.persona[su] == c.PERSONAS.index("admin")) & (rng.random(len(su)) < 0.5 * _sigmoid(z[su]))]
    log.add(
        admins,
        t0[admins] + rng.integers(HOUR, 20 * DAY, len(admins)),
        "SSO Configured",
        _pick(rng, "SSO Configured", len(admins)),
    )

    # Email Opened: pure noise, until the end of the period whatever the user does.
    u, ts = _spread(rng, everyone, np.full(n, 0.05), t0, np.full(n, end_s))
    log.add(u, ts, "Email Opened", _pick(rng, "Email Opened", len(u)), stays=True)

    # Day-30 bracket: a retained user is active in it, a churned one is not.
    kept = su[retained[su]]
    log.add(
        kept, t0[kept] + 30 * DAY + rng.integers(0, DAY, len(kept)), "Page Viewed", _pick(rng, "Page Viewed", len(kept))
    )

    user, anon, code, ts, prop, stays = log.arrays()
    who = np.maximum(user, 0)
    rel = ts - t0[who]
    in_bracket = (user >= 0) & (rel >= 30 * DAY) & (rel < 31 * DAY) & c.ACTIVE[code]
    churned = ~retained & ~pop.imported
    # A user who has left does nothing more: events drawn apart from the user's life (imports, pricing, SSO, late
    # projects) end with it, so that activity after a window means the user was still there.
    gone = (user >= 0) & ~stays & ~pop.imported[who] & (rel >= life.astype(np.int64)[who])
    keep = (ts < end_s) & ~(in_bracket & churned[who]) & ~gone
    return user[keep], anon[keep], code[keep], ts[keep], prop[keep], retained
