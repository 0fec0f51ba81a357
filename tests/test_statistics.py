"""Statistical tests of the engine against closed forms (SPEC 3-5, 7).

Each check compares a Monte Carlo estimate with an exact or asymptotic closed form and passes when

    |measured - expected| <= K_SE * SE + allowance

* SE is the Monte Carlo standard error of the estimate: binomial ``sqrt(p (1 - p) / n)`` at the
  expected p for probabilities, ``s / sqrt(n)`` for means, and for a sample variance
  ``sqrt((m4 - s^4 (n - 3) / (n - 1)) / n)`` with m4 the sample fourth central moment.
* K_SE = 4: a two-sided false alarm rate of 6e-5 per check (about 2e-3 over the whole module).
  The seeds are fixed, so a run is reproducible.
* The allowance is a stated, non-statistical error of the closed form for the simulated model:
  zero where the closed form is exact; the residual error of the Broadie-Glasserman-Kou
  continuity correction for discretely monitored barriers (``BGK_ALLOWANCE``); the trades still
  open at the horizon in the win-rate checks (they could go either way).

Every check prints one line (visible with ``pytest -s``)::

    CHECK name: expected=... measured=... se=... n=... tol=... allow=...

Each test runs at a default size (the whole default set takes a few seconds on two cores) and,
marked ``slow``, at 10x the paths: the SE and the statistical part of the tolerance shrink by
sqrt(10).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from simcore._plan import BOTH, LONG, SHORT, STOP_FIXED, TARGET_R
from simcore.edge import solve_alpha
from simcore.runner import simulate
from plan_factory import make_plan

K_SE = 4.0
JOBS = 2
YEAR = 252
# Broadie, Glasserman & Kou (1997): a barrier monitored every dt behaves like a continuously
# monitored barrier moved away from the start by beta * sigma * sqrt(dt) in log price,
# beta = -zeta(1/2) / sqrt(2 pi).
BGK_BETA = 0.5825971579390106
# BGK's residual error is o(sqrt(dt)) (in practice O(dt)). Against an exact discrete-monitoring
# quadrature (a Gaussian random walk absorbed on a fine grid) at sigma = 0.2, a barrier
# 0.14-0.16 in log price from the start, mu in [-0.1, 0.1], it is 1e-4 to 4e-4 at one year and
# at most 1.1e-3 at a quarter (daily monitoring; about half that with 4 steps a day).
BGK_ALLOWANCE = 1.5e-3

# Path-count multiplier: 1 by default, 10 in the slow variant.
SCALES = [pytest.param(1, id="default"), pytest.param(10, id="x10", marks=pytest.mark.slow)]


# ---------------------------------------------------------------------------------------------
# reporting and the tolerance rule
# ---------------------------------------------------------------------------------------------
def report(name, expected, measured, se, n, **extra):
    """Print the figures of one check on stdout (shown by ``pytest -s``)."""
    tail = "".join(f" {k}={v:.6g}" if isinstance(v, float) else f" {k}={v}"
                   for k, v in extra.items())
    print(f"CHECK {name}: expected={expected:.6g} measured={measured:.6g} se={se:.3g} n={n}{tail}",
          flush=True)


def check_close(name, expected, measured, se, n, allow=0.0, **extra):
    """Report, then require ``|measured - expected| <= K_SE * se + allow``."""
    tol = K_SE * se + allow
    report(name, expected, measured, se, n, tol=tol, allow=allow, **extra)
    assert abs(measured - expected) <= tol, (
        f"{name}: measured {measured:.6g} vs expected {expected:.6g}: off by "
        f"{abs(measured - expected):.3g} > {K_SE:g} SE ({se:.3g}) + allowance {allow:.3g}")


def check_probability(name, expected, hits, n, allow=0.0, **extra):
    """A frequency ``hits / n`` against a probability, binomial SE at the expected value."""
    check_close(name, expected, hits / n, binomial_se(expected, n), n, allow, **extra)


def binomial_se(p, n):
    return math.sqrt(p * (1.0 - p) / n)


def sample_variance_and_se(x):
    """Unbiased sample variance and its standard error from the sample fourth central moment."""
    x = np.asarray(x, float)
    n = x.size
    d = x - x.mean()
    s2 = float(d @ d) / (n - 1)
    m4 = float(np.mean(d ** 4))
    return s2, math.sqrt(max(m4 - s2 * s2 * (n - 3) / (n - 1), 0.0) / n)


def run(plan, paths, seed):
    return simulate(plan, paths, seed, jobs=JOBS)


# ---------------------------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------------------------
def gbm_first_passage(p0, barrier, mu, sigma, T):
    """P(a GBM from p0, drift mu, volatility sigma, touches ``barrier`` by time T), monitored
    continuously. In log price X_t = nu t + sigma W_t, nu = mu - sigma^2 / 2, a barrier at
    distance h > 0 in direction s (+1 above, -1 below), with m = s * nu:

        P = Phi((-h + m T) / (sigma sqrt T)) + exp(2 m h / sigma^2) Phi((-h - m T) / (sigma sqrt T))
    """
    x = math.log(barrier / p0)
    h, m = abs(x), math.copysign(1.0, x) * (mu - 0.5 * sigma * sigma)
    sd = sigma * math.sqrt(T)
    return float(norm.cdf((-h + m * T) / sd)
                 + math.exp(2.0 * m * h / sigma ** 2) * norm.cdf((-h - m * T) / sd))


def bgk_barrier(p0, barrier, sigma, dt_monitor):
    """The continuous-monitoring barrier equivalent to ``barrier`` checked every ``dt_monitor``."""
    shift = BGK_BETA * sigma * math.sqrt(dt_monitor)
    return barrier * math.exp(shift if barrier > p0 else -shift)


def discrete_first_passage(p0, barrier, mu, sigma, T, dt_monitor):
    """First-passage probability by T for a barrier checked every ``dt_monitor`` (BGK)."""
    return gbm_first_passage(p0, bgk_barrier(p0, barrier, sigma, dt_monitor), mu, sigma, T)


def gbm_cov(p1, p2, mu1, mu2, s1, s2, rho, T):
    """Cov(P1_T, P2_T) for GBMs with log-return correlation rho (rho = 1, same asset: Var)."""
    return p1 * p2 * math.exp((mu1 + mu2) * T) * math.expm1(rho * s1 * s2 * T)


def two_barrier_up_first(nu, sigma, a, b):
    """P(nu t + sigma W_t hits +b before -a), a, b > 0 (scale function of drifted BM)."""
    if nu == 0.0:
        return a / (a + b)
    th = 2.0 * nu / sigma ** 2
    return math.expm1(th * a) / (math.expm1(th * a) - math.expm1(-th * b))


def solved_win_rate_expected(direction, p0, mu, sigma, D, r, alpha, p):
    """What a trade with the solver's alpha wins from p0: the stated p for long or short; for
    both, the mean of the long and short closed-form probabilities at the solver's mean alpha."""
    if direction != BOTH:
        return p
    probs = []
    for d in (1, -1):
        a, b = log_barriers(d, p0, D, r * D)
        probs.append(two_barrier_up_first((mu - 0.5 * sigma ** 2) * d + alpha, sigma, a, b))
    return 0.5 * (probs[0] + probs[1])


