"""Compile a validated :class:`~simcore.scenario.Scenario` into the kernel's :class:`Plan`.

Everything the kernel needs is decided here, once, before any path is simulated. The mapping
from scenario keys to plan arrays (SPEC 2-5 and 9):

Time and money
    ``n_days = horizon_days``, ``spd = steps_per_day``, ``dt = 1 / (252 * spd)`` years,
    ``capital`` as given.

Markets (index m, in the order the file lists them under ``markets``)
    ``logp0 = log(price)``, ``mu = drift``, ``sigma = vol``. Markets that no tier trades are
    still simulated (they are part of the correlation structure) but never trade.

Correlation, regimes, tails, gaps (SPEC 3, 6)
    R from the pairs (unlisted pairs 0) or the full matrix (reordered to market order).
    Without ``regimes:`` there is one regime: ``chol[h, 0] = cholesky(R)`` (lower; for a
    semi-definite R, e.g. two markets correlated +1, the Cholesky with zero pivots) for both
    halves h of the stress axis, ``volmult = 1``, ``trans_cum = [[1]]``, ``regime0 = 0``.
    With ``regimes:``, regime g (file order of ``regimes.states``) has its own correlation
    (default: the top-level one) and ``vol_mult``; ``trans_cum`` is the cumulative daily
    transition matrix (``transitions``, or from ``expected_days``: stay with probability
    1 - 1/expected_days, leave to each other state equally); ``regime0`` is ``start``
    (default the first state). The stress window is empty (``win_lo = 1 > win_hi = 0``):
    stress rows set it (:mod:`simcore.stress`). ``student_nu = tails.student_t`` (0 =
    normal). ``gaps``: per market probability / mean / sd of a log jump at each day
    boundary, or ``common`` (one event for all markets: ``gap_common = 1``).

Strategies
    ``dir_mode``: long -> LONG (1), short -> SHORT (-1), both -> BOTH (0).
    Stop: ``{atr: k}`` -> (STOP_ATR, k); ``{points: x}`` -> (STOP_FIXED, x);
    ``{ticks: n}`` -> (STOP_FIXED, n x tick size of the market's contract in the first tier
    that trades it -- the distance stays fixed in price units when a later tier switches
    to a contract with another tick); ``none`` -> (STOP_NONE, 0).
    Target: ``{r: m}`` -> (TARGET_R, m); ``{points: x}`` -> (TARGET_FIXED, x);
    ``none`` -> (TARGET_NONE, 0).
    ``max_hold = max_hold_days x spd`` steps (0 = no time stop);
    ``cooldown = cooldown_days x spd`` steps.
    Untraded markets: LONG, no stop, no target, alpha 0, no time stop, no cooldown.

Edge (alpha, annual log drift while a trade is open)
    ``alpha: a`` -> a. ``win_rate: p`` -> :func:`simcore.edge.solve_alpha` with the start
    price, drift, vol and the start distances: ATR stop ``k * sqrt(8/pi) * price * vol /
    sqrt(252)``, ticks/points as above; ``r`` target ``m x stop distance``. Neither -> 0.

Contracts (index c)
    Every contract named in any tier, in order of first appearance; ``pv, tick, im, mm,
    comm`` from the resolved table (catalog + the scenario's ``contracts:``).

Tiers (index k, ascending)
    ``tier_thr[0] = -inf`` (the first tier applies below every threshold; its ``at`` is only a
    label), ``tier_thr[k] = at_k``; ``tier_buf[k] = demote_buffer`` (default 0);
    ``tier_reach[k] = at_k`` (``-inf`` -- reached at day 0 -- for a first tier without
    ``at``); ``tier_contract[k, m]`` = contract index or -1 (market not traded in tier k);
    ``tier_max[k, m]`` = the count (0 where not traded).

Rules
    ``risk_per_trade`` as given; ``margin_cap`` as given, ``inf`` for none;
    ``slip_ticks = slippage_ticks``; ``ruin_level = max(below, below_fraction x capital)`` over
    the ones given (``-inf`` if neither); ``ruin_dd = max_drawdown`` (``inf`` if not given).
    ``correlation_review`` (SPEC 12): absent -> ``corr_action = CORR_OFF`` (no review; the
    kernel runs exactly as without the rule); else ``corr_every = every_days``,
    ``corr_window = window_days``, ``corr_limit = limit`` and ``scale_risk: f`` ->
    (``CORR_SCALE``, ``corr_scale = f``) or ``one_per_pair`` -> ``CORR_ONE_PER_PAIR``.

History (SPEC 11): with ``history:``, ``hist_mode`` (replay / bootstrap), the pool's arrays
``hist_lrel, hist_tr, hist_atr, hist_pvar, hist_lc0`` (:mod:`simcore.history`),
``hist_block = block_days``, ``hist_scale`` (plan 0 / actual 1), ``hist_order`` (bridge 0 /
stop_first 1); ``hist_first = 0`` (the runner sets each replay block's first path). The GBM
figures (``mu``, ``sigma``, correlation) stay in the plan but the kernel does not read them.

Reporting extras: ``tier_labels`` (each tier's ``at``, None where omitted), ``alpha_source``
("alpha", "win_rate" or "none" per market), ``target_win_rate`` (the stated win rate or None),
and ``extras`` = {name, source, asset_class, stop_dist0, target_dist0, margins_as_of,
warnings}. ``warnings`` are one-line plausibility notes the CLI prints on stderr: a contract
that cannot be entered where its tier starts (risk budget, margin cap or funds, with the
equity one contract needs). (No warning about the time grid: exits follow the exact corridor
law of the step's Brownian bridge, right at any ``steps_per_day``.)
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from ._plan import (BOTH, CORR_OFF, CORR_ONE_PER_PAIR, CORR_SCALE, LONG, SHORT, STOP_ATR, STOP_FIXED, STOP_NONE, TARGET_FIXED,
                    TARGET_NONE, TARGET_R, Plan)
from .catalog import MARGINS_AS_OF
from ._linalg import psd_cholesky
from .errors import ScenarioError
from .limits import check_edges, check_envelope, check_inputs
from .scenario import TRADING_DAYS, Scenario
from .text import money_cents

__all__ = ["build_plan", "trading_floor"]

_DIR = {"long": LONG, "short": SHORT, "both": BOTH}


def _f8(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64)


def _i4(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int32)


def _solve_alpha(scn: Scenario, m: str) -> float:
    """Alpha for a stated win rate (SPEC 4), via simcore.edge (imported lazily)."""
    from .edge import solve_alpha

    st, mk = scn.strategies[m], scn.markets[m]
    try:
        return float(solve_alpha(_DIR[st.direction], mk.price, mk.drift, mk.vol,
                                 scn.stop_distance0(m), scn.target_distance0(m), st.win_rate))
    except ScenarioError:
        raise
    except (ValueError, ArithmeticError) as e:
        raise ScenarioError(f"strategies.{m}.win_rate", str(e).splitlines()[0]) from None


def _warnings(scn: Scenario) -> list[str]:
    """Plausibility warnings (not errors): entries that cannot happen where a tier starts, and
    runs with very many steps per path. Printed by the CLI on stderr."""
    usd = partial(money_cents, trim_whole=False)      # $560, $12.50, $50.00
    out: list[str] = []
    rules, table = scn.rules, scn.contract_table
    seen: set = set()
    for k, tier in enumerate(scn.tiers):
        E = scn.capital if k == 0 else tier.at
        where = "at the start" if k == 0 else f"at tiers[{k}]'s threshold ({usd(E)})"
        for c in tier.contracts:
            if c in seen:                   # one note per contract: the first tier it fails
                continue
            spec = table[c]
            m = spec.market
            needs = []
            stop = scn.stop_distance0(m)
            if stop is not None:
                risk = (stop + rules.slippage_ticks * spec.tick_size) * spec.point_value \
                    + 2.0 * spec.commission
                if rules.risk_per_trade * E < risk:
                    needs.append((risk / rules.risk_per_trade,
                                  f"one {c} risks {usd(risk)} against a risk budget of "
                                  f"{usd(rules.risk_per_trade * E)}"))
            if rules.margin_cap is not None and rules.margin_cap * E < spec.initial_margin:
                needs.append((spec.initial_margin / rules.margin_cap,
                              f"{c}'s initial margin {usd(spec.initial_margin)} is above "
                              f"the margin cap of {usd(rules.margin_cap * E)}"))
            if spec.initial_margin > E:
                needs.append((spec.initial_margin,
                              f"{c}'s initial margin {usd(spec.initial_margin)} is above "
                              f"the equity"))
            if needs:
                seen.add(c)
                at = max(x for x, _ in needs)
                out.append(f"{m}: no entry {where}: " + "; ".join(t for _, t in needs)
                           + f" (one {c} needs {usd(at)} of equity)")
    pool = getattr(scn, "_history", None)
    if pool is not None:        # rows the history reader dropped (calibrate prints the same)
        out += [f"history: {text}" for text in (getattr(pool, "notes", None) or ())]
    return out


def trading_floor(scn: Scenario):
    """The least starting equity at which the plan can open at least one contract at the
    start (risk rule at the starting stop distance, margin cap, funds), in the tier that is
    current at that equity; None if no tier can trade at any equity up to 1e9."""
    rules, table = scn.rules, scn.contract_table
    slip = rules.slippage_ticks
    thresholds = [0.0] + [t.at for t in scn.tiers[1:]] + [math.inf]
    best = None
    for k, tier in enumerate(scn.tiers):
        need_k = math.inf
        for cname in tier.contracts:
            spec = table[cname]
            m = spec.market
            need = spec.initial_margin                                   # funds
            if rules.margin_cap is not None:
                need = max(need, spec.initial_margin / rules.margin_cap)
            d0 = scn.stop_distance0(m)
            if d0 is not None:
                per_contract = (d0 + slip * spec.tick_size) * spec.point_value \
                    + 2.0 * spec.commission
                need = max(need, per_contract / rules.risk_per_trade)
            need_k = min(need_k, need)
        e = max(thresholds[k], need_k)
        if e < thresholds[k + 1] and e <= 1e9:
            best = e if best is None else min(best, e)
    return best


def _correlation_arrays(scn: Scenario) -> dict:
    """Regimes, fat tails and gaps (SPEC 6). No stress window: stress rows add one later
    (:func:`simcore.stress.apply_stress`), so both halves of the stress axis are equal."""
    M = len(scn.markets)
    names = scn.regime_names
    G = len(names)
    chol = np.empty((2, G, M, M))
    volmult = np.ones((2, G))
    for g, R in enumerate(scn.regime_correlations):
        try:
            chol[:, g] = np.linalg.cholesky(R)
        except np.linalg.LinAlgError:       # semi-definite: a correlation of +-1 (SPEC 3)
            chol[:, g] = psd_cholesky(R)
    if scn.regimes is not None:
        for g, st in enumerate(scn.regimes.states.values()):
            volmult[:, g] = st.vol_mult
    trans_cum = np.cumsum(scn.regime_transitions, axis=1)
    trans_cum[:, -1] = 1.0                     # exact row ends despite rounding
    regime0 = names.index(scn.regimes.start) if scn.regimes and scn.regimes.start else 0
    gap_p, gap_mu, gap_sd = np.zeros(M), np.zeros(M), np.zeros(M)
    gap_common = 0
    if scn.gaps:
        if "common" in scn.gaps:
            g = scn.gaps["common"]
            gap_common = 1
            gap_p[:], gap_mu[:], gap_sd[:] = g.probability, g.mean, g.sd
        else:
            for i, m in enumerate(scn.market_names):
                if m in scn.gaps:
                    g = scn.gaps[m]
                    gap_p[i], gap_mu[i], gap_sd[i] = g.probability, g.mean, g.sd
    return dict(
        chol=np.ascontiguousarray(chol), volmult=volmult,
        trans_cum=np.ascontiguousarray(trans_cum), regime0=int(regime0),
        win_lo=1, win_hi=0, student_nu=float(scn.tails.student_t) if scn.tails else 0.0,
        gap_p=gap_p, gap_mu=gap_mu, gap_sd=gap_sd, gap_common=gap_common,
    )


def review_fields(review) -> dict:
    """The plan's ``corr_*`` fields for a ``rules.correlation_review`` (None: the rule off)."""
    if review is None:
        return {"corr_action": CORR_OFF, "corr_every": 0, "corr_window": 0,
                "corr_limit": 0.8, "corr_scale": 1.0}
    if review.action == "one_per_pair":
        action, scale = CORR_ONE_PER_PAIR, 1.0
    else:
        action, scale = CORR_SCALE, float(review.action.scale_risk)
    return {"corr_action": action, "corr_every": int(review.every_days),
            "corr_window": int(review.window_days), "corr_limit": float(review.limit),
            "corr_scale": scale}


