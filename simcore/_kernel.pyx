"""Compiled kernel: simulate one block of paths under a compiled plan.

A line-by-line translation of ``simcore/_kernel_python.py`` (the readable reference, which
documents the model, the random-number layout and the order of events). Inputs are the
read-only arrays of a ``Plan``; outputs go to the caller-owned buffers of a ``BlockOutput``.
The whole block runs without the GIL, so blocks run in parallel threads.

How it is made fast without changing a single bit of the results (docs/performance.md):

* Each path draws from its own stretch of its block's PCG64 streams (the twin's
  ``path_stream``), by numpy's PCG64 compiled inline (``_pcg64.h``) and numpy's ziggurat
  compiled inline (``_ziggurat.h``): the same numbers as numpy's ``Generator``, without an
  indirect call per number. A path runs from its first step to its last before the next one
  starts, so its state stays in the first-level cache; a ruined path stops drawing.
* Exit tests skip ``exp()`` where a bound on ``-ln(u)`` from the uniform's exponent and the
  top 8 bits of its mantissa already decides them (``neglog_ub``, ``below_exp``,
  ``above_one_minus_exp``); an entry whose limits certainly allow the tier's count skips the
  sizing divisions (``at_least``); the ATR's ``sqrt`` is taken only where an ATR stop needs
  it (``mkt_sq``).
* A step's exit uniforms and entry coins (one per market, the twin's layout) are computed only
  where they are used, from the stream's state at the step's start and the PCG64 jump by
  i + 1 draws; the stream moves on by M draws in one affine map.
* A path's markets are an array of ``Mkt`` records, markets innermost, so they share a few
  cache lines; the path's cash, peak, equity, regime, tier and counters are scalars of
  ``State`` (paths run one at a time), copied to the outputs when the path ends.
* Whatever does not depend on the path -- the volatility after multipliers, ``sig*sqrt(dt)``,
  the step variance, the drift times ``dt`` (flat, long, short) -- is computed once per
  block with the very operations the twin performs per step, so the values are identical.
* ``price = exp(log price)`` is only computed where it is used (the equity of open
  positions, fills, entry attempts), at most once per log price; the twin computes it for
  every market every step, to the same value.
* The equity a step starts with is the equity the previous step ended with (the same
  sum of the same numbers), unless a gap moved prices in between.
* Most entry attempts are skips (a market waiting for equity or margin room). When the
  skip and its reason are certain from comparisons with wide margins, the attempt is
  counted without the divisions and without exp() for the price (``quick_skip``);
  otherwise the twin's computation decides. Likewise the drawdown's division is skipped
  when the drawdown is certainly neither a new maximum nor at the ruin level.
* The correlation review (``rules.correlation_review``) touches the hot loop only through two
  tests of the plan's action per entry attempt and one store per market per day (the ring of
  daily log returns); its ring, flags and scratch are allocated only when the rule is on, once
  per block (paths run one at a time: M x window doubles). A review recomputes the Pearson sums
  from the ring (``corr_review``, the twin's function of the same name). An entry of a flagged
  market under ``scale_risk`` bypasses ``quick_skip`` and ``at_least`` and takes the twin's
  exact computation (it also needs the unscaled count, to tell reduced and skipped entries).
* Real history (``plan.hist_mode``, SPEC 11; the twin's ``hist_day``) is a branch at the top
  of the step: a history plan runs ``hist_day`` (open, entries, the day's range, time stop)
  instead of the GBM draws and moves, then the same accounting (E) and day end (F, where
  Wilder's ATR replaces the EWMA). The GBM step itself is the code it was; the only shared
  change is that entries (B) are one function, ``enter_markets``, called by both. The pool
  arrays are read-only ``[dates x markets (x 4)]``; a path's dates (``S.seq``, n_days int32,
  allocated only for history) are drawn at its start from the 7th stream, ``dates``. An ATR
  stop on history takes the exact sizing (``quick_skip`` bounds only the GBM ATR).
"""
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.math cimport exp, floor, isfinite, log, sqrt, INFINITY, M_PI
from libc.string cimport memcpy
from libc.stdint cimport int8_t, int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free
from numpy.random cimport bitgen_t

import numpy as np

# A stop request for every block running in this process (Ctrl-C, runner.run_tasks): read at
# each path's start and each day's end, so a long block ends within a day of its paths. Not a
# part of the model (the twin has none); a stopped block's outputs are incomplete and the
# runner discards them.
cdef extern from *:
    """
    static volatile int simrisk_stop_requested = 0;
    """
    int simrisk_stop_requested


def request_stop():
    """Ask every running block to end early (simulate_block then raises KeyboardInterrupt)."""
    global simrisk_stop_requested
    simrisk_stop_requested = 1


def clear_stop():
    global simrisk_stop_requested
    simrisk_stop_requested = 0

cdef double ATR_K = sqrt(8.0 / M_PI)
cdef double WILDER_W = 1.0 / 14.0
cdef double BRIDGE_QMAX = 37.0
cdef double BIG = 1e18

cdef enum:
    BOTH = 0
    STOP_NONE = 0
    STOP_ATR = 1
    STOP_FIXED = 2
    TARGET_NONE = 0
    TARGET_R = 1
    TARGET_FIXED = 2
    SKIP_RISK = 0
    SKIP_MARGIN_CAP = 1
    SKIP_FUNDS = 2
    EXIT_STOP = 1
    EXIT_TARGET = 2
    EXIT_TIME = 3
    EXIT_FORCED = 4
    EXIT_END = 5
    EXIT_GAP = 6
    CORR_OFF = 0
    CORR_SCALE = 1
    CORR_ONE_PER_PAIR = 2
    HIST_OFF = 0
    HIST_REPLAY = 1
    HIST_BOOTSTRAP = 2
    ORDER_STOP_FIRST = 1


cdef struct Mkt:
    # one market of one path; a block holds n * M of them, markets innermost
    double logp         # log price
    double lref         # the last log price whose exp() was taken ...
    double pref         # ... and its exp(): the price is pref whenever logp == lref
    double lclose       # log price at the previous day's close (ATR)
    double s2           # ATR's EWMA of squared daily log returns
    double sq           # sqrt(s2), valid when sq_ok (taken only where an ATR stop needs it)
    double x0           # log price at the start of this step (history: the day's open)
    double atr          # history: Wilder's ATR(14) of the path's bars, price units
    # the open position (is_open)
    double entry
    double D            # stop distance at entry (0 = no stop)
    double stop
    double lstop
    double target
    double ltarget
    int32_t pc          # contract index
    int32_t pn          # contracts held
    int32_t pdir        # +1 / -1
    int32_t held        # steps held
    int32_t next_entry  # first step at which a new entry may be tried
    int8_t is_open
    int8_t dsel         # drift while open: 0 flat, 1 long, 2 short (MktConst.ddt)
    int8_t has_stop
    int8_t has_target
    int8_t sq_ok


cdef struct MktConst:
    # per (stress window w, regime g, market i): the path-independent part of a move,
    # computed with the same operations, in the same order, as the twin's per-step code
    double sig          # sigma * volmult
    double sqd          # sig * sqrt(dt)
    double v            # sig * sig * dt (the step variance, normal shocks)
    double ddt[3]       # drift * dt: flat (mu - sig^2 / 2) * dt; long, + alpha; short, - alpha


cdef struct State:
    # the path being simulated (paths run one at a time: scalars, not arrays over paths)
    int8_t alive
    double cash
    double peak
    double E            # equity at the end of the last step
    int32_t regime
    int32_t tier
    # ... and its counters, copied to OutC when the path ends
    double max_dd
    int32_t trades
    int32_t wins
    int32_t skipped
    Mkt *mk             # [n * M]
    MktConst *mc        # [2 * G * M]
    # this path's draws for this step [M]
    double *z
    # this step's exit uniforms and entry coins, one per market, computed only where used: the
    # stream's state at the step's start (x0s, d0s) and the jumps by i + 1 draws (xa/xc, da/dc [M])
    simrisk_u128 x0s
    simrisk_u128 d0s
    simrisk_u128 *xa
    simrisk_u128 *xc
    simrisk_u128 *da
    simrisk_u128 *dc
    # this path's draws at a day boundary [M]
    double *u_gap
    double *z_gap
    # the correlation review (NULL when off); paths run one at a time, so one ring serves the
    # block: the last W daily log returns per market [M * W], market-major
    double *ring
    int8_t *flag        # [M * M] pair (i, j) flagged at the last review
    int8_t *mflag       # [M] market in a flagged pair
    double *cmean       # [M] review scratch: means ...
    double *csxx        # [M] ... and centred sums of squares
    # history (NULL without): the path's pool date of each day [n_days]
    int32_t *seq


