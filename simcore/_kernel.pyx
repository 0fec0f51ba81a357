"""Compiled kernel: simulate one block of paths under a compiled plan.

A line-by-line translation of ``simcore/_kernel_python.py`` (the readable reference, which
documents the model, the random-number layout and the order of events). Inputs are the
read-only arrays of a ``Plan``; outputs go to the caller-owned buffers of a ``BlockOutput``.
The whole block runs without the GIL, so blocks run in parallel threads.
"""
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.math cimport exp, floor, log, sqrt, M_PI
from libc.stdint cimport int8_t, int32_t, int64_t
from libc.stdlib cimport calloc, free
from numpy.random cimport bitgen_t

import numpy as np

cdef double ATR_K = sqrt(8.0 / M_PI)
cdef double WILDER = 14.0
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


cdef struct State:
    # per path [n]
    int8_t *alive
    double *cash
    double *peak
    int32_t *regime
    int32_t *tier
    # per path and market [n * M], markets innermost
    double *logp
    double *price
    double *lclose
    double *s2
    double *x0
    int8_t *is_open
    int32_t *pc          # contract index
    int32_t *pn          # contracts held
    int32_t *pdir        # +1 / -1
    double *entry
    double *D            # stop distance at entry (0 = no stop)
    int32_t *held
    int8_t *has_stop
    double *stop
    double *lstop
    int8_t *has_target
    double *target
    double *ltarget
    int32_t *next_entry
    # this step's random numbers
    double *z
    double *u_exit
    double *u_dir
    double *u_reg
    double *u_gap
    double *z_gap
    double *gam


cdef inline void close_pos(const PlanC *P, OutC *O, State *S, Py_ssize_t p, Py_ssize_t i,
                           double fill, int kind, Py_ssize_t t) noexcept nogil:
    cdef Py_ssize_t M = P.M
    cdef Py_ssize_t x = p * M + i
    cdef int c = S.pc[x]
    cdef int nq = S.pn[x]
    cdef int s = S.pdir[x]
    cdef double gross = s * nq * P.pv[c] * (fill - S.entry[x])
    cdef double pnl, R
    cdef bint win
    S.cash[p] += gross - nq * P.comm[c]
    pnl = gross - 2 * nq * P.comm[c]
    O.trades[p] += 1
    O.m_trades[i] += 1
    win = pnl > 0.0
    if win:
        O.wins[p] += 1
        O.m_wins[i] += 1
    R = 0.0
    if S.D[x] > 0.0:
        R = pnl / (S.D[x] * P.pv[c] * nq)
        if win:
            O.m_win_r[i] += R
            O.m_win_rn[i] += 1
        else:
            O.m_loss_r[i] += R
            O.m_loss_rn[i] += 1
    if kind == EXIT_GAP:
        O.m_gap_fills[i] += 1
        if S.D[x] > 0.0 and R < -1.0:
            O.m_beyond_1r[i] += 1
    S.is_open[x] = 0
    S.next_entry[x] = <int32_t>(t + 1 + P.cooldown[i])


cdef inline double path_equity(const PlanC *P, State *S, Py_ssize_t p) noexcept nogil:
    cdef Py_ssize_t i, x
    cdef double E = S.cash[p]
    for i in range(P.M):
        x = p * P.M + i
        if S.is_open[x]:
            E += S.pdir[x] * S.pn[x] * P.pv[S.pc[x]] * (S.price[x] - S.entry[x])
    return E


cdef inline void liquidate(const PlanC *P, OutC *O, State *S, Py_ssize_t p, Py_ssize_t t,
                           bint slip_on) noexcept nogil:
    cdef Py_ssize_t i, x
    cdef double fill
    for i in range(P.M):
        x = p * P.M + i
        if S.is_open[x]:
            fill = S.price[x]
            if slip_on:
                fill = fill - S.pdir[x] * (P.slip_ticks * P.tick[S.pc[x]])
            close_pos(P, O, S, p, i, fill, EXIT_FORCED if slip_on else EXIT_END, t)


cdef inline double track_drawdown(OutC *O, State *S, Py_ssize_t p, double E) noexcept nogil:
    cdef double dd
    if E > S.peak[p]:
        S.peak[p] = E
    if S.peak[p] > 0.0:
        dd = (S.peak[p] - E) / S.peak[p]
    else:
        dd = 1.0
    if dd > O.max_dd[p]:
        O.max_dd[p] = dd
    return dd


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


cdef enum:
    RNG_SHOCKS = 0
    RNG_EXITS = 1
    RNG_DIRS = 2
    RNG_REGIMES = 3
    RNG_GAPS = 4
    RNG_TAILS = 5
    N_STREAMS = 6