def _history_fields(scn: Scenario) -> dict:
    """The plan's ``hist_*`` fields (SPEC 11; :mod:`simcore.history`): none without
    ``history:`` (the kernel's GBM loop, exactly as before)."""
    if scn.history is None:
        return {}
    from .history import history_fields
    return history_fields(scn.history, scn._history)


def _history_extras(scn: Scenario):
    """What a report says about the history: None without one."""
    if scn.history is None:
        return None
    h, pool = scn.history, scn._history
    return {"mode": h.mode, "block_days": float(h.block_days), "scale": h.scale,
            "intraday_order": h.intraday_order, "dates": pool.n,
            "first": str(pool.dates[0].date()), "last": str(pool.dates[-1].date()),
            "files": {m: str(f) for m, f in h.files.items()},
            "independent_horizons": int(pool.n // scn.horizon_days)}


def build_plan(scenario: Scenario) -> Plan:
    """Compile ``scenario`` (from :func:`simcore.scenario.load_scenario`) into a Plan.

    See the module docstring for the mapping rules. Raises ScenarioError, naming the field,
    for a plan the engine cannot run faithfully (:mod:`simcore.limits`: magnitudes, an edge
    that swamps the market, a horizon that leaves the float range) or whose ``win_rate``
    cannot be solved for an alpha. Any arithmetic overflow left is a ScenarioError too (the
    limits are meant to make it impossible).
    """
    try:
        with np.errstate(over="raise", invalid="raise"):
            return _build_plan(scenario)
    except (OverflowError, FloatingPointError) as e:
        raise ScenarioError(scenario.source, f"a figure of the plan overflows ({e}): look for "
                                             "an extreme price, stop, alpha or amount") from None


def _build_plan(scenario: Scenario) -> Plan:
    scn = scenario
    check_inputs(scn)
    spd = scn.steps_per_day
    names = scn.market_names
    M = len(names)
    table = scn.contract_table

    # --- markets -----------------------------------------------------------------------------
    logp0 = _f8([math.log(scn.markets[m].price) for m in names])
    mu = _f8([scn.markets[m].drift for m in names])
    sigma = _f8([scn.markets[m].vol for m in names])

    # --- strategies --------------------------------------------------------------------------
    dir_mode = np.full(M, LONG, np.int32)
    stop_kind = np.full(M, STOP_NONE, np.int32)
    stop_val = np.zeros(M)
    target_kind = np.full(M, TARGET_NONE, np.int32)
    target_val = np.zeros(M)
    alpha = np.zeros(M)
    max_hold = np.zeros(M, np.int32)
    cooldown = np.zeros(M, np.int32)
    alpha_source = ["none"] * M
    target_win_rate: list = [None] * M
    stop0: list = [None] * M
    target0: list = [None] * M
    for i, m in enumerate(names):
        st = scn.strategies.get(m)
        if st is None:
            continue
        dir_mode[i] = _DIR[st.direction]
        if st.stop is not None:
            if st.stop.kind == "atr":
                stop_kind[i], stop_val[i] = STOP_ATR, st.stop.value
            else:                                   # points, or ticks in price units
                stop_kind[i], stop_val[i] = STOP_FIXED, scn.stop_distance0(m)
        if st.target is not None:
            target_kind[i] = TARGET_R if st.target.kind == "r" else TARGET_FIXED
            target_val[i] = st.target.value
        max_hold[i] = st.max_hold_days * spd
        cooldown[i] = st.cooldown_days * spd
        stop0[i], target0[i] = scn.stop_distance0(m), scn.target_distance0(m)
        if st.alpha is not None:
            alpha[i], alpha_source[i] = st.alpha, "alpha"
        elif st.win_rate is not None:
            alpha[i], alpha_source[i] = _solve_alpha(scn, m), "win_rate"
            target_win_rate[i] = st.win_rate

    check_edges(scn, names, alpha, alpha_source)

    # --- contracts ---------------------------------------------------------------------------
    cnames = scn.tier_contract_names
    cidx = {c: j for j, c in enumerate(cnames)}
    specs = [table[c] for c in cnames]
    pv = _f8([s.point_value for s in specs])
    tick = _f8([s.tick_size for s in specs])
    im = _f8([s.initial_margin for s in specs])
    mm = _f8([s.maintenance_margin for s in specs])
    comm = _f8([s.commission for s in specs])

    # --- tiers -------------------------------------------------------------------------------
    K = len(scn.tiers)
    mpos = {m: i for i, m in enumerate(names)}
    tier_thr = np.full(K, -np.inf)
    tier_buf = np.zeros(K)
    tier_reach = np.full(K, -np.inf)
    tier_contract = np.full((K, M), -1, np.int32)
    tier_max = np.zeros((K, M), np.int32)
    for k, tier in enumerate(scn.tiers):
        if k > 0:
            tier_thr[k] = tier.at
        if tier.at is not None:
            tier_reach[k] = tier.at
        tier_buf[k] = tier.demote_buffer
        for c, n in tier.contracts.items():
            i = mpos[table[c].market]
            tier_contract[k, i] = cidx[c]
            tier_max[k, i] = n

    # --- rules -------------------------------------------------------------------------------
    rules, ruin = scn.rules, scn.rules.ruin
    levels = [] if ruin.below is None else [ruin.below]
    if ruin.below_fraction is not None:
        levels.append(ruin.below_fraction * scn.capital)
    ruin_level = max(levels) if levels else -math.inf
    ruin_dd = ruin.max_drawdown if ruin.max_drawdown is not None else math.inf

    corr = _correlation_arrays(scn)
    check_envelope(scn, names, logp0, mu, sigma, alpha, alpha_source, corr["gap_p"],
                   corr["gap_mu"], corr["gap_sd"])

    plan = Plan(
        n_days=int(scn.horizon_days), spd=int(spd), dt=1.0 / (TRADING_DAYS * spd),
        capital=float(scn.capital),
        market_names=tuple(names), logp0=logp0, mu=mu, sigma=sigma,
        **corr,
        dir_mode=_i4(dir_mode), stop_kind=_i4(stop_kind), stop_val=_f8(stop_val),
        target_kind=_i4(target_kind), target_val=_f8(target_val), alpha=_f8(alpha),
        max_hold=_i4(max_hold), cooldown=_i4(cooldown),
        contract_names=tuple(cnames), pv=pv, tick=tick, im=im, mm=mm, comm=comm,
        tier_thr=_f8(tier_thr), tier_buf=_f8(tier_buf), tier_reach=_f8(tier_reach),
        tier_contract=_i4(tier_contract), tier_max=_i4(tier_max),
        risk_per_trade=float(rules.risk_per_trade),
        margin_cap=math.inf if rules.margin_cap is None else float(rules.margin_cap),
        slip_ticks=float(rules.slippage_ticks),
        ruin_level=float(ruin_level), ruin_dd=float(ruin_dd),
        **review_fields(rules.correlation_review),
        **_history_fields(scn),
        tier_labels=tuple(t.at for t in scn.tiers),
        alpha_source=tuple(alpha_source),
        target_win_rate=tuple(target_win_rate),
        extras={
            "name": scn.name, "source": scn.source,
            "asset_class": tuple(scn.asset_classes[m] for m in names),
            "stop_dist0": tuple(stop0), "target_dist0": tuple(target0),
            "margins_as_of": MARGINS_AS_OF,
            "regime_names": scn.regime_names,
            "history": _history_extras(scn),
            "warnings": tuple(_warnings(scn)),
        },
    )
    plan.validate_arrays()
    return plan