cdef inline void close_pos(const PlanC *P, OutC *O, State *S, Py_ssize_t p, Py_ssize_t i,
                           double fill, int kind, Py_ssize_t t) noexcept nogil:
    cdef Mkt *m = &S.mk[p * P.M + i]
    cdef int c = m.pc
    cdef int nq = m.pn
    cdef int s = m.pdir
    cdef double gross = s * nq * P.pv[c] * (fill - m.entry)
    cdef double pnl, R
    cdef bint win
    S.cash += gross - nq * P.comm[c]
    pnl = gross - 2 * nq * P.comm[c]
    S.trades += 1
    O.m_trades[i] += 1
    win = pnl > 0.0
    if win:
        S.wins += 1
        O.m_wins[i] += 1
    R = 0.0
    if m.D > 0.0:
        R = pnl / (m.D * P.pv[c] * nq)
        if win:
            O.m_win_r[i] += R
            O.m_win_rn[i] += 1
        else:
            O.m_loss_r[i] += R
            O.m_loss_rn[i] += 1
    if kind == EXIT_GAP:
        O.m_gap_fills[i] += 1
        if m.D > 0.0 and R < -1.0:
            O.m_beyond_1r[i] += 1
    m.is_open = 0
    m.dsel = 0
    m.next_entry = <int32_t>(t + 1 + P.cooldown[i])


cdef inline double mkt_price(Mkt *m) noexcept nogil:
    """exp(m.logp), the market's price, computed at most once per log price."""
    if m.lref != m.logp:
        m.pref = exp(m.logp)
        m.lref = m.logp
    return m.pref


cdef inline void settle_exit(const PlanC *P, OutC *O, State *S, Py_ssize_t p, Py_ssize_t i,
                             Mkt *m, int hit, Py_ssize_t t) noexcept nogil:
    """An open trade's exit decision carried out (the twin's ``settle_exit``): the time stop
    where neither level was hit, then the fill -- a stop less slippage, the target, or the
    step's price less slippage for a time exit."""
    cdef int s = m.pdir
    if hit == 0 and P.max_hold[i] > 0 and m.held >= P.max_hold[i]:
        hit = EXIT_TIME
    if hit == EXIT_STOP:
        close_pos(P, O, S, p, i, m.stop - s * (P.slip_ticks * P.tick[m.pc]), hit, t)
    elif hit == EXIT_TARGET:
        close_pos(P, O, S, p, i, m.target, hit, t)
    elif hit == EXIT_TIME:
        close_pos(P, O, S, p, i, mkt_price(m) - s * (P.slip_ticks * P.tick[m.pc]), hit, t)


cdef inline double mkt_sq(Mkt *m) noexcept nogil:
    """sqrt(m.s2), the ATR's daily volatility, computed at most once per update of s2."""
    if not m.sq_ok:
        m.sq = sqrt(m.s2)
        m.sq_ok = 1
    return m.sq


cdef inline double path_equity(const PlanC *P, State *S, Py_ssize_t p) noexcept nogil:
    cdef Py_ssize_t i
    cdef Mkt *m = &S.mk[p * P.M]
    cdef double E = S.cash
    for i in range(P.M):
        if m[i].is_open:
            E += m[i].pdir * m[i].pn * P.pv[m[i].pc] * (mkt_price(&m[i]) - m[i].entry)
    return E


cdef inline void liquidate(const PlanC *P, OutC *O, State *S, Py_ssize_t p, Py_ssize_t t,
                           bint slip_on) noexcept nogil:
    cdef Py_ssize_t i
    cdef Mkt *m = &S.mk[p * P.M]
    cdef double fill
    for i in range(P.M):
        if m[i].is_open:
            fill = mkt_price(&m[i])
            if slip_on:
                fill = fill - m[i].pdir * (P.slip_ticks * P.tick[m[i].pc])
            close_pos(P, O, S, p, i, fill, EXIT_FORCED if slip_on else EXIT_END, t)


cdef inline void void_path(OutC *O, State *S, Py_ssize_t p, double E, Py_ssize_t day) noexcept nogil:
    """A path whose state became non-finite: flagged (the runner refuses the run), stopped."""
    O.nonfinite[p] = 1
    O.stop_day[p] = <int32_t>day
    O.final_equity[p] = E
    O.peak_equity[p] = S.peak
    S.alive = 0


cdef inline double track_drawdown(OutC *O, State *S, Py_ssize_t p, double E) noexcept nogil:
    cdef double dd
    if E > S.peak:
        S.peak = E
    if S.peak > 0.0:
        dd = (S.peak - E) / S.peak
    else:
        dd = 1.0
    if dd > S.max_dd:
        S.max_dd = dd
    return dd


cdef double DD_K = 1.0 - 2.0 ** -40


cdef inline bint drawdown_step(OutC *O, State *S, Py_ssize_t p, double E,
                               double ruin_dd) noexcept nogil:
    """track_drawdown(E), then: is the drawdown >= ruin_dd? The division is skipped when
    the drawdown is certainly neither a new maximum nor at the ruin level (same results)."""
    cdef double pk, num, dd
    if E > S.peak:
        S.peak = E
    pk = S.peak
    if pk > 0.0:
        num = pk - E
        # num <= pk * max_dd * (1 - 2**-40) => num / pk < max_dd * (1 - 2**-41): its rounding
        # is <= max_dd (no new maximum); likewise < ruin_dd
        if pk < HUGE and num <= pk * S.max_dd * DD_K and num < pk * ruin_dd * DD_K:
            return False
        dd = num / pk
    else:
        dd = 1.0
    if dd > S.max_dd:
        S.max_dd = dd
    return dd >= ruin_dd


cdef inline int initial_tier(const PlanC *P, double E) noexcept nogil:
    cdef int j, tr = 0
    for j in range(P.K):
        if E >= P.tier_thr[j]:
            tr = j
    return tr


cdef inline int next_tier(const PlanC *P, int cur, double E) noexcept nogil:
    cdef int j, tr = 0
    for j in range(P.K):
        if E >= P.tier_thr[j] or (j <= cur and E >= P.tier_thr[j] * (1.0 - P.tier_buf[j])):
            tr = j
    return tr


# ---- the quick skip test ---------------------------------------------------------------------
# An entry is skipped when floor(a / b) <= 0 for one of its three limits (risk, margin cap,
# funds), i.e. when fl(a / b) < 1. Most attempts are skips (a market waiting for equity), and
# most of them are far from the edge: then the outcome, and its reason, follow from
# comparisons without the division and, for ATR stops, without exp() for the price. Where the
# comparisons cannot tell, the exact computation (the twin's) decides. See below_one for the
# margins; they are far wider than every rounding error involved.
cdef double NEAR_ONE = 1.0 - 2.0 ** -40     # below_one: a < b * NEAR_ONE => a / b < 1 - 2**-41
cdef double P_LO = 1.0 - 2.0 ** -40         # price bounds: rounding slack on both sides
cdef double P_HI = 1.0 + 2.0 ** -40
cdef double TINY = 1e-290
cdef double HUGE = 1e290


cdef inline int below_one(double a, double b) noexcept nogil:
    """Is fl(a / b) < 1 (so floor(a / b) <= 0)? 1: certainly; 0: certainly not; -1: too close
    to tell without dividing, or b not a positive normal number, or a NaN."""
    if not (b > TINY and b < HUGE):
        return -1
    if a >= b:                  # a / b >= 1 exactly, so its rounding is >= 1
        return 0
    if a < b * NEAR_ONE:        # a / b < 1 - 2**-41, so its rounding is < 1
        return 1
    return -1


cdef double NEAR_UP = 1.0 + 2.0 ** -40


cdef inline bint at_least(double a, double b, double N) noexcept nogil:
    """Is floor(a / b) >= N (N a whole number >= 1) certainly? a >= N b (1 + 2**-40), computed,
    means a / b > N (1 + 2**-41), whose rounding is >= N. False: not certain (or b not a
    positive normal number, or a NaN)."""
    return b > TINY and b < HUGE and a >= N * b * NEAR_UP


cdef enum:
    QS_UNSURE = 0       # compute exactly
    QS_SKIP = 1         # certainly skipped, for *reason
    QS_FUNDS = 2        # the risk and margin-cap limits certainly allow a contract: test funds