def log_barriers(direction, p0, stop_dist, target_dist):
    """Log distances (stop, target) of the barriers from p0 along the trade's direction."""
    stop, target = p0 - direction * stop_dist, p0 + direction * target_dist
    return direction * math.log(p0 / stop), direction * math.log(target / p0)


# ---------------------------------------------------------------------------------------------
# plans and outcome helpers
# ---------------------------------------------------------------------------------------------
def single_trade_plan(*, n_days, price, sigma, mu, stop_dist, r_multiple, direction=LONG,
                      alpha=0.0):
    """One fixed-stop / R-target trade per path, opened at step 0 at the start price: the
    cooldown outlasts the horizon. No costs, no slippage, no ruin rule, margins negligible."""
    return make_plan(n_days=n_days, capital=10_000.0, price=price, sigma=sigma, mu=mu,
                     dir_mode=direction, stop_kind=STOP_FIXED, stop_val=stop_dist,
                     target_kind=TARGET_R, target_val=r_multiple, alpha=alpha,
                     cooldown=n_days + 1)


def single_trade_outcomes(plan, out, stop_dist, r_multiple):
    """(targets, stops, unresolved) counts from each path's final equity: with one contract
    (pv 1) and no costs, a target leaves capital + r D, a stop capital - D; any other value is
    a trade still open at the horizon, closed at the last price."""
    n = out.final_equity.shape[0]
    assert (out.trades == 1).all(), "setup: every path must make exactly one trade"
    assert not out.margin_calls.any() and not out.ruined.any(), "setup: no margin call or ruin"
    pnl = out.final_equity - plan.capital
    won = np.isclose(pnl, r_multiple * stop_dist, rtol=0.0, atol=1e-9)
    lost = np.isclose(pnl, -stop_dist, rtol=0.0, atol=1e-9)
    return int(won.sum()), int(lost.sum()), int(n - won.sum() - lost.sum())


