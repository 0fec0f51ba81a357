"""Tests for simcore.edge: two-barrier win probability and the alpha solver (SPEC 4 "Edge")."""
import itertools
import math

import numpy as np
import pytest
from scipy.integrate import quad

from simcore.edge import barrier_log_distances, solve_alpha, win_probability


def naive_win_probability(nu, sigma, a, b):
    """Textbook scale-function formula (fine for moderate drifts)."""
    th = 2.0 * nu / sigma**2
    if th == 0:
        return a / (a + b)
    return (math.exp(th * a) - 1.0) / (math.exp(th * a) - math.exp(-th * b))


# --------------------------------------------------------------------------------------------
# win_probability
# --------------------------------------------------------------------------------------------
def test_martingale_stop_1_target_2_is_one_third():
    assert win_probability(0.0, 0.3, 1.0, 2.0) == pytest.approx(1 / 3, abs=1e-15)
    assert win_probability(0.0, 1.0, 0.01, 0.02) == pytest.approx(1 / 3, abs=1e-15)
    # zero drift: a / (a + b) whatever sigma
    for sigma in (1e-3, 0.2, 5.0):
        assert win_probability(0.0, sigma, 0.3, 0.7) == pytest.approx(0.3, abs=1e-15)


@pytest.mark.parametrize("nu,sigma,a,b", [
    (0.1, 0.2, 0.01, 0.02), (-0.3, 0.15, 0.02, 0.05), (2.0, 0.5, 0.1, 0.1),
    (-5.0, 0.3, 0.05, 0.01), (0.7, 1.0, 1.0, 2.0),
])
def test_matches_textbook_formula(nu, sigma, a, b):
    assert win_probability(nu, sigma, a, b) == pytest.approx(
        naive_win_probability(nu, sigma, a, b), rel=1e-12, abs=1e-15)


def test_matches_independent_scale_function_integral():
    # P = int_{-a}^0 s'(x) dx / int_{-a}^{b} s'(x) dx with s'(x) = exp(-theta x), by quadrature
    for nu, sigma, a, b in [(0.3, 0.2, 0.02, 0.03), (-1.0, 0.4, 0.1, 0.05),
                            (0.05, 0.1, 0.01, 0.04)]:
        th = 2 * nu / sigma**2
        num = quad(lambda x: math.exp(-th * x), -a, 0, epsabs=0, epsrel=1e-13)[0]
        den = quad(lambda x: math.exp(-th * x), -a, b, epsabs=0, epsrel=1e-13)[0]
        assert win_probability(nu, sigma, a, b) == pytest.approx(num / den, rel=1e-11)


def test_symmetry():
    # reflecting X -> -X swaps the barriers and the sign of the drift:
    # P(+b before -a | nu) = 1 - P(+a before -b | -nu)
    for nu, sigma, a, b in itertools.product((-3.0, -0.2, 0.0, 1e-9, 0.4, 7.0), (0.1, 0.5),
                                             (0.01, 0.3), (0.02, 0.5)):
        p = win_probability(nu, sigma, a, b)
        q = win_probability(-nu, sigma, b, a)
        assert p + q == pytest.approx(1.0, abs=1e-14)
    # equal barriers, zero drift: a fair coin
    assert win_probability(0.0, 0.2, 0.05, 0.05) == 0.5


def test_small_drift_is_continuous_through_zero():
    a, b, sigma = 0.01, 0.03, 0.2
    c = a + b
    # first-order expansion: P = a/c + kappa a b / (2 c^2), kappa = 2 nu c / sigma^2
    for kappa in (1e-16, 1e-13, 1e-12, 1e-11, 1e-9, 1e-7):
        for s in (1.0, -1.0):
            nu = s * kappa * sigma**2 / (2 * c)
            expected = a / c + s * kappa * a * b / (2 * c * c)
            assert win_probability(nu, sigma, a, b) == pytest.approx(expected, rel=1e-14, abs=1e-17)
    # subnormal drift
    assert win_probability(5e-324, sigma, a, b) == pytest.approx(0.25, abs=1e-16)
    assert win_probability(-5e-324, sigma, a, b) == pytest.approx(0.25, abs=1e-16)


def test_extreme_drifts_do_not_overflow():
    with np.errstate(all="raise"):
        for nu in (1e3, 1e6, 1e30, 1e300, 1.7e308, math.inf):
            p = win_probability(nu, 0.01, 0.5, 0.5)
            assert p == 1.0
            q = win_probability(-nu, 0.01, 0.5, 0.5)
            assert q == 0.0
        # tiny volatility, large barriers: 2 nu c / sigma^2 far beyond exp's range
        assert win_probability(0.1, 1e-200, 1.0, 1.0) == 1.0
        assert win_probability(-0.1, 1e-200, 1.0, 1.0) == 0.0
    # large-but-representable tails keep relative precision: P ~ exp(theta b) for theta -> -inf
    nu, sigma, a, b = -50.0, 0.2, 0.05, 0.1
    th = 2 * nu / sigma**2
    assert win_probability(nu, sigma, a, b) == pytest.approx(
        math.exp(th * b) * math.expm1(th * a) / math.expm1(th * (a + b)), rel=1e-13)
    assert 0.0 < win_probability(nu, sigma, a, b) < 1e-100