cdef inline int quick_skip(const PlanC *P, Mkt *m, Py_ssize_t i, Py_ssize_t c, double E,
                           int *reason) noexcept nogil:
    """The risk and margin-cap limits of an entry attempt, by the exact rule of the twin
    (a skip is counted under risk first, then margin cap, then funds), where certain."""
    cdef int sk = P.stop_kind[i]
    cdef int rz, cz
    cdef double a, slip, d, plo, phi, k, den_lo, den_hi
    slip = P.slip_ticks * P.tick[c]
    if sk == STOP_NONE:
        rz = 0                                  # n_risk = BIG
    elif sk == STOP_FIXED:
        rz = below_one(P.risk_per_trade * E,
                       P.stop_val[i] * P.pv[c] + slip * P.pv[c] + 2.0 * P.comm[c])
    elif P.hist_mode != HIST_OFF:
        return QS_UNSURE                        # history's ATR stops: the exact computation
    else:
        # ATR stop: D = k * price * sqrt(s2) needs the price exp(logp). Bound it from the last
        # exp() taken, exp(lref) = pref: with d = logp - lref, |d| < 1/4,
        #   pref * (1 + d) <= exp(logp) <= pref * (1 + d + d*d)   (up to rounding: P_LO, P_HI)
        # and the denominator, computed by the same (monotone) operations, is bounded too.
        d = m.logp - m.lref
        k = P.stop_val[i] * ATR_K
        if not (d > -0.25 and d < 0.25 and k > 0.0 and P.pv[c] > 0.0):
            return QS_UNSURE
        a = P.risk_per_trade * E
        phi = m.pref * ((1.0 + d) + d * d) * P_HI
        den_hi = k * phi * mkt_sq(m) * P.pv[c] + slip * P.pv[c] + 2.0 * P.comm[c]
        if below_one(a, den_hi) == 0:           # at least one contract even at the highest price
            rz = 0
        else:
            plo = m.pref * (1.0 + d) * P_LO
            den_lo = k * plo * mkt_sq(m) * P.pv[c] + slip * P.pv[c] + 2.0 * P.comm[c]
            if below_one(a, den_lo) == 1:       # below one contract even at the lowest price
                rz = 1
            else:
                return QS_UNSURE
    if rz == 1:
        reason[0] = SKIP_RISK
        return QS_SKIP
    if rz < 0:
        return QS_UNSURE
    if P.margin_cap < BIG:
        cz = below_one(P.margin_cap * E, P.im[c])
        if cz == 1:
            reason[0] = SKIP_MARGIN_CAP
            return QS_SKIP
        if cz < 0:
            return QS_UNSURE
    return QS_FUNDS


# ---- exits: the corridor law of a Brownian bridge (the twin's exit_decision) -----------------

# Most exit tests are far from their threshold: u < exp(-q) with q well above -ln(u). Where the
# outcome is certain from u's binary exponent and the top 8 bits of its mantissa, the exp() is not
# taken (the twin always takes it; the decision is the same).
# neglog_ub(x) = -e ln 2 - LNM[j] >= -ln(x) for x = m 2^e, 1 <= m < 2, m >= 1 + j/256 (j: the top
# 8 mantissa bits): LNM[j] = log(1 + j/256) - 1e-12, so the bound is above -ln(x) by at least
# 1e-12 - 1.5e-13 (the rounding of -e ln 2 and of log()) and at most ln(1 + 1/256) + 1e-12 (the
# old bound, -e ln 2, was up to ln 2 above). The callers' margins are unchanged.
cdef double LN2 = 0.6931471805599453
cdef double LNM[256]


cdef void _fill_lnm() noexcept:
    cdef int j
    for j in range(256):
        LNM[j] = log(1.0 + j / 256.0) - 1e-12


_fill_lnm()


cdef inline double neglog_ub(double x) noexcept nogil:
    """An upper bound of -ln(x) for 0 < x <= 1 (inf for 0 or a subnormal x)."""
    cdef uint64_t bits
    cdef int ex
    memcpy(&bits, &x, sizeof(double))
    ex = <int>((bits >> 52) & 0x7ff)
    if ex == 0:
        return INFINITY
    return (1023 - ex) * LN2 - LNM[(bits >> 44) & 0xff]


cdef inline bint below_exp(double u, double q) noexcept nogil:
    """u < exp(-q). Certainly false when q > -ln(u) + 1e-9: then u >= exp(-q) (1 + 1e-9), above
    exp()'s rounding."""
    if q > neglog_ub(u) + 1e-9:
        return False
    return u < exp(-q)


cdef inline bint above_one_minus_exp(double u, double q) noexcept nogil:
    """u >= 1 - exp(-q). Certainly false when q > -ln(1 - u) + 0.7: then exp(-q) < 0.4966 (1 - u)
    and 1 - exp(-q), even rounded, stays above u (the slack exceeds half a unit in the last place
    of numbers near u, since 1 - u >= 2**-53 for a uniform below 1)."""
    if q > neglog_ub(1.0 - u) + 0.7:
        return False
    return u >= 1.0 - exp(-q)


cdef inline bint corridor_series_test(double u, bint upper, double q_first, double d0, double d1,
                                      double w, double v) noexcept nogil:
    """u < S (upper False: the stop's test) or u >= 1 - S (upper True: the target's), S the
    image series of the first exit through the barrier at distances d0, d1; lazily, as in the
    twin's corridor_series_test (same terms, same order, same cut-off)."""
    cdef double S
    cdef double jw, e
    cdef Py_ssize_t j = 1
    # the first bracket's test without exp() where it certainly fails (S <= exp(-q_first) (1 +
    # 2**-52) < x when q_first > -ln(x) + 1e-9, x = u or 1 - u)
    if q_first > neglog_ub((1.0 - u) if upper else u) + 1e-9:
        return False
    S = exp(-q_first)
    if not ((1.0 - u <= S) if upper else (u < S)):
        return False
    while True:
        jw = j * w
        e = 2.0 * jw * (jw + d1 - d0) / v
        if e >= BRIDGE_QMAX:
            return True
        S -= exp(-e)
        if (1.0 - u <= S) if upper else (u < S):
            return True
        e = 2.0 * (jw + d0) * (jw + d1) / v
        if e >= BRIDGE_QMAX:
            return False
        S += exp(-e)
        if not ((1.0 - u <= S) if upper else (u < S)):
            return False
        j += 1


cdef inline int exit_decision(int s, double x0, double x1, bint has_stop, double lstop,
                              bint has_target, double ltarget, double v, double u) noexcept nogil:
    """EXIT_STOP, EXIT_TARGET or 0: the twin's exit_decision, expression for expression."""
    cdef double qs = BRIDGE_QMAX, qt = BRIDGE_QMAX
    cdef double p0 = 0.0, p1 = 0.0, q0 = 0.0, q1 = 0.0, w
    if has_stop:
        p0 = s * (x0 - lstop)
        p1 = s * (x1 - lstop)
        if p1 <= 0.0 or p0 <= 0.0:
            if not has_target or p0 <= 0.0:
                return EXIT_STOP
            q0 = s * (ltarget - x0)
            q1 = s * (ltarget - x1)
            qt = 2.0 * q0 * q1 / v
            if qt < BRIDGE_QMAX and corridor_series_test(u, True, qt, q0, q1,
                                                         s * (ltarget - lstop), v):
                return EXIT_TARGET
            return EXIT_STOP
        qs = 2.0 * p0 * p1 / v
    if has_target:
        q0 = s * (ltarget - x0)
        q1 = s * (ltarget - x1)
        if q1 <= 0.0 or q0 <= 0.0:
            if q0 > 0.0 and has_stop and qs < BRIDGE_QMAX and corridor_series_test(
                    u, False, qs, p0, p1, s * (ltarget - lstop), v):
                return EXIT_STOP
            return EXIT_TARGET
        qt = 2.0 * q0 * q1 / v
    if qs >= BRIDGE_QMAX:
        if qt < BRIDGE_QMAX and above_one_minus_exp(u, qt):
            return EXIT_TARGET
        return 0
    if qt >= BRIDGE_QMAX:
        return EXIT_STOP if below_exp(u, qs) else 0
    w = s * (ltarget - lstop)
    if corridor_series_test(u, False, qs, p0, p1, w, v):
        return EXIT_STOP
    if corridor_series_test(u, True, qt, q0, q1, w, v):
        return EXIT_TARGET
    return 0


# ---- the correlation review (the twin's functions of the same names) --------------------------
# The Pearson sums are recomputed from the ring at each review (reviews are rare): exact for the
# window, in the twin's order of operations (slots k = 0 .. W - 1).

cdef inline bint is_review_day(Py_ssize_t day, int every, int W) noexcept nogil:
    return day % every == 0 and day >= W


cdef inline double pair_correlation(double sxy, double sxx, double syy) noexcept nogil:
    cdef double den = sqrt(sxx * syy)
    cdef double r
    if not (den > 0.0 and den < INFINITY):
        return 0.0
    r = sxy / den
    if r > 1.0:
        r = 1.0
    elif r < -1.0:
        r = -1.0
    return r


cdef inline void ring_moments(const double *ring, Py_ssize_t M, Py_ssize_t W, double *mean,
                              double *sxx) noexcept nogil:
    cdef Py_ssize_t i, k
    cdef double s, mi, ss, dx
    for i in range(M):
        s = 0.0
        for k in range(W):
            s += ring[i * W + k]
        mi = s / W
        ss = 0.0
        for k in range(W):
            dx = ring[i * W + k] - mi
            ss += dx * dx
        mean[i] = mi
        sxx[i] = ss


cdef inline double ring_pair_r(const double *ring, Py_ssize_t W, Py_ssize_t i, Py_ssize_t j,
                               const double *mean, const double *sxx) noexcept nogil:
    cdef Py_ssize_t k
    cdef double sxy = 0.0
    for k in range(W):
        sxy += (ring[i * W + k] - mean[i]) * (ring[j * W + k] - mean[j])
    return pair_correlation(sxy, sxx[i], sxx[j])