def check_target_first(name, expected, out, plan, stop_dist, r_multiple, **extra):
    """P(target first) against ``expected``. A trade open at the horizon would have hit either
    barrier later, so the engine's probability lies in [targets, targets + unresolved] / n:
    measured is the midpoint and the half-width is the allowance."""
    won, lost, unresolved = single_trade_outcomes(plan, out, stop_dist, r_multiple)
    n = won + lost + unresolved
    assert unresolved <= 1e-3 * n, "setup: the horizon must resolve almost every trade"
    check_close(name, expected, (won + 0.5 * unresolved) / n, binomial_se(expected, n), n,
                allow=0.5 * unresolved / n, unresolved=unresolved, **extra)
    return won, unresolved


def discrete_monitoring_win_rate(rng, n, p0, stop, target, mu, sigma, dt, steps):
    """The same GBM trade with its barriers checked only at step ends (no Brownian bridge):
    returns (targets, unresolved) over n paths."""
    drift, sd = (mu - 0.5 * sigma * sigma) * dt, sigma * math.sqrt(dt)
    lstop, ltarget = math.log(stop / p0), math.log(target / p0)
    x = np.zeros(n)
    active = np.ones(n, bool)
    won = np.zeros(n, bool)
    for _ in range(steps):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        x[idx] += drift + sd * rng.standard_normal(idx.size)
        up, down = x[idx] >= ltarget, x[idx] <= lstop
        won[idx[up]] = True
        active[idx[up | down]] = False
    return int(won.sum()), int(active.sum())


