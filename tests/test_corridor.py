"""Exits by the corridor law of a Brownian bridge (SPEC 4; design note corridor-exits.md).

Within a step the log price is a Brownian bridge from the step's start x0 to its end x1. The
engine decides an open trade's exit with one uniform u: stop if u < P_stop, target if
u >= 1 - P_target, where P_stop and P_target are the exact probabilities that the bridge leaves
the corridor between stop and target through that barrier first. These tests check:

1. the implementation's probabilities (recovered from its decisions by bisection on u, in the
   twin and in the compiled kernel) against independent computations: the sine (eigenfunction)
   series of the killed bridge for P(no exit), to 1e-9; a fine-grid bridge Monte Carlo for
   P_stop and P_target, within 4 SE plus a stated discretization allowance;
2. that where only one barrier is within reach the decision is the one-barrier rule, bit for bit;
3. through the whole engine: a martingale trade (stop 1 unit, target 2 units; P(target first) =
   1/3 exactly) at 1, 2, 4 and 12 steps a day with units from 0.05 to 1 daily sd, against the
   same trades under the old marginal rule (simulated here with numpy), which is biased;
4. a stated ``win_rate`` realized at one step a day with a stop of a tenth of a daily sd.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from simcore import _kernel, _kernel_python
from simcore._kernel_python import BRIDGE_QMAX, EXIT_STOP, EXIT_TARGET
from simcore._plan import BOTH, LONG, SHORT
from simcore.edge import solve_alpha
from test_statistics import (K_SE, SCALES, binomial_se, check_close, check_target_first,
                             report, run, single_trade_plan, solved_win_rate_expected)

IMPLS = [pytest.param(_kernel_python.exit_decision, id="twin"),
         pytest.param(_kernel.step_exit, id="kernel")]
U_MAX = 1.0 - 2.0 ** -53       # the largest uniform numpy's generator returns


# ---------------------------------------------------------------------------------------------
# the implementation's probabilities, read off its decisions
# ---------------------------------------------------------------------------------------------
def decide(fn, case, u):
    s, x0, x1, lstop, ltarget, v = case
    return fn(s, x0, x1, True, lstop, True, ltarget, v, u)


def implied_probabilities(fn, case, iters=64):
    """(P_stop, P_target) as ``fn`` decides them: the decision is 'stop' for u below P_stop,
    'target' for u at or above 1 - P_target, and monotone in u in between (bisection)."""
    def threshold(pred):            # smallest u in [0, 1) with pred(u), by bisection
        if pred(0.0):
            return 0.0
        if not pred(U_MAX):
            return 1.0
        lo, hi = 0.0, U_MAX
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            if pred(mid):
                hi = mid
            else:
                lo = mid
        return hi
    p_stop = threshold(lambda u: decide(fn, case, u) != EXIT_STOP)
    p_target = 1.0 - threshold(lambda u: decide(fn, case, u) == EXIT_TARGET)
    return p_stop, p_target


def make_case(s, rho, y0f, y1f, v=1e-4, a=math.log(100.0)):
    """A trade in direction s whose corridor is rho step sds wide; the step starts y0f and ends
    y1f corridor widths above the lower barrier (y1f < 0 or > 1: beyond a barrier)."""
    w = rho * math.sqrt(v)
    lo, hi = a, a + w
    x0, x1 = lo + y0f * w, lo + y1f * w
    lstop, ltarget = (lo, hi) if s > 0 else (hi, lo)
    return (s, x0, x1, lstop, ltarget, v)


def sine_series_no_exit(y0, y1, w, v):
    """P(the bridge from y0 to y1, variance v, stays inside (0, w)), by the eigenfunction
    expansion of Brownian motion killed at 0 and w -- an expansion independent of the images."""
    n = np.arange(1, 20001)
    dens = (2.0 / w) * np.sum(np.sin(n * np.pi * y0 / w) * np.sin(n * np.pi * y1 / w)
                              * np.exp(-(n * np.pi) ** 2 * v / (2.0 * w * w)))
    free = math.exp(-(y1 - y0) ** 2 / (2.0 * v)) / math.sqrt(2.0 * math.pi * v)
    return dens / free


# ---------------------------------------------------------------------------------------------
# 1a. P(no exit) against the sine series
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", IMPLS)
@pytest.mark.parametrize("rho", [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0])
def test_no_exit_probability_matches_sine_series(fn, rho):
    """For end points inside the corridor, 1 - P_stop - P_target is the probability that the
    bridge never left it: the sine series gives it independently. Agreement to 1e-9 (the
    series is truncated where a term is below 2**-53; the bisection resolves u to 2**-64)."""
    v = 1e-4
    w = rho * math.sqrt(v)
    worst = 0.0
    for s in (1, -1):
        for y0f in (0.1, 0.5, 0.9):
            for y1f in (0.05, 0.3, 0.7, 0.95):
                case = make_case(s, rho, y0f, y1f, v)
                ps, pt = implied_probabilities(fn, case)
                # in the trade's orientation the stop is the lower barrier
                y0, y1 = (y0f * w, y1f * w) if s > 0 else ((1 - y0f) * w, (1 - y1f) * w)
                expected = sine_series_no_exit(y0, y1, w, v)
                assert 0.0 <= ps and 0.0 <= pt and ps + pt <= 1.0 + 1e-12
                worst = max(worst, abs((1.0 - ps - pt) - expected))
    print(f"CHECK no_exit_vs_sine_series[rho={rho}]: max abs error {worst:.3g}")
    assert worst <= 1e-9


# ---------------------------------------------------------------------------------------------
# 1b. P_stop and P_target against a fine-grid bridge Monte Carlo
# ---------------------------------------------------------------------------------------------
def fine_grid_exits(rng, n, y0, y1, w, v, substeps):
    """First exits of n bridges from y0 to y1 (variance v) from (0, w), each bridge built from
    ``substeps`` pieces with each barrier's one-barrier bridge correction on every piece (one
    uniform, the lower barrier first; both barriers within one piece is negligible when a
    piece's sd is a fifth of w or less). Returns (exits at 0, exits at w)."""
    x = np.full(n, y0)
    alive = np.ones(n, bool)
    at_lo = np.zeros(n, bool)
    at_hi = np.zeros(n, bool)
    h = v / substeps
    for k in range(substeps):
        left = substeps - k
        nxt = x + (y1 - x) / left
        if left > 1:
            nxt = nxt + math.sqrt(h * (left - 1) / left) * rng.standard_normal(n)
        else:
            nxt = np.full(n, y1)
        u = rng.random(n)
        with np.errstate(over="ignore"):
            p_lo = np.where((x > 0) & (nxt > 0), np.exp(-2.0 * x * nxt / h), 1.0)
            p_hi = np.where((x < w) & (nxt < w), np.exp(-2.0 * (w - x) * (w - nxt) / h), 1.0)
        hit_lo = alive & (u < p_lo)
        hit_hi = alive & ~hit_lo & (u >= 1.0 - p_hi)
        at_lo |= hit_lo
        at_hi |= hit_hi
        alive &= ~(hit_lo | hit_hi)
        x = nxt
    return int(at_lo.sum()), int(at_hi.sum())