cdef inline int corr_review(State *S, Py_ssize_t M, Py_ssize_t W, double limit) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef int nf = 0
    cdef int8_t f
    ring_moments(S.ring, M, W, S.cmean, S.csxx)
    for i in range(M):
        S.mflag[i] = 0
    for i in range(M):
        for j in range(i + 1, M):
            f = 1 if ring_pair_r(S.ring, W, i, j, S.cmean, S.csxx) >= limit else 0
            S.flag[i * M + j] = f
            S.flag[j * M + i] = f
            if f:
                S.mflag[i] = 1
                S.mflag[j] = 1
                nf += 1
    return nf


cdef inline bint pair_partner_open(const int8_t *flag, Py_ssize_t M, Py_ssize_t i,
                                   const Mkt *mk) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(M):
        if flag[i * M + j] and mk[j].is_open:
            return True
    return False


cdef inline void enter_markets(const PlanC *P, OutC *O, State *S, Py_ssize_t p, Py_ssize_t t,
                               bint fresh_E) noexcept nogil:
    """B. entries at the step's start (the twin's ``enter``), shared by the GBM step and the
    history day: every flat market past its cooldown that the current tier trades opens
    n = min(n_tier, n_risk, n_cap, n_funds) contracts at the price plus slippage. ``fresh_E``:
    prices moved since the last step's end (a gap, a history open): the equity is recomputed."""
    cdef Py_ssize_t M = P.M
    cdef Py_ssize_t i, j, c
    cdef Mkt *mk = &S.mk[p * M]
    cdef Mkt *m
    cdef int s, sk, tk, tr, nq, reason = 0, qs
    cdef bint have_sum_im, scaled
    cdef double E, sum_im, Pr, D, slip, den, n_tier, n_risk = 0.0, n_cap = 0.0, n_funds, nd, fill
    cdef double stop, target, rpt, nd0, n_risk0
    cdef bint hist = P.hist_mode != HIST_OFF
    tr = S.tier
    E = S.E
    sum_im = 0.0
    have_sum_im = False     # summed at the first attempt that needs it
    for i in range(M):
        m = &mk[i]
        if m.is_open or t < m.next_entry:
            continue
        c = P.tier_contract[tr * M + i]
        if c < 0 or P.tier_max[tr * M + i] <= 0:
            continue
        if (P.corr_action == CORR_ONE_PER_PAIR and S.mflag[i]
                and pair_partner_open(S.flag, M, i, mk)):
            O.m_corr_skip[i] += 1
            S.skipped += 1
            continue
        scaled = P.corr_action == CORR_SCALE and S.mflag[i] != 0
        if scaled:
            rpt = P.risk_per_trade * P.corr_scale
        else:
            rpt = P.risk_per_trade
        if fresh_E:
            E = path_equity(P, S, p)
            fresh_E = False
        if scaled:
            qs = QS_UNSURE      # a scaled entry takes the exact computation
        else:
            qs = quick_skip(P, m, i, c, E, &reason)
        if qs != QS_SKIP:
            if not have_sum_im:
                have_sum_im = True
                for j in range(M):
                    if mk[j].is_open:
                        sum_im += mk[j].pn * P.im[mk[j].pc]
            if qs == QS_FUNDS and below_one(E - sum_im, P.im[c]) == 1:
                qs = QS_SKIP
                reason = SKIP_FUNDS
        if qs == QS_SKIP:
            O.m_skip[i * 3 + reason] += 1
            S.skipped += 1
            continue
        Pr = mkt_price(m)
        s = P.dir_mode[i]
        if s == BOTH:
            s = 1 if simrisk_pcg64_double_from(S.d0s, S.da[i], S.dc[i]) < 0.5 else -1
        sk = P.stop_kind[i]
        if sk == STOP_ATR:
            if hist:
                D = P.stop_val[i] * m.atr      # Wilder's ATR(14) of the path's bars
            else:
                D = P.stop_val[i] * ATR_K * Pr * mkt_sq(m)      # sqrt(m.s2)
        elif sk == STOP_FIXED:
            D = P.stop_val[i]
        else:
            D = 0.0
        slip = P.slip_ticks * P.tick[c]
        n_tier = <double>P.tier_max[tr * M + i]
        den = D * P.pv[c] + slip * P.pv[c] + 2.0 * P.comm[c]
        if (not scaled and (sk == STOP_NONE or at_least(rpt * E, den, n_tier))
                and (P.margin_cap >= BIG or at_least(P.margin_cap * E, P.im[c], n_tier))
                and at_least(E - sum_im, P.im[c], n_tier)):
            nd = n_tier     # every limit certainly allows the tier's count: the
                            # twin's min() is n_tier, without the divisions
        else:
            if sk != STOP_NONE:
                n_risk = floor(rpt * E / den)
            else:
                n_risk = BIG
            if P.margin_cap < BIG:
                n_cap = floor(P.margin_cap * E / P.im[c])
            else:
                n_cap = BIG
            n_funds = floor((E - sum_im) / P.im[c])
            nd = n_tier
            if n_risk < nd:
                nd = n_risk
            if n_cap < nd:
                nd = n_cap
            if n_funds < nd:
                nd = n_funds
        nd0 = nd
        if scaled:
            # the count without the review's scaling (twin: nd0)
            if sk != STOP_NONE:
                n_risk0 = floor(P.risk_per_trade * E / den)
            else:
                n_risk0 = BIG
            nd0 = n_tier
            if n_risk0 < nd0:
                nd0 = n_risk0
            if n_cap < nd0:
                nd0 = n_cap
            if n_funds < nd0:
                nd0 = n_funds
        if nd <= 0.0 and nd0 > 0.0:     # the review skipped it
            O.m_corr_skip[i] += 1
            S.skipped += 1
            continue
        if nd <= 0.0:
            if n_risk <= 0.0:
                reason = SKIP_RISK
            elif n_cap <= 0.0:
                reason = SKIP_MARGIN_CAP
            else:
                reason = SKIP_FUNDS
            O.m_skip[i * 3 + reason] += 1
            S.skipped += 1
            continue
        nq = <int>nd
        fill = Pr + s * slip
        if sk != STOP_NONE and fill - s * D <= 0.0:   # a stop at/below zero: skip
            O.m_skip[i * 3 + SKIP_RISK] += 1
            S.skipped += 1
            continue
        if nd < nd0:
            O.m_corr_reduced[i] += 1
        m.is_open = 1
        m.dsel = 1 if s > 0 else 2
        m.pc = <int32_t>c
        m.pn = nq
        m.pdir = s
        m.entry = fill
        m.D = D
        m.held = 0
        m.has_stop = 0
        m.has_target = 0
        if sk != STOP_NONE:
            stop = fill - s * D    # > 0: entries with a stop at/below 0 were skipped
            m.has_stop = 1
            m.stop = stop
            m.lstop = log(stop)
        tk = P.target_kind[i]
        if tk != TARGET_NONE:
            if tk == TARGET_R:
                target = fill + s * (P.target_val[i] * D)
            else:
                target = fill + s * P.target_val[i]
            if target > 0.0:
                m.has_target = 1
                m.target = target
                m.ltarget = log(target)
        S.cash -= nq * P.comm[c]
        E = E - nq * P.comm[c] - nq * P.pv[c] * slip
        sum_im += nq * P.im[c]



# ---- real history (SPEC 11): the twin's history_dates, corridor_prob, bar_exit, hist_day -------

cdef inline void history_dates(const PlanC *P, Py_ssize_t p, simrisk_pcg64 *rng,
                               int32_t *seq) noexcept nogil:
    """Path p's pool date of each day (the twin's history_dates, draw for draw)."""
    cdef Py_ssize_t T = P.n_days, N = P.hist_n, t, j, start
    cdef double stay
    if P.hist_mode == HIST_REPLAY:
        start = (P.hist_first + p) % P.hist_nstart
        for t in range(T):
            seq[t] = <int32_t>(start + t)
        return
    stay = 1.0 - 1.0 / P.hist_block
    j = <Py_ssize_t>(simrisk_pcg64_double(rng) * N)
    if j >= N:
        j = N - 1
    seq[0] = <int32_t>j
    for t in range(1, T):
        if simrisk_pcg64_double(rng) < stay:
            j += 1
            if j == N:
                j = 0
        else:
            j = <Py_ssize_t>(simrisk_pcg64_double(rng) * N)
            if j >= N:
                j = N - 1
        seq[t] = <int32_t>j


cdef inline double corridor_prob(double d0, double d1, double w, double v) noexcept nogil:
    cdef double e, S, jw
    cdef Py_ssize_t j = 1
    e = 2.0 * d0 * d1 / v
    if e >= BRIDGE_QMAX:
        return 0.0
    S = exp(-e)
    while True:
        jw = j * w
        e = 2.0 * jw * (jw + d1 - d0) / v
        if e >= BRIDGE_QMAX:
            return S
        S -= exp(-e)
        e = 2.0 * (jw + d0) * (jw + d1) / v
        if e >= BRIDGE_QMAX:
            return S
        S += exp(-e)
        j += 1