# ---------------------------------------------------------------------------------------------
# 1. ruin = discretely monitored first passage of a buy-and-hold
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("mu,spd", [(0.0, 1), (0.0, 4), (0.12, 1), (0.12, 4)])
def test_ruin_probability_is_discrete_first_passage(mu, spd, scale):
    """One contract held for a year, ruin_level = capital - pv (P0 - H): ruin <=> P < H at a step
    end, so P(ruin) is the GBM first passage below H monitored every step (BGK), and
    P(ruin day <= d) its distribution function at d / 252."""
    p0, barrier, sigma, pv, capital, days = 100.0, 85.0, 0.2, 2.0, 10_000.0, YEAR
    paths = 100_000 * scale
    plan = make_plan(n_days=days, spd=spd, capital=capital, price=p0, sigma=sigma, mu=mu, pv=pv,
                     ruin_level=capital - pv * (p0 - barrier))
    out = run(plan, paths, seed=1000 + 10 * spd + int(100 * mu) + scale)
    assert (out.trades == 1).all() and not out.margin_calls.any(), \
        "setup: one position per path, no margin calls"
    dt = 1.0 / (YEAR * spd)
    tag = f"[mu={mu:g},spd={spd}]"
    check_probability(f"ruin_probability{tag}",
                      discrete_first_passage(p0, barrier, mu, sigma, days / YEAR, dt),
                      int(out.ruined.sum()), paths, allow=BGK_ALLOWANCE,
                      continuous=gbm_first_passage(p0, barrier, mu, sigma, days / YEAR))
    ruin_day = np.where(out.ruined == 1, out.ruin_day, days + 1)
    for d in (63, 126):
        check_probability(f"ruin_day_cdf{tag}[day<={d}]",
                          discrete_first_passage(p0, barrier, mu, sigma, d / YEAR, dt),
                          int((ruin_day <= d).sum()), paths, allow=BGK_ALLOWANCE)


# ---------------------------------------------------------------------------------------------
# 2. tier reach = upward first passage of day-end equity
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("mu,spd", [(0.0, 1), (0.0, 4), (0.1, 1), (0.1, 4)])
def test_tier_reach_is_day_end_first_passage(mu, spd, scale):
    """A tier whose reach threshold is capital + pv (U - P0): reached <=> day-end price >= U.
    Reach is tested on day-end equity only, so the monitoring interval is one day whatever
    steps_per_day (with spd = 4 a per-step test would be ~0.01 more likely, > 6 SE here)."""
    p0, up, sigma, pv, capital, days = 100.0, 115.0, 0.2, 3.0, 10_000.0, YEAR
    paths = 100_000 * scale
    plan = make_plan(n_days=days, spd=spd, capital=capital, price=p0, sigma=sigma, mu=mu, pv=pv,
                     tier_reach=(capital + pv * (up - p0),))
    out = run(plan, paths, seed=2000 + 10 * spd + int(100 * mu) + scale)
    assert not out.ruined.any() and not out.margin_calls.any(), "setup: no ruin, no margin call"
    day = np.where(out.tier_day[:, 0] >= 0, out.tier_day[:, 0], days + 1)
    assert (day >= 1).all(), "setup: the threshold is above the starting capital"
    tag = f"[mu={mu:g},spd={spd}]"
    for d in (126, days):
        check_probability(f"tier_reach{tag}[day<={d}]",
                          discrete_first_passage(p0, up, mu, sigma, d / YEAR, 1.0 / YEAR),
                          int((day <= d).sum()), paths, allow=BGK_ALLOWANCE,
                          per_step_monitoring=discrete_first_passage(
                              p0, up, mu, sigma, d / YEAR, 1.0 / (YEAR * spd)))


# ---------------------------------------------------------------------------------------------
# 3. margin call = first passage of a maintenance-margin price barrier
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("mu,spd", [(0.0, 1), (-0.1, 4)])
def test_margin_call_probability_is_first_passage(mu, spd, scale):
    """Capital 1000, one contract (pv 1) at P0 = 100, maintenance margin 980: E < mm <=> P < 80
    at a step end. No ruin rule, and E stays far above 0, so the margin call is the first and
    only rule that fires; the initial margin (990) then exceeds the remaining equity, so the
    account stays flat: at most one call per path."""
    p0, barrier, sigma, capital, days = 100.0, 80.0, 0.2, 1_000.0, YEAR
    paths = 100_000 * scale
    plan = make_plan(n_days=days, spd=spd, capital=capital, price=p0, sigma=sigma, mu=mu,
                     im=990.0, mm=capital - (p0 - barrier))
    out = run(plan, paths, seed=3000 + 10 * spd + scale)
    assert not out.ruined.any(), "setup: no ruin"
    assert out.margin_calls.max() <= 1, "after a call the account cannot afford a new contract"
    check_probability(f"margin_call_any[mu={mu:g},spd={spd}]",
                      discrete_first_passage(p0, barrier, mu, sigma, days / YEAR,
                                             1.0 / (YEAR * spd)),
                      int((out.margin_calls > 0).sum()), paths, allow=BGK_ALLOWANCE)


