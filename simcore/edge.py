"""The edge of a strategy: win probability between two barriers, and the alpha for a win rate.

SPEC 4 "Edge". A strategy may state ``win_rate: p`` instead of an ``alpha``. Before the run the
engine solves for the alpha (annual, log-price units) at which a trade's *direction-adjusted*
log price

    Y_t = d * (log S_t - log S_0),   dY = nu dt + sigma dW,   nu = (mu - sigma^2 / 2) * d + alpha

(d = +1 long, -1 short) reaches the target before the stop with probability p. Barriers are
the log distances of the stop and the target from the start price:

    long:   a = -log(1 - stop / P),   b =  log(1 + target / P)
    short:  a =  log(1 + stop / P),   b = -log(1 - target / P)

For ``both`` (a fair coin at each entry) the reported alpha is the mean of the long and short
solutions.

Two-barrier hitting probability
-------------------------------
For X_t = nu t + sigma W_t, X_0 = 0, the scale function is s(x) = exp(-theta x) with
theta = 2 nu / sigma^2, and

    P(hit +b before -a) = (s(-a) - s(0)) / (s(-a) - s(b))
                        = expm1(theta a) / (expm1(theta a) - expm1(-theta b)).

With c = a + b, the dimensionless drift kappa = theta c and the weights r_a = a / c,
r_b = b / c, this is a function of kappa and the barrier ratio only:

    kappa > 0:  P = expm1(-kappa r_a) / expm1(-kappa)                    (arguments <= 0)
    kappa < 0:  P = exp(kappa r_b) * expm1(kappa r_a) / expm1(kappa)     (arguments <= 0)
    kappa = 0:  P = r_a = a / (a + b)                                    (the martingale case)

Both branches are the same closed form multiplied through so that no exponential has a
positive argument: nothing overflows for any finite (or infinite) drift, P -> 1 as kappa -> +inf
and P -> 0 as kappa -> -inf. ``expm1`` keeps full relative precision as kappa -> 0; below
|kappa| = 1e-12 the first-order series P = r_a + kappa r_a r_b / 2 (error O(kappa^2)) is used
so that subnormal arguments never reach ``expm1``. P is strictly increasing in kappa, hence in
alpha, which makes the root unique.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["win_probability", "solve_alpha", "barrier_log_distances"]

_SERIES_KAPPA = 1e-12     # below this |kappa| the first-order series is exact to double precision
_XTOL = 1e-15             # absolute tolerance in kappa (|dP/dkappa| <= 1/8 near 0)
_RTOL = 4.0 * np.finfo(float).eps
_MAX_EXPAND = 2100        # doublings of the bracket before giving up (2**1024 overflows to inf)


# ---------------------------------------------------------------------------------------------
# hitting probability
# ---------------------------------------------------------------------------------------------
def _p_kappa(kappa: float, ra: float, rb: float) -> float:
    """P(hit +b before -a) from kappa = 2 nu (a + b) / sigma^2, ra = a/(a+b), rb = b/(a+b)."""
    if kappa > 0.0:
        if kappa < _SERIES_KAPPA:
            return ra + 0.5 * kappa * ra * rb
        return math.expm1(-kappa * ra) / math.expm1(-kappa)
    if kappa < 0.0:
        if kappa > -_SERIES_KAPPA:
            return ra + 0.5 * kappa * ra * rb
        return math.exp(kappa * rb) * (math.expm1(kappa * ra) / math.expm1(kappa))
    if kappa == 0.0:
        return ra
    raise ValueError("win_probability: drift is NaN")


def _kappa(drift: float, sigma: float, c: float) -> float:
    """kappa = 2 * drift * c / sigma^2, evaluated so that it overflows to +-inf, never to NaN."""
    if drift == 0.0:
        return 0.0
    return (2.0 * drift * c) / sigma / sigma


def _check_barriers(sigma: float, a: float, b: float) -> None:
    if not (math.isfinite(sigma) and sigma > 0.0):
        raise ValueError(f"volatility must be finite and > 0, got {sigma!r}")
    if not (math.isfinite(a) and a > 0.0):
        raise ValueError(f"stop log distance a must be finite and > 0, got {a!r}")
    if not (math.isfinite(b) and b > 0.0):
        raise ValueError(f"target log distance b must be finite and > 0, got {b!r}")


def _win_probability_scalar(drift, sigma, a, b) -> float:
    drift, sigma, a, b = float(drift), float(sigma), float(a), float(b)
    _check_barriers(sigma, a, b)
    if math.isnan(drift):
        raise ValueError("drift is NaN")
    c = a + b
    return _p_kappa(_kappa(drift, sigma, c), a / c, b / c)


def win_probability(drift, sigma, a, b):
    """Probability that ``drift * t + sigma * W_t`` (from 0) hits ``+b`` before ``-a``.

    Parameters
    ----------
    drift : float
        Annual drift of the (log) process, nu. Any finite or infinite value.
    sigma : float
        Annual volatility, > 0.
    a, b : float
        Log distances of the lower (stop) and upper (target) barriers, both > 0.

    Returns
    -------
    float
        ``expm1(theta a) / (expm1(theta a) - expm1(-theta b))`` with ``theta = 2 drift / sigma^2``;
        ``a / (a + b)`` at zero drift. Evaluated without overflow (see the module docstring).
        If any argument is an array, the arguments are broadcast and an ndarray is returned.

    Raises
    ------
    ValueError
        sigma, a or b not finite and > 0, or drift NaN.
    """
    if any(isinstance(x, np.ndarray) for x in (drift, sigma, a, b)):
        return np.vectorize(_win_probability_scalar, otypes=[float])(drift, sigma, a, b)
    return _win_probability_scalar(drift, sigma, a, b)


# ---------------------------------------------------------------------------------------------
# solving for alpha
# ---------------------------------------------------------------------------------------------
_DIRECTIONS = {1: 1, -1: -1, 0: 0, "long": 1, "short": -1, "both": 0}


def _direction(direction) -> int:
    key = direction.lower() if isinstance(direction, str) else direction
    try:
        if not isinstance(key, str):
            if isinstance(key, bool) or int(key) != key:
                raise KeyError
            key = int(key)
        return _DIRECTIONS[key]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"direction must be 1/'long', -1/'short' or 0/'both', got {direction!r}") \
            from None


def barrier_log_distances(direction, price: float, stop_dist: float,
                          target_dist: float) -> tuple[float, float]:
    """Log distances ``(a, b)`` of the stop and the target from ``price`` for a long or short trade.

    Long:  ``a = -log(1 - stop_dist / price)``, ``b = log(1 + target_dist / price)``.
    Short: ``a = log(1 + stop_dist / price)``,  ``b = -log(1 - target_dist / price)``.

    Raises ValueError when a barrier would sit at or below a zero price (long stop or short
    target distance >= price), or an input is not finite and > 0. ``direction`` must be long or
    short here.
    """
    d = _direction(direction)
    if d == 0:
        raise ValueError("barrier_log_distances: direction must be long or short, not both")
    price, stop_dist, target_dist = float(price), float(stop_dist), float(target_dist)
    if not (math.isfinite(price) and price > 0.0):
        raise ValueError(f"price must be finite and > 0, got {price!r}")
    if not (math.isfinite(stop_dist) and stop_dist > 0.0):
        raise ValueError(f"stop distance must be finite and > 0 (a win rate needs a stop), "
                         f"got {stop_dist!r}")
    if not (math.isfinite(target_dist) and target_dist > 0.0):
        raise ValueError(f"target distance must be finite and > 0 (a win rate needs a target), "
                         f"got {target_dist!r}")
    if d == 1:
        if stop_dist >= price:
            raise ValueError(f"long trade: stop distance {stop_dist:g} must be < price {price:g} "
                             f"(the stop would be at or below zero)")
        return -math.log1p(-stop_dist / price), math.log1p(target_dist / price)
    if target_dist >= price:
        raise ValueError(f"short trade: target distance {target_dist:g} must be < price {price:g} "
                         f"(the target would be at or below zero)")
    return math.log1p(stop_dist / price), -math.log1p(-target_dist / price)


def _solve_kappa(p: float, ra: float, rb: float) -> float:
    """The unique kappa with ``_p_kappa(kappa, ra, rb) == p`` (0 < p < 1).

    The bracket starts at [0, 1] (p above the martingale value ra) or [-1, 0] (below) and its
    outer end doubles until it brackets the root; then plain bisection, which for a monotone
    function needs no safeguards (and spares the CLI importing scipy.optimize: ~0.3 s of
    start-up, measured in docs/performance.md).
    """
    def f(k: float) -> float:
        return _p_kappa(k, ra, rb) - p

    f0 = f(0.0)
    if f0 == 0.0:
        return 0.0
    sign = 1.0 if f0 < 0.0 else -1.0          # direction in which the root lies
    inner, outer = 0.0, sign
    for _ in range(_MAX_EXPAND):
        fo = f(outer)
        if fo == 0.0:
            return outer
        if (fo > 0.0) == (sign > 0.0):        # sign change between inner and outer
            lo, hi = (inner, outer) if sign > 0 else (outer, inner)
            return _bisect(f, lo, hi)
        inner, outer = outer, 2.0 * outer
        if not math.isfinite(outer):
            break
    raise ValueError(f"win rate {p!r} cannot be reached with these barriers "
                     f"(a/(a+b) = {ra:.6g}); it is too close to 0 or 1")


def _bisect(f, lo: float, hi: float) -> float:
    """Root of an increasing ``f`` with ``f(lo) < 0 < f(hi)``, to ``_XTOL + _RTOL |x|``."""
    for _ in range(4000):          # from a 2**1024-wide bracket to 1e-15 takes < 1100 halvings
        mid = 0.5 * (lo + hi)
        if hi - lo <= _XTOL + _RTOL * abs(mid) or mid == lo or mid == hi:
            return mid
        fm = f(mid)
        if fm == 0.0:
            return mid
        if fm < 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _solve_alpha_one(d: int, price, mu, sigma, stop_dist, target_dist, p) -> float:
    a, b = barrier_log_distances(d, price, stop_dist, target_dist)
    c = a + b
    kappa = _solve_kappa(p, a / c, b / c)
    nu = kappa / (2.0 * c) * sigma * sigma      # drift of the direction-adjusted log price
    return nu - d * (mu - 0.5 * sigma * sigma)


def solve_alpha(direction, price: float, mu: float, sigma: float, stop_dist: float,
                target_dist: float, win_rate: float) -> float:
    """Alpha (annual, log-price units) at which a trade wins with probability ``win_rate``.

    Solves ``win_probability((mu - sigma^2/2) * d + alpha, sigma, a, b) = win_rate`` for alpha,
    with (a, b) from :func:`barrier_log_distances`, by bisection on the dimensionless drift
    ``kappa = 2 nu (a + b) / sigma^2`` (on which the probability depends with the barrier ratio
    alone; it is strictly increasing, so the root is unique); then
    ``alpha = kappa sigma^2 / (2 (a + b)) - d (mu - sigma^2 / 2)``.

    Parameters
    ----------
    direction : 1 / "long", -1 / "short", 0 / "both"
        For "both" the result is the mean of the long and the short solutions (SPEC 4).
    price : float
        Start price of the market (> 0).
    mu, sigma : float
        The market's annual drift and volatility (sigma > 0).
    stop_dist, target_dist : float
        Stop and target distances from the entry in price units (> 0; an ATR stop is given at
        the starting ATR by the caller).
    win_rate : float
        Target probability, 0 < win_rate < 1.

    Raises
    ------
    ValueError
        Impossible inputs: stop (long) or target (short) distance >= price, non-positive
        distances or volatility, win_rate outside (0, 1) or not reachable in double precision.
        The caller turns it into a :class:`simcore.errors.ScenarioError`.
    """
    d = _direction(direction)
    p = float(win_rate)
    if not (0.0 < p < 1.0):
        raise ValueError(f"win_rate must be strictly between 0 and 1, got {win_rate!r}")
    mu, sigma = float(mu), float(sigma)
    if not math.isfinite(mu):
        raise ValueError(f"drift mu must be finite, got {mu!r}")
    if not (math.isfinite(sigma) and sigma > 0.0):
        raise ValueError(f"volatility must be finite and > 0 to solve for alpha, got {sigma!r}")
    if d == 0:
        return 0.5 * (_solve_alpha_one(1, price, mu, sigma, stop_dist, target_dist, p)
                      + _solve_alpha_one(-1, price, mu, sigma, stop_dist, target_dist, p))
    return _solve_alpha_one(d, price, mu, sigma, stop_dist, target_dist, p)