cdef inline int bar_exit(int s, double xo, double xh, double xl, double xc, bint has_stop,
                         double lstop, bint has_target, double ltarget, double v, double u,
                         int order) noexcept nogil:
    cdef double xa, xf, p0, p1, q0, q1, ps, pt, w
    cdef bint hs, ht
    if s > 0:
        xa = xl
        xf = xh
    else:
        xa = xh
        xf = xl
    hs = has_stop and s * (xa - lstop) <= 0.0
    ht = has_target and s * (xf - ltarget) >= 0.0
    if hs and ht:
        if order == ORDER_STOP_FIRST:
            return EXIT_STOP
        p0 = s * (xo - lstop)
        p1 = s * (xc - lstop)
        q0 = s * (ltarget - xo)
        q1 = s * (ltarget - xc)
        if p0 <= 0.0:
            return EXIT_STOP
        if q0 <= 0.0:
            return EXIT_TARGET
        ps = 0.0
        pt = 0.0
        if v > 0.0:
            w = s * (ltarget - lstop)
            if p1 <= 0.0:
                pt = corridor_prob(q0, q1, w, v)
                ps = 1.0 - pt
            elif q1 <= 0.0:
                ps = corridor_prob(p0, p1, w, v)
                pt = 1.0 - ps
            else:
                ps = corridor_prob(p0, p1, w, v)
                pt = corridor_prob(q0, q1, w, v)
        if ps + pt > 0.0:
            return EXIT_STOP if u * (ps + pt) < ps else EXIT_TARGET
        return EXIT_STOP if p0 <= q0 else EXIT_TARGET
    if hs:
        return EXIT_STOP
    if ht:
        return EXIT_TARGET
    return 0


cdef inline void hist_day(const PlanC *P, OutC *O, State *S, Py_ssize_t p, Py_ssize_t t,
                          Py_ssize_t idx) noexcept nogil:
    """One day of real history for path p on pool date idx (the twin's hist_day)."""
    cdef Py_ssize_t M = P.M, i
    cdef Mkt *mk = &S.mk[p * M]
    cdef Mkt *m
    cdef const double *rel
    cdef double x, lc, xh, xl, xc
    cdef int s, hit
    for i in range(M):
        m = &mk[i]
        x = m.lclose + P.hist_lrel[(idx * M + i) * 4]
        m.x0 = x
        m.logp = x
        if not m.is_open:
            continue
        s = m.pdir
        if m.has_stop and s * (x - m.lstop) <= 0.0:
            close_pos(P, O, S, p, i, mkt_price(m) - s * (P.slip_ticks * P.tick[m.pc]), EXIT_GAP, t)
        elif m.has_target and s * (x - m.ltarget) >= 0.0:
            close_pos(P, O, S, p, i, mkt_price(m), EXIT_TARGET, t)
    enter_markets(P, O, S, p, t, True)
    for i in range(M):
        m = &mk[i]
        rel = P.hist_lrel + (idx * M + i) * 4
        lc = m.lclose
        xh = lc + rel[1]
        xl = lc + rel[2]
        xc = lc + rel[3]
        m.logp = xc
        if not m.is_open:
            continue
        m.held += 1
        s = m.pdir
        hit = bar_exit(s, m.x0, xh, xl, xc, m.has_stop, m.lstop, m.has_target, m.ltarget,
                       P.hist_pvar[idx * M + i], simrisk_pcg64_double_from(S.x0s, S.xa[i], S.xc[i]),
                       P.hist_order)
        settle_exit(P, O, S, p, i, m, hit, t)


cdef enum:
    RNG_SHOCKS = 0
    RNG_EXITS = 1
    RNG_DIRS = 2
    RNG_REGIMES = 3
    RNG_GAPS = 4
    RNG_TAILS = 5
    RNG_DATES = 6       # history's date choices (the 7th stream; GBM never draws from it)
    N_STREAMS = 7


cdef void market_constants(const PlanC *P, MktConst *mc) noexcept nogil:
    """Fill mc[(w * G + g) * M + i] with the twin's per-step expressions, evaluated once."""
    cdef Py_ssize_t w, g, i
    cdef double vm, sig, drift
    cdef double dt = P.dt
    cdef double sqrt_dt = sqrt(dt)
    cdef MktConst *c
    for w in range(2):
        for g in range(P.G):
            vm = P.volmult[w * P.G + g]
            for i in range(P.M):
                c = &mc[(w * P.G + g) * P.M + i]
                sig = P.sigma[i] * vm                   # twin: sig = sigma * vm
                drift = P.mu[i] - 0.5 * sig * sig       # twin: drift = mu - 0.5 * sig * sig
                c.sig = sig
                c.sqd = sig * sqrt_dt                   # twin: sig * sqrt_dt * ts * e
                c.v = sig * sig * dt                    # twin (exits): sig * sig * dt, ts = 1
                c.ddt[0] = drift * dt                   # twin: drift * dt
                c.ddt[1] = (drift + P.alpha[i]) * dt    # twin: drift += dir * alpha, dir = +1
                c.ddt[2] = (drift + (-1) * P.alpha[i]) * dt