# ---------------------------------------------------------------------------------------------
# 4. final equity of two correlated buy-and-hold positions: GBM first and second moments
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("rho", [0.7, -0.7])
def test_final_equity_moments_two_correlated_markets(rho, scale):
    """E_T = capital + sum_i pv_i (P_i,T - P_i,0), exact in distribution (GBM is sampled exactly):
    mean  capital + sum_i pv_i P_i (e^{mu_i T} - 1),
    var   sum_ij pv_i pv_j P_i P_j e^{(mu_i + mu_j) T} (e^{rho_ij sigma_i sigma_j T} - 1)."""
    p = np.array([100.0, 40.0])
    sig = np.array([0.2, 0.35])
    mu = np.array([0.05, -0.04])
    pv = np.array([1.0, 2.5])
    corr = np.array([[1.0, rho], [rho, 1.0]])
    capital, days = 10_000.0, YEAR
    T = days / YEAR
    paths = 100_000 * scale
    plan = make_plan(M=2, n_days=days, capital=capital, price=p, sigma=sig, mu=mu, corr=corr,
                     pv=pv, tier_contract=[[0, 1]], tier_max=[[1, 1]])
    out = run(plan, paths, seed=4000 + int(10 * rho) + scale)
    assert (out.trades == 2).all() and not out.margin_calls.any() and not out.ruined.any(), \
        "setup: both positions held to the horizon"
    x = out.final_equity
    mean = capital + float(np.sum(pv * p * np.expm1(mu * T)))
    var = sum(pv[i] * pv[j] * gbm_cov(p[i], p[j], mu[i], mu[j], sig[i], sig[j], corr[i, j], T)
              for i in range(2) for j in range(2))
    s2, se_var = sample_variance_and_se(x)
    check_close(f"two_market_mean[rho={rho:g}]", mean, float(x.mean()), math.sqrt(s2 / paths),
                paths)
    check_close(f"two_market_variance[rho={rho:g}]", var, s2, se_var, paths)


# ---------------------------------------------------------------------------------------------
# 4b. mean final equity of a buy-and-hold: the GBM first moment
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("mu,spd", [(0.15, 1), (-0.1, 2)])
def test_mean_final_equity_buy_and_hold(mu, spd, scale):
    """E[E_T] = capital + pv P0 (e^{mu T} - 1) (exact; SE = sample sd / sqrt(n))."""
    p0, sigma, pv, capital, days = 100.0, 0.3, 5.0, 10_000.0, YEAR
    paths = 100_000 * scale
    plan = make_plan(n_days=days, spd=spd, capital=capital, price=p0, sigma=sigma, mu=mu, pv=pv)
    out = run(plan, paths, seed=5000 + 10 * spd + scale)
    assert (out.trades == 1).all() and not out.margin_calls.any() and not out.ruined.any(), \
        "setup: one position held to the horizon"
    x = out.final_equity
    check_close(f"buy_and_hold_mean[mu={mu:g},spd={spd}]",
                capital + pv * p0 * math.expm1(mu * days / YEAR), float(x.mean()),
                float(x.std(ddof=1)) / math.sqrt(paths), paths)