MC_CASES = [(rho, y0f, y1f) for rho in (0.5, 1.0, 2.0)
            for (y0f, y1f) in ((0.3, 0.6), (0.5, -0.5), (0.7, 1.4))]
MC_CASES_SLOW = [(rho, y0f, y1f) for rho in (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
                 for (y0f, y1f) in ((0.3, 0.6), (0.5, 0.5), (0.2, 0.9), (0.5, -0.5),
                                    (0.7, 1.4), (0.1, -2.0), (0.9, 3.0))]


def _mc_check(rho, y0f, y1f, n, seed):
    v = 1e-4
    w = rho * math.sqrt(v)
    substeps = max(256, int(math.ceil((5.0 / rho) ** 2)))    # a piece's sd <= w / 5
    case = make_case(1, rho, y0f, y1f, v)
    ps, pt = implied_probabilities(_kernel.step_exit, case)
    lo, hi = fine_grid_exits(np.random.default_rng(seed), n, y0f * w, y1f * w, w, v, substeps)
    # the fine grid's own error: a piece crossing both barriers (the corridor is >= 5 piece
    # sds wide: about exp(-2 * 5^2) per piece), and the marginal rule's overlap, far below
    # 1e-4 here
    allow = 1e-4
    tag = f"rho={rho},y0={y0f},y1={y1f}"
    check_close(f"corridor_p_stop[{tag}]", ps, lo / n, binomial_se(ps, n), n, allow)
    check_close(f"corridor_p_target[{tag}]", pt, hi / n, binomial_se(pt, n), n, allow)


@pytest.mark.parametrize("rho,y0f,y1f", MC_CASES)
def test_exit_probabilities_match_fine_grid_bridges(rho, y0f, y1f):
    _mc_check(rho, y0f, y1f, 20_000, seed=int(1000 * rho + 100 * y0f + 10 * y1f + 7))


@pytest.mark.slow
@pytest.mark.parametrize("rho,y0f,y1f", MC_CASES_SLOW)
def test_exit_probabilities_match_fine_grid_bridges_slow(rho, y0f, y1f):
    _mc_check(rho, y0f, y1f, 100_000, seed=int(1000 * rho + 100 * y0f + 10 * y1f + 11))


# ---------------------------------------------------------------------------------------------
# 2. one barrier within reach: the one-barrier rule, bit for bit
# ---------------------------------------------------------------------------------------------
def marginal_rule(s, x0, x1, has_stop, lstop, has_target, ltarget, v, u):
    """The rule the corridor law replaced: each barrier's one-barrier bridge probability,
    the stop first."""
    if has_stop:
        b = s * (x1 - lstop)
        if b <= 0.0:
            return EXIT_STOP
        qq = 2.0 * (s * (x0 - lstop)) * b / v
        if qq < BRIDGE_QMAX and u < math.exp(-qq):
            return EXIT_STOP
    if has_target:
        b = s * (ltarget - x1)
        if b <= 0.0:
            return EXIT_TARGET
        qq = 2.0 * (s * (ltarget - x0)) * b / v
        if qq < BRIDGE_QMAX and u >= 1.0 - math.exp(-qq):
            return EXIT_TARGET
    return 0


@pytest.mark.parametrize("fn", IMPLS)
def test_one_barrier_in_reach_decides_as_the_one_barrier_rule(fn):
    """Random steps where one barrier's exponent is >= BRIDGE_QMAX (out of reach) or absent:
    the decision equals the old marginal rule's for every u. Also steps with both in reach,
    to show the rules do differ there (the corridor law is not the marginal rule)."""
    rng = np.random.default_rng(5)
    same_cases = differ = 0
    for _ in range(4000):
        s = int(rng.choice((-1, 1)))
        v = 10.0 ** rng.uniform(-6, -3)
        sd = math.sqrt(v)
        lstop = math.log(100.0)
        stop_d = sd * 10.0 ** rng.uniform(-1.5, 1.0)
        tgt_d = sd * 10.0 ** rng.uniform(-1.5, 1.0)
        x0 = lstop + s * stop_d
        ltarget = x0 + s * tgt_d
        x1 = x0 + sd * rng.standard_normal() * 2.0
        has_stop, has_target = bool(rng.random() < 0.85), bool(rng.random() < 0.85)
        u = float(rng.random())
        qs = 2.0 * (s * (x0 - lstop)) * (s * (x1 - lstop)) / v
        qt = 2.0 * (s * (ltarget - x0)) * (s * (ltarget - x1)) / v
        inside = s * (x1 - lstop) > 0 and s * (ltarget - x1) > 0
        one_in_reach = (not has_stop or not has_target
                        or (inside and (qs >= BRIDGE_QMAX or qt >= BRIDGE_QMAX))
                        or (s * (x1 - lstop) <= 0 and qt >= BRIDGE_QMAX)
                        or (s * (ltarget - x1) <= 0 and qs >= BRIDGE_QMAX))
        new = fn(s, x0, x1, has_stop, lstop, has_target, ltarget, v, u)
        old = marginal_rule(s, x0, x1, has_stop, lstop, has_target, ltarget, v, u)
        if one_in_reach:
            same_cases += 1
            assert new == old, (s, x0, x1, has_stop, lstop, has_target, ltarget, v, u)
        elif new != old:
            differ += 1
    assert same_cases > 1000 and differ > 20


def test_kernel_decides_as_the_twin_at_the_thresholds():
    """The kernel skips exp() where a bound on -ln(u) (u's exponent and top mantissa bits)
    already decides a test; at u right at the thresholds exp(-q) and 1 - exp(-q), and at the
    edges of the bound's mantissa bins, its decisions are the twin's, bit for bit."""
    rng = np.random.default_rng(11)
    n = 0
    for _ in range(30000):
        s = int(rng.choice((-1, 1)))
        v = 10.0 ** rng.uniform(-6, -2)
        sd = math.sqrt(v)
        x0 = float(rng.uniform(-1.0, 1.0))
        lstop = x0 - s * sd * rng.uniform(0.05, 4.0)
        ltarget = x0 + s * sd * rng.uniform(0.05, 8.0)
        x1 = x0 + sd * rng.standard_normal()
        has_stop, has_target = bool(rng.random() < 0.85), bool(rng.random() < 0.85)
        qs = 2.0 * (s * (x0 - lstop)) * (s * (x1 - lstop)) / v
        qt = 2.0 * (s * (ltarget - x0)) * (s * (ltarget - x1)) / v
        k = int(rng.integers(-4, 5)) * 2.0 ** -52
        mode = int(rng.integers(3))
        if mode == 0 and 0.0 < qs < BRIDGE_QMAX:
            u = math.exp(-qs) * (1.0 + k)
        elif mode == 1 and 0.0 < qt < BRIDGE_QMAX:
            u = 1.0 - math.exp(-qt) * (1.0 + k)
        else:                           # the edge of a mantissa bin: (1 + j/256) 2^e
            u = (1.0 + int(rng.integers(256)) / 256.0) * 2.0 ** int(rng.integers(-30, 0)) * (1.0 + k)
            if rng.random() < 0.5:
                u = 1.0 - u
        u = math.floor(u * 2.0 ** 53) / 2.0 ** 53       # on the uniforms' grid
        if not 0.0 <= u < 1.0:
            continue
        n += 1
        args = (s, x0, x1, has_stop, lstop, has_target, ltarget, v, u)
        assert _kernel.step_exit(*args) == _kernel_python.exit_decision(*args), args
    assert n > 25000


# ---------------------------------------------------------------------------------------------
# 3. the martingale trade through the engine, at any time grid
# ---------------------------------------------------------------------------------------------
UNITS = [0.05, 0.1, 0.25, 0.5, 1.0]       # the stop distance in daily sds of the price
GRIDS = [1, 2, 4, 12]                      # steps a day


def marginal_rule_win_rate(rng, n, p0, D, r, sigma, spd, steps):
    """The same martingale trade (price from p0, stop D below, target r D above; mu = 0) under
    the old marginal rule, simulated with numpy: (targets, unresolved)."""
    dt = 1.0 / (252 * spd)
    v = sigma * sigma * dt
    drift = -0.5 * sigma * sigma * dt
    lstop, ltarget = math.log(p0 - D), math.log(p0 + r * D)
    x = np.full(n, math.log(p0))
    alive = np.ones(n, bool)
    won = np.zeros(n, bool)
    for _ in range(steps):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        x0 = x[idx]
        x1 = x0 + drift + math.sqrt(v) * rng.standard_normal(idx.size)
        u = rng.random(idx.size)
        b = x1 - lstop
        with np.errstate(over="ignore"):
            stop = (b <= 0) | (u < np.exp(-2.0 * (x0 - lstop) * np.maximum(b, 0) / v))
            bt = ltarget - x1
            tgt = ~stop & ((bt <= 0) | (u >= 1.0 - np.exp(-2.0 * (ltarget - x0)
                                                          * np.maximum(bt, 0) / v)))
        won[idx[tgt]] = True
        alive[idx[stop | tgt]] = False
        x[idx] = x1
    return int(won.sum()), int(alive.sum())


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("spd", GRIDS)
def test_martingale_win_rate_is_one_third_at_any_grid(spd, scale):
    """mu = 0: the price is a martingale, and a long with its stop D below and its target 2D
    above the entry wins with probability exactly 1/3. D from 0.05 to 1 daily sd; one trade per
    path. The engine must give 1/3 within 4 SE on every grid. The old marginal rule (numpy,
    same trades) is printed beside it, and must be off by more than 4 SE where the design
    note's table shows a bias of 0.03 or more."""
    p0, sigma, r = 100.0, 0.2, 2.0
    daily_sd = p0 * sigma / math.sqrt(252)
    paths = 40_000 * scale
    rows = []
    for unit in UNITS:
        D = unit * daily_sd
        days = int(math.ceil(30 * unit * unit)) + 2      # resolves all but ~1e-6 of trades
        plan = single_trade_plan(n_days=days, price=p0, sigma=sigma, mu=0.0, stop_dist=D,
                                 r_multiple=r)
        plan = plan.with_(spd=spd, dt=1.0 / (252 * spd),
                          cooldown=np.array([days * spd + 1], np.int32))   # one trade a path
        out = run(plan, paths, seed=9000 + 97 * spd + int(1000 * unit) + scale)
        won, unres = check_target_first(f"martingale_win_rate[k={unit},spd={spd}]", 1.0 / 3.0,
                                        out, plan, D, r)
        rng = np.random.default_rng(9500 + 97 * spd + int(1000 * unit) + scale)
        m_won, m_unres = marginal_rule_win_rate(rng, paths, p0, D, r, sigma, spd, days * spd)
        assert m_unres <= 1e-3 * paths
        p_m = (m_won + 0.5 * m_unres) / paths
        se = binomial_se(1.0 / 3.0, paths)
        report(f"marginal_rule_win_rate[k={unit},spd={spd}]", 1.0 / 3.0, p_m, se, paths,
               off_in_se=(p_m - 1.0 / 3.0) / se)
        rows.append((unit, (won + 0.5 * unres) / paths, p_m))
        if unit <= 0.1 or (unit <= 0.25 and spd <= 2):
            assert 1.0 / 3.0 - p_m > K_SE * se, "the marginal rule should be visibly biased"
    print(f"TABLE spd={spd}: " + "; ".join(f"k={u}: corridor {a:.4f}, marginal {b:.4f}"
                                           for u, a, b in rows))


# ---------------------------------------------------------------------------------------------
# 4. a stated win rate, realized at one step a day with a stop of a tenth of a daily sd
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("direction", [LONG, SHORT, BOTH], ids=["long", "short", "both"])
def test_solved_win_rate_realized_at_one_step_a_day_with_tight_stops(direction, scale):
    """win_rate 0.40 with the stop a tenth of a daily sd and the target at 2R, one step a day:
    the alpha the solver returns gives 0.40 (long, short; for both, the mean of the two
    closed-form probabilities at the mean alpha) within 4 SE. The old rule gave ~0.1 here."""
    p0, mu, sigma, r, p = 100.0, 0.05, 0.25, 2.0, 0.40
    D = 0.1 * p0 * sigma / math.sqrt(252)
    paths = 100_000 * scale
    alpha = solve_alpha(int(direction), p0, mu, sigma, D, r * D, p)
    plan = single_trade_plan(n_days=3, price=p0, sigma=sigma, mu=mu, stop_dist=D, r_multiple=r,
                             direction=direction, alpha=alpha)
    out = run(plan, paths, seed=9900 + 10 * int(direction) + scale)
    expected = solved_win_rate_expected(direction, p0, mu, sigma, D, r, alpha, p)
    name = {LONG: "long", SHORT: "short", BOTH: "both"}[direction]
    check_target_first(f"tight_stop_win_rate[{name}]", expected, out, plan, D, r, alpha=alpha)


@pytest.mark.parametrize("fn", IMPLS)
def test_target_rule_is_inclusive_at_exactly_one_minus_p_target(fn):
    """Target if u >= 1 - P_target, equality included. Long, x0 = x1 = 0, v = 1, stop at
    -4 (P_stop = exp(-32): out of the way), target at 0.8: P_target's series is its first term
    exp(-2 * 0.8 * 0.8) alone (the next, exp(-2 * 4.8 * 4.8) = exp(-46.08), is below 2**-53).
    At u = 1 - exp(-1.28) (exact: 1 - u == exp(-1.28) in floats) the target is hit; one ulp
    below, nothing is."""
    S = math.exp(-2.0 * 0.8 * 0.8)
    u = 1.0 - S
    assert 1.0 - u == S and 2.0 * 4.8 * 4.8 > BRIDGE_QMAX
    assert fn(1, 0.0, 0.0, True, -4.0, True, 0.8, 1.0, u) == EXIT_TARGET
    assert fn(1, 0.0, 0.0, True, -4.0, True, 0.8, 1.0, math.nextafter(u, 0.0)) == 0


@pytest.mark.parametrize("fn", IMPLS)
def test_stop_rule_is_strict_at_exactly_p_stop(fn):
    """Stop if u < P_stop, equality excluded. Long, x0 = x1 = 0, v = 1, stop at -0.5, target
    at 3.5 (corridor width 4): P_stop = exp(-2 * 0.5 * 0.5) - exp(-2 * 4 * 4) exactly, the
    series' next term exp(-2 * 4.5 * 4.5) = exp(-40.5) being below 2**-53; P_target =
    exp(-2 * 3.5 * 3.5) is far from u. At u = P_stop: no exit; one ulp below: the stop."""
    p_stop = math.exp(-0.5)
    p_stop -= math.exp(-32.0)
    assert 2.0 * 4.5 * 4.5 > BRIDGE_QMAX
    assert fn(1, 0.0, 0.0, True, -0.5, True, 3.5, 1.0, p_stop) == 0
    assert fn(1, 0.0, 0.0, True, -0.5, True, 3.5, 1.0, math.nextafter(p_stop, 0.0)) == EXIT_STOP