def test_monotone_in_drift():
    nus = np.linspace(-20, 20, 4001)
    p = np.array([win_probability(v, 0.25, 0.02, 0.05) for v in nus])
    assert np.all(np.diff(p) > 0)
    assert p[0] > 0 and p[-1] < 1


def test_array_arguments_broadcast():
    nu = np.array([-1.0, 0.0, 1.0])
    p = win_probability(nu, 0.2, 0.01, 0.02)
    assert isinstance(p, np.ndarray) and p.shape == (3,)
    assert p[1] == pytest.approx(1 / 3)
    assert p[0] == win_probability(-1.0, 0.2, 0.01, 0.02)


@pytest.mark.parametrize("args", [
    (0.1, 0.0, 0.1, 0.1), (0.1, -0.2, 0.1, 0.1), (0.1, 0.2, 0.0, 0.1), (0.1, 0.2, 0.1, -1.0),
    (math.nan, 0.2, 0.1, 0.1), (0.1, math.inf, 0.1, 0.1), (0.1, 0.2, math.inf, 0.1),
])
def test_invalid_inputs_raise(args):
    with pytest.raises(ValueError):
        win_probability(*args)


def test_monte_carlo_agrees():
    """Fine-step simulation with a Brownian-bridge crossing check (so discrete monitoring
    does not bias the estimate); agreement within 4 standard errors."""
    rng = np.random.default_rng(20240611)
    nu, sigma, a, b = 0.6, 1.0, 0.5, 1.0           # units: years; P ~ 0.48
    dt = 2e-3
    n = 40_000
    sd = sigma * math.sqrt(dt)
    x = np.zeros(n)
    alive = np.arange(n)
    won = np.zeros(n, dtype=bool)
    for _ in range(20_000):
        if alive.size == 0:
            break
        x0 = x[alive]
        x1 = x0 + nu * dt + sd * rng.standard_normal(alive.size)
        u_up, u_dn = rng.random(alive.size), rng.random(alive.size)
        # a path ending inside still crossed with probability exp(-2 d0 d1 / (sigma^2 dt))
        inside = (x1 < b) & (x1 > -a)
        p_up = np.where(inside, np.exp(-2 * (b - x0) * (b - np.minimum(x1, b)) / (sd * sd)), 1.0)
        p_dn = np.where(inside, np.exp(-2 * (x0 + a) * (np.maximum(x1, -a) + a) / (sd * sd)), 1.0)
        hit_up = (x1 >= b) | (inside & (u_up < p_up))
        hit_dn = (x1 <= -a) | (inside & (u_dn < p_dn))
        both = hit_up & hit_dn                       # ~never with this step size: coin flip
        hit_up = np.where(both, rng.random(alive.size) < 0.5, hit_up)
        done = hit_up | hit_dn
        won[alive[done & hit_up]] = True
        x[alive] = x1
        alive = alive[~done]
    assert alive.size == 0
    p_mc = won.mean()
    p = win_probability(nu, sigma, a, b)
    se = math.sqrt(p * (1 - p) / n)
    assert abs(p_mc - p) < 4 * se, (p_mc, p, se)
    # sanity: the drift matters by far more than the tolerance
    assert abs(p - a / (a + b)) > 10 * se


# --------------------------------------------------------------------------------------------
# barrier distances
# --------------------------------------------------------------------------------------------
def test_barrier_log_distances():
    a, b = barrier_log_distances("long", 100.0, 10.0, 20.0)
    assert a == pytest.approx(-math.log(0.9)) and b == pytest.approx(math.log(1.2))
    a, b = barrier_log_distances(-1, 100.0, 10.0, 20.0)
    assert a == pytest.approx(math.log(1.1)) and b == pytest.approx(-math.log(0.8))
    # tiny distances keep full precision (log1p)
    a, _ = barrier_log_distances(1, 6000.0, 1e-9, 1.0)
    assert a == pytest.approx(1e-9 / 6000.0, rel=1e-12)


# --------------------------------------------------------------------------------------------
# solve_alpha
# --------------------------------------------------------------------------------------------
def _check_round_trip(d, price, mu, sigma, stop, target, p):
    alpha = solve_alpha(d, price, mu, sigma, stop, target, p)
    assert math.isfinite(alpha)
    a, b = barrier_log_distances(d, price, stop, target)
    got = win_probability((mu - sigma**2 / 2) * d + alpha, sigma, a, b)
    assert got == pytest.approx(p, abs=1e-10), (d, price, mu, sigma, stop, target, p, alpha)
    return alpha