# ---------------------------------------------------------------------------------------------
# 5. two-barrier exits with the Brownian bridge: P(target first) = 1/3 for a martingale price
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", SCALES)
def test_bridge_exits_give_martingale_win_rate(scale):
    """mu = 0 makes the price a martingale; a long with the stop D below and the target 2D above
    the entry hits the target first with probability D / 3D = 1/3 (optional stopping). D = 2% of
    the price and sigma = 0.2 (1.26% a day): a trade lasts ~5 days and most barrier crossings
    happen within a step, which only the bridge sees. The engine's bridge is exact for each
    barrier; its only approximation (both barriers crossed in one step, a 4.7-sigma daily move)
    is below 1e-5, so there is no discretization allowance.

    Without the bridge (barriers checked at step ends; a numpy simulation of the same trade) the
    barriers act ~0.58 sigma sqrt(dt) further away, which favours the nearer stop less: the win
    rate is measurably above 1/3 (BGK estimate printed as its expected value)."""
    p0, D, r, sigma, days = 100.0, 2.0, 2.0, 0.2, 60
    paths = 200_000 * scale
    plan = single_trade_plan(n_days=days, price=p0, sigma=sigma, mu=0.0, stop_dist=D,
                             r_multiple=r)
    out = run(plan, paths, seed=6000 + scale)
    won, unres = check_target_first("bridge_engine_win_rate", 1.0 / 3.0, out, plan, D, r)
    p_engine = (won + 0.5 * unres) / paths

    rng = np.random.default_rng(6100 + scale)
    dt = 1.0 / YEAR
    nb_won, nb_unres = discrete_monitoring_win_rate(rng, paths, p0, p0 - D, p0 + r * D, 0.0,
                                                    sigma, dt, days)
    assert nb_unres <= 1e-3 * paths
    p_nb = (nb_won + 0.5 * nb_unres) / paths
    se_nb = binomial_se(p_nb, paths)
    a, b = log_barriers(1, p0, D, r * D)
    shift = BGK_BETA * sigma * math.sqrt(dt)
    report("no_bridge_numpy_win_rate", two_barrier_up_first(-0.5 * sigma ** 2, sigma, a + shift,
                                                            b + shift),
           p_nb, se_nb, paths, vs_one_third_in_se=(p_nb - 1.0 / 3.0) / se_nb,
           vs_engine_in_se=(p_nb - p_engine) / math.hypot(se_nb, binomial_se(p_engine, paths)))
    assert p_nb - 1.0 / 3.0 > K_SE * se_nb, "step-end monitoring should overstate the win rate"
    assert p_nb - p_engine > K_SE * math.hypot(se_nb, binomial_se(p_engine, paths)), \
        "the bridge should make a measurable difference"


# ---------------------------------------------------------------------------------------------
# 6. the win-rate solver: the alpha it returns gives the stated win rate
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("direction", [LONG, SHORT, BOTH], ids=["long", "short", "both"])
def test_solved_alpha_gives_stated_win_rate(direction, scale):
    """alpha = solve_alpha(direction, P0, mu, sigma, D, 2D, 0.40) in the plan; one trade per
    path from the start price. Long or short: P(target first) = 0.40 exactly (the bridge makes the
    engine's exits continuous). Both: a fair coin picks the direction and the solver returns the
    mean of the long and short alphas, so the expected rate is the mean of the two closed-form
    probabilities at that alpha (computed here; within 1e-4 of 0.40 at these parameters)."""
    p0, D, r, mu, sigma, days, p = 100.0, 2.0, 2.0, 0.08, 0.25, 60, 0.40
    paths = 200_000 * scale
    alpha = solve_alpha(int(direction), p0, mu, sigma, D, r * D, p)
    plan = single_trade_plan(n_days=days, price=p0, sigma=sigma, mu=mu, stop_dist=D,
                             r_multiple=r, direction=direction, alpha=alpha)
    out = run(plan, paths, seed=7000 + 10 * int(direction) + scale)
    expected = solved_win_rate_expected(direction, p0, mu, sigma, D, r, alpha, p)
    name = {LONG: "long", SHORT: "short", BOTH: "both"}[direction]
    check_target_first(f"solved_alpha_win_rate[{name}]", expected, out, plan, D, r,
                       alpha=alpha, stated=p)