cdef int run_block(const PlanC *P, OutC *O, bitgen_t **rng, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t M = P.M, K = P.K, G = P.G
    cdef Py_ssize_t T = <Py_ssize_t>P.n_days * P.spd
    cdef Py_ssize_t nM = n * M
    cdef Py_ssize_t ND1 = P.n_days + 1
    cdef double dt = P.dt
    cdef double sqrt_dt = sqrt(dt)
    cdef double nu = P.student_nu
    cdef bint has_gaps = False, has_both = False, record = O.equity != NULL
    cdef Py_ssize_t i, j, p, t, x, c, d, k, day, w, g, src, r, jj
    cdef bint boundary, any_open
    cdef int s, sk, tk, tr, hit, nq, reason
    cdef double E, sum_im, sum_mm, Pr, D, slip, n_tier, n_risk, n_cap, n_funds, nd, fill
    cdef double stop, target, vm, ts, e, sig, drift, u, v, x1, b, qq, dd, rr
    cdef const double *L
    cdef State S
    cdef int status = 0

    for i in range(M):
        if P.gap_p[i] > 0.0:
            has_gaps = True
        if P.dir_mode[i] == BOTH:
            has_both = True

    S.alive = <int8_t*>calloc(n, sizeof(int8_t))
    S.cash = <double*>calloc(n, sizeof(double))
    S.peak = <double*>calloc(n, sizeof(double))
    S.regime = <int32_t*>calloc(n, sizeof(int32_t))
    S.tier = <int32_t*>calloc(n, sizeof(int32_t))
    S.logp = <double*>calloc(nM, sizeof(double))
    S.price = <double*>calloc(nM, sizeof(double))
    S.lclose = <double*>calloc(nM, sizeof(double))
    S.s2 = <double*>calloc(nM, sizeof(double))
    S.x0 = <double*>calloc(M, sizeof(double))
    S.is_open = <int8_t*>calloc(nM, sizeof(int8_t))
    S.pc = <int32_t*>calloc(nM, sizeof(int32_t))
    S.pn = <int32_t*>calloc(nM, sizeof(int32_t))
    S.pdir = <int32_t*>calloc(nM, sizeof(int32_t))
    S.entry = <double*>calloc(nM, sizeof(double))
    S.D = <double*>calloc(nM, sizeof(double))
    S.held = <int32_t*>calloc(nM, sizeof(int32_t))
    S.has_stop = <int8_t*>calloc(nM, sizeof(int8_t))
    S.stop = <double*>calloc(nM, sizeof(double))
    S.lstop = <double*>calloc(nM, sizeof(double))
    S.has_target = <int8_t*>calloc(nM, sizeof(int8_t))
    S.target = <double*>calloc(nM, sizeof(double))
    S.ltarget = <double*>calloc(nM, sizeof(double))
    S.next_entry = <int32_t*>calloc(nM, sizeof(int32_t))
    S.z = <double*>calloc(nM, sizeof(double))
    S.u_exit = <double*>calloc(nM, sizeof(double))
    S.u_dir = <double*>calloc(nM, sizeof(double))
    S.u_reg = <double*>calloc(n, sizeof(double))
    S.u_gap = <double*>calloc(nM, sizeof(double))
    S.z_gap = <double*>calloc(nM, sizeof(double))
    S.gam = <double*>calloc(n, sizeof(double))
    if (S.alive == NULL or S.cash == NULL or S.peak == NULL or S.regime == NULL
            or S.tier == NULL or S.logp == NULL or S.price == NULL or S.lclose == NULL
            or S.s2 == NULL or S.x0 == NULL or S.is_open == NULL or S.pc == NULL
            or S.pn == NULL or S.pdir == NULL or S.entry == NULL or S.D == NULL
            or S.held == NULL or S.has_stop == NULL or S.stop == NULL or S.lstop == NULL
            or S.has_target == NULL or S.target == NULL or S.ltarget == NULL
            or S.next_entry == NULL or S.z == NULL or S.u_exit == NULL or S.u_dir == NULL
            or S.u_reg == NULL or S.u_gap == NULL or S.z_gap == NULL or S.gam == NULL):
        status = -1
    else:
        # ---- initial state ----------------------------------------------------------------
        for p in range(n):
            S.alive[p] = 1
            S.cash[p] = P.capital
            S.peak[p] = P.capital
            S.regime[p] = P.regime0
            S.tier[p] = initial_tier(P, P.capital)
            O.peak_equity[p] = P.capital
            for j in range(K):
                if P.capital >= P.tier_reach[j]:
                    O.tier_day[p * K + j] = 0
            O.regime_spells[P.regime0] += 1
            if record:
                O.equity[p * ND1] = P.capital
            for i in range(M):
                x = p * M + i
                S.logp[x] = P.logp0[i]
                S.price[x] = exp(S.logp[x])
                S.lclose[x] = P.logp0[i]
                S.s2[x] = P.sigma[i] * P.sigma[i] / 252.0

        for t in range(T):
            d = t // P.spd
            k = t - d * P.spd
            day = d + 1
            boundary = k == 0 and d > 0
            # ---- this step's random numbers (layout documented in the twin) -----------------
            if boundary and G > 1:
                random_standard_uniform_fill(rng[RNG_REGIMES], n, S.u_reg)
            if boundary and has_gaps:
                random_standard_uniform_fill(rng[RNG_GAPS], nM, S.u_gap)
                random_standard_normal_fill(rng[RNG_GAPS], nM, S.z_gap)
            random_standard_normal_fill(rng[RNG_SHOCKS], nM, S.z)
            if nu > 0.0:
                for p in range(n):
                    S.gam[p] = random_standard_gamma(rng[RNG_TAILS], nu / 2.0)
            random_standard_uniform_fill(rng[RNG_EXITS], nM, S.u_exit)
            if has_both:
                random_standard_uniform_fill(rng[RNG_DIRS], nM, S.u_dir)
            w = 1 if (P.win_lo <= day and day <= P.win_hi) else 0

            for p in range(n):
                if not S.alive[p]:
                    continue
                # ---- A. day boundary: regime switch, gaps ------------------------------------
                if boundary and G > 1:
                    r = S.regime[p]
                    jj = 0
                    while jj < G - 1 and S.u_reg[p] >= P.trans_cum[r * G + jj]:
                        jj += 1
                    if jj != r:
                        S.regime[p] = <int32_t>jj
                        O.regime_spells[jj] += 1
                if boundary and has_gaps:
                    for i in range(M):
                        src = 0 if P.gap_common else i
                        if S.u_gap[p * M + src] < P.gap_p[src]:
                            x = p * M + i
                            S.logp[x] += P.gap_mu[i] + P.gap_sd[i] * S.z_gap[p * M + src]
                            S.price[x] = exp(S.logp[x])
                            if not S.is_open[x]:
                                continue
                            s = S.pdir[x]
                            if S.has_stop[x] and s * (S.logp[x] - S.lstop[x]) <= 0.0:
                                close_pos(P, O, &S, p, i,
                                          S.price[x] - s * (P.slip_ticks * P.tick[S.pc[x]]),
                                          EXIT_GAP, t)
                            elif S.has_target[x] and s * (S.logp[x] - S.ltarget[x]) >= 0.0:
                                close_pos(P, O, &S, p, i, S.target[x], EXIT_TARGET, t)

                # ---- B. entries --------------------------------------------------------------
                E = path_equity(P, &S, p)
                sum_im = 0.0
                for i in range(M):
                    x = p * M + i
                    if S.is_open[x]:
                        sum_im += S.pn[x] * P.im[S.pc[x]]
                tr = S.tier[p]
                for i in range(M):
                    x = p * M + i
                    if S.is_open[x] or t < S.next_entry[x]:
                        continue
                    c = P.tier_contract[tr * M + i]
                    if c < 0 or P.tier_max[tr * M + i] <= 0:
                        continue
                    Pr = S.price[x]
                    s = P.dir_mode[i]
                    if s == BOTH:
                        s = 1 if S.u_dir[x] < 0.5 else -1
                    sk = P.stop_kind[i]
                    if sk == STOP_ATR:
                        D = P.stop_val[i] * ATR_K * Pr * sqrt(S.s2[x])
                    elif sk == STOP_FIXED:
                        D = P.stop_val[i]
                    else:
                        D = 0.0
                    slip = P.slip_ticks * P.tick[c]
                    n_tier = <double>P.tier_max[tr * M + i]
                    if sk != STOP_NONE:
                        n_risk = floor(P.risk_per_trade * E / (D * P.pv[c] + slip * P.pv[c] + 2.0 * P.comm[c]))
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
                    if nd <= 0.0:
                        if n_risk <= 0.0:
                            reason = SKIP_RISK
                        elif n_cap <= 0.0:
                            reason = SKIP_MARGIN_CAP
                        else:
                            reason = SKIP_FUNDS
                        O.m_skip[i * 3 + reason] += 1
                        O.skipped[p] += 1
                        continue
                    nq = <int>nd
                    fill = Pr + s * slip
                    S.is_open[x] = 1
                    S.pc[x] = <int32_t>c
                    S.pn[x] = nq
                    S.pdir[x] = s
                    S.entry[x] = fill
                    S.D[x] = D
                    S.held[x] = 0
                    S.has_stop[x] = 0
                    S.has_target[x] = 0
                    if sk != STOP_NONE:
                        stop = fill - s * D
                        if stop > 0.0:
                            S.has_stop[x] = 1
                            S.stop[x] = stop
                            S.lstop[x] = log(stop)
                    tk = P.target_kind[i]
                    if tk != TARGET_NONE:
                        if tk == TARGET_R:
                            target = fill + s * (P.target_val[i] * D)
                        else:
                            target = fill + s * P.target_val[i]
                        if target > 0.0:
                            S.has_target[x] = 1
                            S.target[x] = target
                            S.ltarget[x] = log(target)
                    S.cash[p] -= nq * P.comm[c]
                    E = E - nq * P.comm[c] - nq * P.pv[c] * slip
                    sum_im += nq * P.im[c]

                # ---- C. prices move ----------------------------------------------------------
                g = S.regime[p]
                vm = P.volmult[w * G + g]
                L = P.chol + (w * G + g) * M * M
                if nu > 0.0:
                    ts = sqrt((nu - 2.0) / (2.0 * S.gam[p]))
                else:
                    ts = 1.0
                for i in range(M):
                    x = p * M + i
                    e = 0.0
                    for j in range(i + 1):
                        e += L[i * M + j] * S.z[p * M + j]
                    sig = P.sigma[i] * vm
                    drift = P.mu[i] - 0.5 * sig * sig
                    if S.is_open[x]:
                        drift += S.pdir[x] * P.alpha[i]
                    S.x0[i] = S.logp[x]
                    S.logp[x] += drift * dt + sig * sqrt_dt * ts * e
                    S.price[x] = exp(S.logp[x])

                # ---- D. exits ----------------------------------------------------------------
                for i in range(M):
                    x = p * M + i
                    if not S.is_open[x]:
                        continue
                    S.held[x] += 1
                    s = S.pdir[x]
                    u = S.u_exit[x]
                    sig = P.sigma[i] * vm * ts
                    v = sig * sig * dt
                    x1 = S.logp[x]
                    hit = 0
                    if S.has_stop[x]:
                        b = s * (x1 - S.lstop[x])
                        if b <= 0.0:
                            hit = EXIT_STOP
                        else:
                            qq = 2.0 * (s * (S.x0[i] - S.lstop[x])) * b / v
                            if qq < BRIDGE_QMAX and u < exp(-qq):
                                hit = EXIT_STOP
                    if hit == 0 and S.has_target[x]:
                        b = s * (S.ltarget[x] - x1)
                        if b <= 0.0:
                            hit = EXIT_TARGET
                        else:
                            qq = 2.0 * (s * (S.ltarget[x] - S.x0[i])) * b / v
                            if qq < BRIDGE_QMAX and u >= 1.0 - exp(-qq):
                                hit = EXIT_TARGET
                    if hit == 0 and P.max_hold[i] > 0 and S.held[x] >= P.max_hold[i]:
                        hit = EXIT_TIME
                    if hit == EXIT_STOP:
                        close_pos(P, O, &S, p, i, S.stop[x] - s * (P.slip_ticks * P.tick[S.pc[x]]), hit, t)
                    elif hit == EXIT_TARGET:
                        close_pos(P, O, &S, p, i, S.target[x], hit, t)
                    elif hit == EXIT_TIME:
                        close_pos(P, O, &S, p, i, S.price[x] - s * (P.slip_ticks * P.tick[S.pc[x]]), hit, t)

                # ---- E. margin call, peak and drawdown, ruin ---------------------------------
                E = path_equity(P, &S, p)
                any_open = False
                sum_mm = 0.0
                for i in range(M):
                    x = p * M + i
                    if S.is_open[x]:
                        any_open = True
                        sum_mm += S.pn[x] * P.mm[S.pc[x]]
                if any_open and E < sum_mm:
                    O.margin_calls[p] += 1
                    liquidate(P, O, &S, p, t, True)
                    E = S.cash[p]
                dd = track_drawdown(O, &S, p, E)
                if E <= 0.0 or E < P.ruin_level or dd >= P.ruin_dd:
                    liquidate(P, O, &S, p, t, True)
                    if E <= 0.0 or S.cash[p] <= 0.0:
                        O.blown[p] = 1
                    E = S.cash[p]
                    track_drawdown(O, &S, p, E)
                    S.alive[p] = 0
                    O.ruined[p] = 1
                    O.ruin_day[p] = <int32_t>day
                    O.final_equity[p] = E
                    O.peak_equity[p] = S.peak[p]
                    if record:
                        for j in range(day, ND1):
                            O.equity[p * ND1 + j] = E
                    continue

                # ---- F. day end: ATR, tiers reached, current tier ----------------------------
                if k == P.spd - 1:
                    for i in range(M):
                        x = p * M + i
                        rr = S.logp[x] - S.lclose[x]
                        S.s2[x] += (rr * rr - S.s2[x]) / WILDER
                        S.lclose[x] = S.logp[x]
                    for j in range(K):
                        if O.tier_day[p * K + j] < 0 and E >= P.tier_reach[j]:
                            O.tier_day[p * K + j] = <int32_t>day
                    S.tier[p] = next_tier(P, S.tier[p], E)
                    O.regime_days[S.regime[p]] += 1
                    if record:
                        O.equity[p * ND1 + day] = E

        # ---- horizon: close what is open at the last price, no slippage -----------------------
        for p in range(n):
            if S.alive[p]:
                liquidate(P, O, &S, p, T - 1, False)
                track_drawdown(O, &S, p, S.cash[p])
                O.final_equity[p] = S.cash[p]
                O.peak_equity[p] = S.peak[p]

    free(S.alive); free(S.cash); free(S.peak); free(S.regime); free(S.tier)
    free(S.logp); free(S.price); free(S.lclose); free(S.s2); free(S.x0); free(S.is_open)
    free(S.pc); free(S.pn); free(S.pdir); free(S.entry); free(S.D); free(S.held)
    free(S.has_stop); free(S.stop); free(S.lstop); free(S.has_target); free(S.target)
    free(S.ltarget); free(S.next_entry); free(S.z); free(S.u_exit); free(S.u_dir)
    free(S.u_reg); free(S.u_gap); free(S.z_gap); free(S.gam)
    return status


def simulate_block(plan, streams, out):
    """Simulate ``len(out.ruined)`` paths of ``plan``, drawing from ``streams``.

    ``plan`` is a ``simcore._plan.Plan`` (read only); ``streams`` the block's numpy
    BitGenerators, one per entry of ``simcore._plan.STREAMS`` (owned by this block and
    advanced); ``out`` a ``simcore._plan.BlockOutput`` whose buffers are filled in place.
    The work runs without the GIL.
    """
    plan.validate_arrays()
    cdef Py_ssize_t n = out.ruined.shape[0]
    cdef PlanC P
    cdef OutC O
    cdef bitgen_t *rng[N_STREAMS]
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
    cdef int32_t[::1] trades = out.trades, wins = out.wins, skipped = out.skipped
    cdef double[::1] final_equity = out.final_equity, peak_equity = out.peak_equity
    cdef double[::1] max_dd = out.max_dd
    cdef int32_t[::1] tier_day = out.tier_day.reshape(-1)
    cdef int64_t[::1] m_trades = out.m_trades, m_wins = out.m_wins
    cdef double[::1] m_win_r = out.m_win_r, m_loss_r = out.m_loss_r
    cdef int64_t[::1] m_win_rn = out.m_win_rn, m_loss_rn = out.m_loss_rn
    cdef int64_t[::1] m_skip = out.m_skip.reshape(-1)
    cdef int64_t[::1] m_gap_fills = out.m_gap_fills, m_beyond_1r = out.m_beyond_1r
    cdef int64_t[::1] regime_days = out.regime_days, regime_spells = out.regime_spells
    cdef double[::1] equity

    if n == 0:
        return out
    for name in ("ruin_day", "blown", "margin_calls", "trades", "wins", "skipped",
                 "final_equity", "peak_equity", "max_dd"):
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

    O.ruined = &ruined[0]
    O.ruin_day = &ruin_day[0]
    O.blown = &blown[0]
    O.margin_calls = &margin_calls[0]
    O.trades = &trades[0]
    O.wins = &wins[0]
    O.skipped = &skipped[0]
    O.final_equity = &final_equity[0]
    O.peak_equity = &peak_equity[0]
    O.max_dd = &max_dd[0]
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
        capsule = streams[b].capsule
        if not PyCapsule_IsValid(capsule, "BitGenerator"):
            raise ValueError("streams: not a numpy BitGenerator")
        rng[b] = <bitgen_t *>PyCapsule_GetPointer(capsule, "BitGenerator")
    # the streams belong to this block alone (the runner makes them per block), so their
    # locks are not taken: the whole block runs without the GIL
    with nogil:
        status = run_block(&P, &O, rng, n)
    if status != 0:
        raise MemoryError("simcore kernel: could not allocate block state")
    return out