@pytest.mark.parametrize("d", [1, -1])
def test_solver_round_trips(d):
    prices = (1.1, 75.0, 2600.0, 21000.0)
    fracs = (1e-4, 3e-3, 0.02, 0.2)
    for price, sf, tr, mu, sigma, p in itertools.product(
            prices, fracs, (0.5, 1.0, 2.0, 5.0), (-0.1, 0.0, 0.08), (0.08, 0.18, 0.6),
            (0.05, 0.3, 0.4, 0.55, 0.9, 0.99)):
        stop = sf * price
        target = tr * stop
        if d == -1 and target >= price:
            continue
        _check_round_trip(d, price, mu, sigma, stop, target, p)


def test_solver_extreme_win_rates_round_trip():
    for p in (1e-12, 1e-6, 0.999999, 1 - 1e-12):
        for d in (1, -1):
            _check_round_trip(d, 6000.0, 0.0, 0.18, 30.0, 60.0, p)
    # very lopsided barriers
    _check_round_trip(1, 6000.0, 0.0, 0.18, 1e-6, 600.0, 0.5)
    _check_round_trip(1, 6000.0, 0.0, 0.18, 600.0, 1e-6, 0.5)


def test_solver_martingale_point_and_sign():
    price, sigma, mu = 6000.0, 0.2, 0.03
    stop, target = 30.0, 60.0
    for d in (1, -1):
        a, b = barrier_log_distances(d, price, stop, target)
        p0 = a / (a + b)
        # at the martingale win rate the direction-adjusted drift is exactly zero
        alpha = solve_alpha(d, price, mu, sigma, stop, target, p0)
        assert (mu - sigma**2 / 2) * d + alpha == pytest.approx(0.0, abs=1e-9)
        assert solve_alpha(d, price, mu, sigma, stop, target, p0 + 0.05) > alpha
        assert solve_alpha(d, price, mu, sigma, stop, target, p0 - 0.05) < alpha


def test_solver_monotone_in_win_rate():
    for d in (1, -1, 0):
        ps = np.linspace(0.02, 0.98, 97)
        al = [solve_alpha(d, 2600.0, 0.0, 0.16, 15.0, 30.0, p) for p in ps]
        assert np.all(np.diff(al) > 0)


def test_both_is_mean_of_long_and_short():
    args = (6000.0, 0.04, 0.18, 40.0, 80.0, 0.4)
    lo = solve_alpha("long", *args)
    sh = solve_alpha("short", *args)
    bo = solve_alpha("both", *args)
    assert bo == pytest.approx(0.5 * (lo + sh), rel=1e-15)
    assert solve_alpha(0, *args) == bo
    # short barriers are further apart in log space for the stop, closer for the target,
    # and the market drift works against the short: the two alphas differ
    assert lo != sh


def test_direction_symmetry_with_zero_ito_drift():
    # with mu = sigma^2/2 the market's log drift is 0; a short with stop s / target t at price P
    # is a long on the reflected barriers, so alphas agree when the log distances agree
    price, sigma = 100.0, 0.3
    mu = sigma**2 / 2
    a_l, b_l = barrier_log_distances(1, price, 5.0, 10.0)
    # short distances giving the same log barriers as the long
    stop_s = price * math.expm1(a_l)
    target_s = -price * math.expm1(-b_l)
    al = solve_alpha(1, price, mu, sigma, 5.0, 10.0, 0.45)
    sh = solve_alpha(-1, price, mu, sigma, stop_s, target_s, 0.45)
    assert al == pytest.approx(sh, rel=1e-9)


@pytest.mark.parametrize("args,match", [
    ((1, 100.0, 0.0, 0.2, 100.0, 10.0, 0.4), "stop"),          # long stop at zero
    ((1, 100.0, 0.0, 0.2, 150.0, 10.0, 0.4), "stop"),
    ((-1, 100.0, 0.0, 0.2, 10.0, 100.0, 0.4), "target"),       # short target at zero
    ((0, 100.0, 0.0, 0.2, 10.0, 120.0, 0.4), "target"),        # both: the short leg is impossible
    ((1, 100.0, 0.0, 0.2, 10.0, 10.0, 0.0), "win_rate"),
    ((1, 100.0, 0.0, 0.2, 10.0, 10.0, 1.0), "win_rate"),
    ((1, 100.0, 0.0, 0.2, 10.0, 10.0, math.nan), "win_rate"),
    ((1, 100.0, 0.0, 0.0, 10.0, 10.0, 0.4), "volatility"),
    ((1, 100.0, 0.0, 0.2, 0.0, 10.0, 0.4), "stop"),
    ((1, 100.0, 0.0, 0.2, 10.0, 0.0, 0.4), "target"),
    ((1, -5.0, 0.0, 0.2, 1.0, 1.0, 0.4), "price"),
    ((2, 100.0, 0.0, 0.2, 1.0, 1.0, 0.4), "direction"),
    (("sideways", 100.0, 0.0, 0.2, 1.0, 1.0, 0.4), "direction"),
])
def test_solver_rejects_impossible_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        solve_alpha(*args)


def test_solver_accepts_numpy_scalars():
    alpha = solve_alpha(np.int32(1), np.float64(6000.0), np.float64(0.0), np.float64(0.18),
                        np.float64(40.0), np.float64(80.0), np.float64(0.4))
    assert type(alpha) is float