cdef int run_block(const PlanC *P, OutC *O, const simrisk_pcg64 *blk, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t M = P.M, K = P.K, G = P.G
    cdef Py_ssize_t T = <Py_ssize_t>P.n_days * P.spd
    cdef Py_ssize_t nM = n * M
    cdef Py_ssize_t ND1 = P.n_days + 1
    cdef double dt = P.dt
    cdef double nu = P.student_nu
    cdef bint has_gaps = False, has_both = False, record = O.equity != NULL
    cdef bint student = nu > 0.0
    cdef Py_ssize_t i, j, p, t, c, d, k, day, w, g, src, r, jj
    cdef bint boundary, any_open, fresh_E, have_sum_im, dd_ruin, ruin_now, finite
    cdef int s, sk, tk, tr, hit, nq, reason, qs
    cdef double E, sum_im, sum_mm, Pr, D, slip, den, n_tier, n_risk, n_cap, n_funds, nd, fill
    cdef double stop, target, ts, e, sig, v, rr
    cdef bint corr_on = P.corr_action != CORR_OFF, scaled
    cdef bint hist = P.hist_mode != HIST_OFF
    cdef Py_ssize_t idx
    cdef Py_ssize_t W = P.corr_window if corr_on else 0
    cdef int nflag = 0
    cdef double rpt, nd0, n_risk0
    cdef const double *L
    cdef const double *Lrow
    cdef const MktConst *mcp
    cdef Mkt *mk
    cdef Mkt *m
    cdef simrisk_pcg64 ps[N_STREAMS]     # this path's streams
    cdef simrisk_pcg64 nxt[N_STREAMS]    # the next path's streams
    cdef simrisk_u128 ja[N_STREAMS]      # the jump from one path's streams to the next's
    cdef simrisk_u128 jc[N_STREAMS]
    cdef bitgen_t pb[N_STREAMS]          # ... as numpy bit generators (gamma, ziggurat slow paths)
    cdef double u_reg = 0.0, gam = 1.0
    cdef Py_ssize_t b
    cdef State S
    cdef int status = 0

    for i in range(M):
        if P.gap_p[i] > 0.0:
            has_gaps = True
        if P.dir_mode[i] == BOTH:
            has_both = True

    S.mk = <Mkt*>calloc(nM, sizeof(Mkt))
    S.mc = <MktConst*>calloc(2 * G * M, sizeof(MktConst))
    S.z = <double*>calloc(M, sizeof(double))
    S.xa = <simrisk_u128*>calloc(M, sizeof(simrisk_u128))
    S.xc = <simrisk_u128*>calloc(M, sizeof(simrisk_u128))
    S.da = <simrisk_u128*>calloc(M, sizeof(simrisk_u128))
    S.dc = <simrisk_u128*>calloc(M, sizeof(simrisk_u128))
    S.u_gap = <double*>calloc(M, sizeof(double))
    S.z_gap = <double*>calloc(M, sizeof(double))
    S.ring = NULL
    S.seq = NULL
    if hist:
        S.seq = <int32_t*>calloc(P.n_days, sizeof(int32_t))
        if S.seq == NULL:
            status = -1
    S.flag = NULL
    S.mflag = NULL
    S.cmean = NULL
    S.csxx = NULL
    if corr_on:
        S.ring = <double*>calloc(M * W, sizeof(double))
        S.flag = <int8_t*>calloc(M * M, sizeof(int8_t))
        S.mflag = <int8_t*>calloc(M, sizeof(int8_t))
        S.cmean = <double*>calloc(M, sizeof(double))
        S.csxx = <double*>calloc(M, sizeof(double))
        if S.ring == NULL or S.flag == NULL or S.mflag == NULL or S.cmean == NULL \
                or S.csxx == NULL:
            status = -1
    if (S.mk == NULL or S.mc == NULL
            or S.z == NULL or S.xa == NULL or S.xc == NULL or S.da == NULL or S.dc == NULL
            or S.u_gap == NULL or S.z_gap == NULL or status != 0):
        status = -1
    else:
        market_constants(P, S.mc)
        for b in range(N_STREAMS):
            nxt[b] = blk[b]
            simrisk_pcg64_path_jump(&blk[b], &ja[b], &jc[b])
        for i in range(M):          # the jumps by 1 .. M draws (a path's streams share blk's inc)
            simrisk_pcg64_steps(&blk[RNG_EXITS], i + 1, &S.xa[i], &S.xc[i])
            simrisk_pcg64_steps(&blk[RNG_DIRS], i + 1, &S.da[i], &S.dc[i])
        # ---- initial state ----------------------------------------------------------------
        for p in range(n):
            O.peak_equity[p] = P.capital
            for j in range(K):
                if P.capital >= P.tier_reach[j]:
                    O.tier_day[p * K + j] = 0
            O.regime_spells[P.regime0] += 1
            if record:
                O.equity[p * ND1] = P.capital
            for i in range(M):
                m = &S.mk[p * M + i]
                m.logp = P.logp0[i]
                m.lref = m.logp
                m.pref = exp(m.logp)
                m.lclose = P.logp0[i]
                m.s2 = P.sigma[i] * P.sigma[i] / 252.0
                m.sq_ok = 0

        for p in range(n):
            if simrisk_stop_requested:
                status = -2
                break
            mk = &S.mk[p * M]
            S.alive = 1
            S.cash = P.capital
            S.peak = P.capital
            S.E = P.capital
            S.regime = P.regime0
            S.tier = initial_tier(P, P.capital)
            S.max_dd = O.max_dd[p]
            S.trades = O.trades[p]
            S.wins = O.wins[p]
            S.skipped = O.skipped[p]
            # ---- this path's own streams: the block's, advanced by p * 2^64 draws ----------
            for b in range(N_STREAMS):
                simrisk_pcg64_next_path(&nxt[b], ja[b], jc[b], &ps[b])
                simrisk_pcg64_bitgen(&ps[b], &pb[b])
            if hist:
                # the path's dates (all drawn before its first day), and its start at the first
                history_dates(P, p, &ps[RNG_DATES], S.seq)
                idx = S.seq[0]
                for i in range(M):
                    m = &mk[i]
                    if P.hist_scale == 0:
                        m.logp = P.logp0[i]
                    else:
                        m.logp = P.hist_lc0[idx * M + i]
                    m.lref = m.logp
                    m.pref = exp(m.logp)
                    m.lclose = m.logp
                    m.atr = P.hist_atr[idx * M + i] * m.pref
            if corr_on:
                for i in range(M * M):
                    S.flag[i] = 0
                for i in range(M):
                    S.mflag[i] = 0
                nflag = 0
            d = 0
            k = -1
            for t in range(T):
                # d = t // spd, k = t % spd, kept by counting (no integer division per step)
                k += 1
                if k == P.spd:
                    k = 0
                    d += 1
                day = d + 1
                boundary = k == 0 and d > 0
                w = 1 if (P.win_lo <= day and day <= P.win_hi) else 0
                if hist:
                    # ---- a day of real history (SPEC 11): A. open, B. entries, C/D. range --
                    # M exit uniforms (and M entry coins): taken where used (S.x0s, S.d0s)
                    S.x0s = simrisk_pcg64_get_state(&ps[RNG_EXITS])
                    simrisk_pcg64_affine(&ps[RNG_EXITS], S.xa[M - 1], S.xc[M - 1])
                    if has_both:
                        S.d0s = simrisk_pcg64_get_state(&ps[RNG_DIRS])
                        simrisk_pcg64_affine(&ps[RNG_DIRS], S.da[M - 1], S.dc[M - 1])
                    hist_day(P, O, &S, p, t, S.seq[t])
                else:
                    # ---- this step's draws, each purpose from its own stream (the twin's layout) --
                    if boundary and G > 1:
                        u_reg = simrisk_pcg64_double(&ps[RNG_REGIMES])
                    if boundary and has_gaps:
                        for i in range(M):
                            S.u_gap[i] = simrisk_pcg64_double(&ps[RNG_GAPS])
                        for i in range(M):
                            S.z_gap[i] = simrisk_standard_normal_pcg(&ps[RNG_GAPS], &pb[RNG_GAPS], NULL)
                    for i in range(M):
                        S.z[i] = simrisk_standard_normal_pcg(&ps[RNG_SHOCKS], &pb[RNG_SHOCKS], NULL)
                    if student:
                        gam = random_standard_gamma(&pb[RNG_TAILS], nu / 2.0)
                    # M exit uniforms (and M entry coins): taken where used (S.x0s, S.d0s)
                    S.x0s = simrisk_pcg64_get_state(&ps[RNG_EXITS])
                    simrisk_pcg64_affine(&ps[RNG_EXITS], S.xa[M - 1], S.xc[M - 1])
                    if has_both:
                        S.d0s = simrisk_pcg64_get_state(&ps[RNG_DIRS])
                        simrisk_pcg64_affine(&ps[RNG_DIRS], S.da[M - 1], S.dc[M - 1])
                    fresh_E = False
                    # ---- A. day boundary: regime switch, gaps ------------------------------------
                    if boundary and G > 1:
                        r = S.regime
                        jj = 0
                        while jj < G - 1 and u_reg >= P.trans_cum[r * G + jj]:
                            jj += 1
                        if jj != r:
                            S.regime = <int32_t>jj
                            O.regime_spells[jj] += 1
                    if boundary and has_gaps:
                        fresh_E = True
                        for i in range(M):
                            src = 0 if P.gap_common else i
                            if S.u_gap[src] < P.gap_p[src]:
                                m = &mk[i]
                                m.logp += P.gap_mu[i] + P.gap_sd[i] * S.z_gap[src]
                                if not m.is_open:
                                    continue
                                s = m.pdir
                                if m.has_stop and s * (m.logp - m.lstop) <= 0.0:
                                    close_pos(P, O, &S, p, i,
                                              mkt_price(m) - s * (P.slip_ticks * P.tick[m.pc]),
                                              EXIT_GAP, t)
                                elif m.has_target and s * (m.logp - m.ltarget) >= 0.0:
                                    close_pos(P, O, &S, p, i, m.target, EXIT_TARGET, t)

                    # ---- B. entries ----------------------------------------------------------
                    enter_markets(P, O, &S, p, t, fresh_E)

                    # ---- C. prices move ----------------------------------------------------------
                    g = S.regime
                    mcp = &S.mc[(w * G + g) * M]
                    L = P.chol + (w * G + g) * M * M
                    if student:
                        ts = sqrt((nu - 2.0) / (2.0 * gam))
                    else:
                        ts = 1.0
                    for i in range(M):
                        m = &mk[i]
                        Lrow = L + i * M
                        e = 0.0
                        for j in range(i + 1):
                            e += Lrow[j] * S.z[j]
                        m.x0 = m.logp
                        m.logp += mcp[i].ddt[m.dsel] + mcp[i].sqd * ts * e
                        # ---- D. exits (market i's exit depends on market i alone: the twin's
                        #      separate loop over markets after all moves gives the same result) --
                        if not m.is_open:
                            continue
                        m.held += 1
                        s = m.pdir
                        if student:
                            sig = mcp[i].sig * ts
                            v = sig * sig * dt
                        else:
                            v = mcp[i].v
                        hit = exit_decision(s, m.x0, m.logp, m.has_stop, m.lstop, m.has_target,
                                            m.ltarget, v,
                                            simrisk_pcg64_double_from(S.x0s, S.xa[i], S.xc[i]))
                        settle_exit(P, O, &S, p, i, m, hit, t)

                # ---- E. margin call, peak and drawdown, ruin ---------------------------------
                E = S.cash
                any_open = False
                sum_mm = 0.0
                for i in range(M):
                    m = &mk[i]
                    if m.is_open:
                        E += m.pdir * m.pn * P.pv[m.pc] * (mkt_price(m) - m.entry)  # path_equity
                        any_open = True
                        sum_mm += m.pn * P.mm[m.pc]
                if not isfinite(E):             # an overflow: the path is void (twin: _void)
                    void_path(O, &S, p, E, day)
                    break
                if any_open and E < sum_mm:
                    O.margin_calls[p] += 1
                    liquidate(P, O, &S, p, t, True)
                    E = S.cash
                dd_ruin = drawdown_step(O, &S, p, E, P.ruin_dd)  # = track_drawdown(E) >= ruin_dd
                ruin_now = E < P.ruin_level or dd_ruin
                if E <= 0.0 or ruin_now:       # ruin, or blown: absorbing either way
                    liquidate(P, O, &S, p, t, True)
                    if E <= 0.0 or S.cash <= 0.0:
                        O.blown[p] = 1
                    E = S.cash
                    track_drawdown(O, &S, p, E)
                    S.alive = 0
                    O.stop_day[p] = <int32_t>day
                    if ruin_now:
                        O.ruined[p] = 1
                        O.ruin_day[p] = <int32_t>day
                    O.final_equity[p] = E
                    O.peak_equity[p] = S.peak
                    if record:
                        for j in range(day, ND1):
                            O.equity[p * ND1 + j] = E
                    break
                S.E = E

                # ---- F. day end: ATR, tiers reached, current tier ----------------------------
                if k == P.spd - 1:
                    if simrisk_stop_requested:
                        break
                    finite = True
                    for i in range(M):
                        m = &mk[i]
                        rr = m.logp - m.lclose
                        if hist:
                            # Wilder: the day's true range on the path, (13 ATR + TR) / 14
                            m.atr = (13.0 * m.atr + exp(m.lclose) * P.hist_tr[S.seq[d] * M + i]) / 14.0
                            if not isfinite(m.atr):
                                finite = False
                        else:
                            m.s2 += (rr * rr - m.s2) * WILDER_W
                            m.sq_ok = 0         # sqrt(s2) when an ATR stop needs it (mkt_sq)
                        m.lclose = m.logp
                        if corr_on:
                            S.ring[i * W + (day - 1) % W] = rr
                        if not isfinite(m.s2):
                            finite = False
                    if not finite:
                        void_path(O, &S, p, E, day)
                        break
                    for j in range(K):
                        if O.tier_day[p * K + j] < 0 and E >= P.tier_reach[j]:
                            O.tier_day[p * K + j] = <int32_t>day
                    S.tier = next_tier(P, S.tier, E)
                    O.regime_days[S.regime] += 1
                    if record:
                        O.equity[p * ND1 + day] = E
                    if corr_on:
                        if nflag > 0:
                            O.corr_days[p] += 1
                        if is_review_day(day, P.corr_every, <int>W):
                            nflag = corr_review(&S, M, W, P.corr_limit)
                            O.corr_reviews[p] += 1
                            if nflag > 0:
                                O.corr_flagged[p] += 1

            # ---- horizon: close what is open at the last price, no slippage -----------------
            if S.alive:
                liquidate(P, O, &S, p, T - 1, False)
                track_drawdown(O, &S, p, S.cash)
                O.final_equity[p] = S.cash
                O.peak_equity[p] = S.peak
            O.max_dd[p] = S.max_dd
            O.trades[p] = S.trades
            O.wins[p] = S.wins
            O.skipped[p] = S.skipped

    free(S.mk); free(S.mc); free(S.z); free(S.xa); free(S.xc); free(S.da); free(S.dc)
    free(S.u_gap); free(S.z_gap)
    free(S.ring); free(S.flag); free(S.mflag); free(S.cmean); free(S.csxx); free(S.seq)
    return status


cdef int _seed_from(bit_generator, simrisk_pcg64 *out) except -1:
    """Load ``out`` with the 128-bit state and increment of a fresh numpy PCG64, read through
    its public ``state`` (never numpy's private structures)."""
    st = bit_generator.state
    if st.get("bit_generator") != "PCG64":
        raise TypeError(f"streams: PCG64 bit generators expected, got {st.get('bit_generator')!r}")
    if st.get("has_uint32"):
        raise ValueError("streams: a PCG64 with a buffered 32-bit draw (not a fresh stream)")
    M64 = (1 << 64) - 1
    state, inc = st["state"]["state"], st["state"]["inc"]
    simrisk_pcg64_seed(out, (state >> 64) & M64, state & M64, (inc >> 64) & M64, inc & M64)
    return 0


def simulate_block(plan, streams, out):
    """Simulate ``len(out.ruined)`` paths of ``plan``, drawing from ``streams``.

    ``plan`` is a ``simcore._plan.Plan`` (read only); ``streams`` the block's numpy PCG64
    BitGenerators, one per entry of ``simcore._plan.STREAMS`` (only read: path p draws from
    each one advanced by p * 2^64, see the twin); ``out`` a ``simcore._plan.BlockOutput``
    whose buffers are filled in place.
    The work runs without the GIL.
    """
    plan.validate_arrays()
    cdef Py_ssize_t n = out.ruined.shape[0]
    cdef PlanC P
    cdef OutC O
    cdef simrisk_pcg64 blk[N_STREAMS]
    cdef int status, b
    # typed views keep the arrays alive and give C pointers
    cdef const double[::1] logp0 = plan.logp0, mu = plan.mu, sigma = plan.sigma
    cdef const double[::1] chol = plan.chol.reshape(-1), volmult = plan.volmult.reshape(-1)
    cdef const double[::1] trans_cum = plan.trans_cum.reshape(-1)
    cdef const double[::1] gap_p = plan.gap_p, gap_mu = plan.gap_mu, gap_sd = plan.gap_sd
    cdef const int32_t[::1] dir_mode = plan.dir_mode, stop_kind = plan.stop_kind
    cdef const int32_t[::1] target_kind = plan.target_kind, max_hold = plan.max_hold
    cdef const int32_t[::1] cooldown = plan.cooldown
    cdef const double[::1] stop_val = plan.stop_val, target_val = plan.target_val
    cdef const double[::1] alpha = plan.alpha
    cdef const double[::1] pv = plan.pv, tick = plan.tick, im = plan.im, mm = plan.mm
    cdef const double[::1] comm = plan.comm
    cdef const double[::1] tier_thr = plan.tier_thr, tier_buf = plan.tier_buf
    cdef const double[::1] tier_reach = plan.tier_reach
    cdef const int32_t[::1] tier_contract = plan.tier_contract.reshape(-1)
    cdef const int32_t[::1] tier_max = plan.tier_max.reshape(-1)
    # outputs
    cdef int8_t[::1] ruined = out.ruined, blown = out.blown
    cdef int32_t[::1] ruin_day = out.ruin_day, margin_calls = out.margin_calls
    cdef int32_t[::1] stop_day = out.stop_day
    cdef int32_t[::1] trades = out.trades, wins = out.wins, skipped = out.skipped
    cdef double[::1] final_equity = out.final_equity, peak_equity = out.peak_equity
    cdef double[::1] max_dd = out.max_dd
    cdef int8_t[::1] nonfinite = out.nonfinite
    cdef int32_t[::1] tier_day = out.tier_day.reshape(-1)
    cdef int64_t[::1] m_trades = out.m_trades, m_wins = out.m_wins
    cdef double[::1] m_win_r = out.m_win_r, m_loss_r = out.m_loss_r
    cdef int64_t[::1] m_win_rn = out.m_win_rn, m_loss_rn = out.m_loss_rn
    cdef int64_t[::1] m_skip = out.m_skip.reshape(-1)
    cdef int64_t[::1] m_gap_fills = out.m_gap_fills, m_beyond_1r = out.m_beyond_1r
    cdef int64_t[::1] regime_days = out.regime_days, regime_spells = out.regime_spells
    cdef int64_t[::1] m_corr_skip = out.m_corr_skip, m_corr_reduced = out.m_corr_reduced
    cdef int32_t[::1] corr_reviews = out.corr_reviews, corr_flagged = out.corr_flagged
    cdef int32_t[::1] corr_days = out.corr_days
    cdef double[::1] equity
    # history (dummy one-element arrays without one: never read)
    hist_on = plan.hist_mode != 0
    cdef const double[::1] hist_lrel = plan.hist_lrel.reshape(-1) if hist_on else np.zeros(1)
    cdef const double[::1] hist_tr = plan.hist_tr.reshape(-1) if hist_on else np.zeros(1)
    cdef const double[::1] hist_atr = plan.hist_atr.reshape(-1) if hist_on else np.zeros(1)
    cdef const double[::1] hist_pvar = plan.hist_pvar.reshape(-1) if hist_on else np.zeros(1)
    cdef const double[::1] hist_lc0 = plan.hist_lc0.reshape(-1) if hist_on else np.zeros(1)

    if n == 0:
        return out
    for name in ("ruin_day", "stop_day", "blown", "margin_calls", "trades", "wins", "skipped",
                 "final_equity", "peak_equity", "max_dd", "nonfinite", "corr_reviews",
                 "corr_flagged", "corr_days"):
        if getattr(out, name).shape[0] != n:
            raise ValueError(f"out.{name}: expected length {n}")
    if out.tier_day.shape != (n, plan.K):
        raise ValueError("out.tier_day: wrong shape")
    for arr in (out.tier_day, out.m_skip, out.equity):
        if not arr.flags.c_contiguous:
            raise ValueError("output buffers must be C-contiguous")

    P.n_days = plan.n_days
    P.spd = plan.spd
    P.M = plan.M
    P.K = plan.K
    P.G = plan.G
    P.dt = plan.dt
    P.capital = plan.capital
    P.logp0 = &logp0[0]
    P.mu = &mu[0]
    P.sigma = &sigma[0]
    P.chol = &chol[0]
    P.volmult = &volmult[0]
    P.trans_cum = &trans_cum[0]
    P.regime0 = plan.regime0
    P.win_lo = plan.win_lo
    P.win_hi = plan.win_hi
    P.student_nu = plan.student_nu
    P.gap_p = &gap_p[0]
    P.gap_mu = &gap_mu[0]
    P.gap_sd = &gap_sd[0]
    P.gap_common = plan.gap_common
    P.dir_mode = &dir_mode[0]
    P.stop_kind = &stop_kind[0]
    P.stop_val = &stop_val[0]
    P.target_kind = &target_kind[0]
    P.target_val = &target_val[0]
    P.alpha = &alpha[0]
    P.max_hold = &max_hold[0]
    P.cooldown = &cooldown[0]
    P.pv = &pv[0]
    P.tick = &tick[0]
    P.im = &im[0]
    P.mm = &mm[0]
    P.comm = &comm[0]
    P.tier_thr = &tier_thr[0]
    P.tier_buf = &tier_buf[0]
    P.tier_reach = &tier_reach[0]
    P.tier_contract = &tier_contract[0]
    P.tier_max = &tier_max[0]
    P.risk_per_trade = plan.risk_per_trade
    P.margin_cap = plan.margin_cap
    P.slip_ticks = plan.slip_ticks
    P.ruin_level = plan.ruin_level
    P.ruin_dd = plan.ruin_dd
    P.corr_action = plan.corr_action
    P.corr_every = plan.corr_every
    P.corr_window = plan.corr_window
    P.corr_limit = plan.corr_limit
    P.corr_scale = plan.corr_scale
    P.hist_mode = plan.hist_mode
    P.hist_n = plan.hist_n
    P.hist_nstart = plan.hist_nstart
    P.hist_first = plan.hist_first
    P.hist_block = plan.hist_block
    P.hist_scale = plan.hist_scale
    P.hist_order = plan.hist_order
    P.hist_lrel = &hist_lrel[0]
    P.hist_tr = &hist_tr[0]
    P.hist_atr = &hist_atr[0]
    P.hist_pvar = &hist_pvar[0]
    P.hist_lc0 = &hist_lc0[0]
    if P.hist_mode != HIST_OFF and (P.spd != 1 or P.hist_n < 1 or P.hist_nstart < 1
                                    or not P.hist_block >= 1.0 or P.hist_first < 0):
        raise ValueError("plan.hist_*: history needs spd 1, dates for the horizon and a block "
                         "length >= 1")
    if P.corr_action != CORR_OFF and (P.corr_every < 1 or P.corr_window < 3):
        raise ValueError("plan.corr_every must be >= 1 and plan.corr_window >= 3")

    O.ruined = &ruined[0]
    O.ruin_day = &ruin_day[0]
    O.stop_day = &stop_day[0]
    O.blown = &blown[0]
    O.margin_calls = &margin_calls[0]
    O.trades = &trades[0]
    O.wins = &wins[0]
    O.skipped = &skipped[0]
    O.final_equity = &final_equity[0]
    O.peak_equity = &peak_equity[0]
    O.max_dd = &max_dd[0]
    O.nonfinite = &nonfinite[0]
    O.tier_day = &tier_day[0]
    O.m_trades = &m_trades[0]
    O.m_wins = &m_wins[0]
    O.m_win_r = &m_win_r[0]
    O.m_win_rn = &m_win_rn[0]
    O.m_loss_r = &m_loss_r[0]
    O.m_loss_rn = &m_loss_rn[0]
    O.m_skip = &m_skip[0]
    O.m_gap_fills = &m_gap_fills[0]
    O.m_beyond_1r = &m_beyond_1r[0]
    O.regime_days = &regime_days[0]
    O.regime_spells = &regime_spells[0]
    O.m_corr_skip = &m_corr_skip[0]
    O.m_corr_reduced = &m_corr_reduced[0]
    O.corr_reviews = &corr_reviews[0]
    O.corr_flagged = &corr_flagged[0]
    O.corr_days = &corr_days[0]
    if out.equity.shape[0] > 0:
        if out.equity.shape != (n, plan.n_days + 1):
            raise ValueError("out.equity: wrong shape")
        equity = out.equity.reshape(-1)
        O.equity = &equity[0]
    else:
        O.equity = NULL

    streams = tuple(streams)
    if len(streams) != N_STREAMS:
        raise ValueError(f"streams: expected {N_STREAMS} BitGenerators, got {len(streams)}")
    for b in range(N_STREAMS):
        _seed_from(streams[b], &blk[b])
    # the block's streams are only read: path p draws from each one advanced by p * 2^64
    with nogil:
        status = run_block(&P, &O, blk, n)
    if status == -2:
        raise KeyboardInterrupt("simcore kernel: stopped on request")
    if status != 0:
        raise MemoryError("simcore kernel: could not allocate block state")
    return out


def standard_normal_fill(bit_generator, Py_ssize_t n, bint counts=False):
    """``n`` standard normals from ``bit_generator`` by the kernel's inline ziggurat.

    The same numbers as ``numpy.random.Generator(bit_generator).standard_normal(n)``, and the
    generator is advanced by the same amount. With ``counts=True`` also return how the slow
    paths were taken: ``{"tail": .., "tail_reject": .., "wedge": .., "wedge_reject": ..}``
    (``tail`` and ``wedge`` count accepted samples; the rest came from the fast path).
    For tests and benchmarks.
    """
    cdef bitgen_t *bg
    cdef double[::1] view
    cdef int64_t tally[SIMRISK_ZIG_NCOUNTS]
    cdef int b
    if n < 0:
        raise ValueError("n must be >= 0")
    capsule = bit_generator.capsule
    if not PyCapsule_IsValid(capsule, "BitGenerator"):
        raise ValueError("bit_generator: not a numpy BitGenerator")
    bg = <bitgen_t *>PyCapsule_GetPointer(capsule, "BitGenerator")
    out = np.empty(n, dtype=np.float64)
    view = out
    for b in range(SIMRISK_ZIG_NCOUNTS):
        tally[b] = 0
    with bit_generator.lock:
        if n > 0:
            with nogil:
                simrisk_standard_normal_fill(bg, n, &view[0], tally)
    if counts:
        return out, {"tail": int(tally[0]), "tail_reject": int(tally[1]),
                     "wedge": int(tally[2]), "wedge_reject": int(tally[3])}
    return out


def step_exit(int s, double x0, double x1, bint has_stop, double lstop, bint has_target,
              double ltarget, double v, double u):
    """The kernel's exit decision for one step of an open trade (EXIT_STOP = 1, EXIT_TARGET = 2,
    0 = none): ``simcore._kernel_python.exit_decision``, compiled. For tests."""
    return exit_decision(s, x0, x1, has_stop, lstop, has_target, ltarget, v, u)


def path_doubles(bit_generator, Py_ssize_t p, Py_ssize_t n, bint normal=False):
    """``n`` numbers from path ``p``'s stretch of ``bit_generator`` (a fresh PCG64, only read),
    by the kernel's inline PCG64: uniforms, or standard normals by the inline ziggurat. The
    same numbers as ``Generator(path_stream(bit_generator.state, p)).random(n)`` (or
    ``.standard_normal(n)``). For tests."""
    cdef simrisk_pcg64 blk, nxt, ps
    cdef simrisk_u128 a, c
    cdef bitgen_t bg
    cdef Py_ssize_t k
    cdef double[::1] view
    if n < 0 or p < 0:
        raise ValueError("p and n must be >= 0")
    _seed_from(bit_generator, &blk)
    nxt = blk
    simrisk_pcg64_path_jump(&blk, &a, &c)
    for k in range(p + 1):
        simrisk_pcg64_next_path(&nxt, a, c, &ps)
    simrisk_pcg64_bitgen(&ps, &bg)
    out = np.empty(n, dtype=np.float64)
    view = out
    for k in range(n):
        view[k] = simrisk_standard_normal_pcg(&ps, &bg, NULL) if normal else simrisk_pcg64_double(&ps)
    return out


def history_path_dates(plan, bit_generator, Py_ssize_t p):
    """Path ``p``'s pool dates under ``plan``'s history (replay or bootstrap), drawn by the
    kernel from path p's stretch of ``bit_generator`` (the block's ``dates`` stream, only read):
    the twin's ``history_dates(plan, p, Generator(path_stream(state, p)))``. For tests."""
    cdef PlanC P
    cdef simrisk_pcg64 blk, nxt, ps
    cdef simrisk_u128 a, c
    cdef Py_ssize_t k
    cdef int32_t[::1] view
    if plan.hist_mode == 0:
        raise ValueError("plan has no history")
    if p < 0:
        raise ValueError(f"p: a path index >= 0 expected, got {p}")
    plan.validate_arrays()
    P.n_days = plan.n_days
    P.hist_mode = plan.hist_mode
    P.hist_n = plan.hist_n
    P.hist_nstart = plan.hist_nstart
    P.hist_first = plan.hist_first
    P.hist_block = plan.hist_block
    _seed_from(bit_generator, &blk)
    nxt = blk
    ps = blk            # set by the loop (p >= 0); initialized for the compiler's sake
    simrisk_pcg64_path_jump(&blk, &a, &c)
    for k in range(p + 1):
        simrisk_pcg64_next_path(&nxt, a, c, &ps)
    out = np.empty(plan.n_days, dtype=np.int32)
    view = out
    history_dates(&P, p, &ps, &view[0])
    return out
