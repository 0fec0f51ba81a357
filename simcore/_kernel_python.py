"""The readable reference for the compiled kernel (``simcore/_kernel.pyx``).

This module *is* the model of SPEC sections 3-6 written out step by step in plain Python.
The Cython kernel is a line-by-line translation of it, and the tests run both on the same
inputs and the same random numbers and require identical per-path results (integers equal,
floats equal to the last bit). Read this file to learn what the engine does; read the
kernel to learn how it does it fast.

Random numbers
--------------
Each block of ``n`` paths owns six numpy PCG64 BitGenerators, one per purpose
(``_plan.STREAMS``). Path ``p`` draws from each of them advanced by ``p * 2**64`` draws
(``path_stream``: ``PCG64.advance(p << 64)``), so every path has its own stretch of every
stream, and a path is simulated from its first step to its last before the next one starts.
Within a path the draws are made step by step in amounts that do not depend on the path's
state (a flat market still draws its exit uniform), and each purpose has its own stream. So
every path's shocks and exit uniforms are identical across stress rows and capital levels,
even when a row adds regimes, gaps or fat tails (common random numbers); a path that is ruined
simply stops drawing (no other path's numbers depend on it). The twin draws with plain
``numpy.random.Generator``s; the kernel runs numpy's PCG64 and ziggurat inline and gets the
very same numbers:

  stream      when (per path)                    draw
  regimes     first step of days 2.., if G > 1   u_reg  = uniform()
  gaps        first step of days 2.., if gaps    u_gap  = uniform(M); z_gap = normal(M)
  shocks      every step                         z      = normal(M)
  tails       every step, if Student-t           g      = standard_gamma(nu / 2)  (chi-square = 2 g)
  exits       every step                         u_exit = uniform(M)  (the corridor-law exit test)
  directions  every step, if any `both`          u_dir  = uniform(M)
  dates       history (bootstrap) only, once      the path's dates (``history_dates``)
              at the path's start

Real history (``plan.hist_mode``, SPEC 11): each day is one pool date for every market, and
``hist_day`` replaces A-D: A. the open ``lclose + ln(O/Cp)``, where an open beyond a level fills
(a stop less slippage, EXIT_GAP; a target at the open); B. entries at the open (the same
``enter`` as GBM; an ATR stop is ``k x`` Wilder's ATR(14) of the path's bars); C/D. the close
``lclose + ln(C/Cp)`` and the range tested against the levels (``bar_exit``: both levels inside
-> ``stop_first``, or the corridor law of a bridge from open to close with Parkinson's variance),
then the time stop at the close. E as for GBM; F updates the ATR with the day's true range
``exp(lclose) x TR/Cp`` instead of the EWMA. No shocks are drawn; exit uniforms and directions
come from their usual streams (one per day), so stress rows keep common random numbers.

Order of events in one step of one path
---------------------------------------
A. day boundary (first step of days 2..): regime switch; gaps move prices and fill stops
   (at the post-gap price less slippage) and targets (at the target) that the jump crossed.
B. entries: every flat market past its cooldown that the current tier trades opens
   ``n = min(n_tier, n_risk, n_cap, n_funds)`` contracts at the price plus slippage;
   ``n <= 0`` is a skipped entry, counted under the first binding reason of
   risk -> margin_cap -> funds (an entry whose stop would sit at or below zero is skipped
   under risk). Skips are counted per step in which a flat market is blocked.
C. prices move: ``log P += (mu + d*alpha - s^2/2) dt + s sqrt(dt) * t * (L z)_i`` with
   ``s = sigma * volmult`` (regime, stress window), ``t`` the Student-t scale (1 if normal)
   and ``d*alpha`` only while a trade is open.
D. exits, per open position: the exact first exit of the step's Brownian bridge from the
   corridor between stop and target (``exit_decision``; SPEC 4): one uniform decides, stop
   if below P_stop, target if at or above 1 - P_target; then the time stop.
E. accounting: equity ``E = cash + open P&L`` (a non-finite E -- an overflow -- voids the
   path: flagged in ``nonfinite`` and stopped, and the runner refuses the run); a margin call when ``E`` is below the open
   positions' maintenance margin liquidates everything; peak, drawdown; ruin (absorbing:
   positions are liquidated and the path stops) when ``E < ruin_level`` or drawdown
   ``>= ruin_dd``; a blown account (``E <= 0``) stops the same way, and counts as ruined only
   if a stated rule fires too.
F. day end (last step of a day): ATR's EWMA takes the day's squared log return; tiers
   reached today are recorded; the current tier is re-evaluated with demotion buffers.
   With ``rules.correlation_review`` (``plan.corr_action != CORR_OFF``): the day's log
   return goes into the path's ring of the last ``corr_window`` returns per market; a day
   traded under a flag is counted; on review days (``day % corr_every == 0`` and
   ``day >= corr_window``) every pair's Pearson correlation is recomputed from the ring
   (``corr_review``) and pairs at or above ``corr_limit`` are flagged until the next review.
   The flags act on entries from the next step on (B): ``scale_risk`` sizes a flagged market
   with ``risk_per_trade * corr_scale``; ``one_per_pair`` skips (reason ``correlation``) an
   entry while the other market of a flagged pair holds a position. No random numbers.
At the horizon, open positions close at the last price (no slippage) and count as trades.
"""
from __future__ import annotations

import math

import numpy as np

from ._plan import (BOTH, CORR_OFF, HIST_OFF, HIST_REPLAY, ORDER_STOP_FIRST, CORR_ONE_PER_PAIR, CORR_SCALE, SKIP_CORR, SKIP_FUNDS, SKIP_MARGIN_CAP, SKIP_RISK, STOP_ATR, STOP_FIXED,
                    STOP_NONE, TARGET_FIXED, TARGET_NONE, TARGET_R, BlockOutput, Plan)

ATR_K = math.sqrt(8.0 / math.pi)   # E[high - low] of a Brownian day = sqrt(8/pi) * P * s
WILDER_W = 1.0 / 14.0             # Wilder's ATR period 14: the EWMA's weight (a product, not
                                   # a division, in the kernel's hot loop)
# exp(-q) < 2**-53 for q >= BRIDGE_QMAX, below the resolution of the uniforms, so the bridge
# probability is taken as 0 there (both implementations use the same cut-off).
BRIDGE_QMAX = 37.0
BIG = 1e18                         # "unbounded" contract count

EXIT_STOP, EXIT_TARGET, EXIT_TIME, EXIT_FORCED, EXIT_END, EXIT_GAP = 1, 2, 3, 4, 5, 6


def path_stream(block_state: dict, p: int) -> np.random.PCG64:
    """Path ``p``'s stream: a copy of the block's PCG64 advanced by ``p * 2**64`` draws."""
    bg = np.random.PCG64()
    bg.state = block_state
    return bg.advance(p << 64)


def _exp(x: float) -> float:
    """exp(x) as C gives it: inf on overflow (math.exp raises)."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _floor(x: float) -> float:
    """floor(x) as C gives it: inf and NaN pass through (math.floor raises)."""
    return math.floor(x) if math.isfinite(x) else x


def simulate_block(plan: Plan, streams, out: BlockOutput, on_event=None):
    """Simulate ``len(out.ruined)`` paths of ``plan``; fill ``out``.

    ``streams``: the block's BitGenerators, one per entry of ``_plan.STREAMS`` (advanced).

    ``on_event(kind, **info)`` (optional, twin only) is called on every entry, exit and
    margin call; tests use it to check invariants that the per-path summaries cannot show.
    """
    n = out.ruined.shape[0]
    states = [bg.state for bg in streams]
    M, K, G = plan.M, plan.K, plan.G
    T, spd, dt = plan.n_steps, plan.spd, plan.dt
    sqrt_dt = math.sqrt(dt)
    nu = plan.student_nu
    has_gaps = bool(np.any(plan.gap_p > 0))
    has_both = bool(np.any(plan.dir_mode == BOTH))
    record = out.equity.shape[0] > 0
    chol, volmult = plan.chol, plan.volmult
    pv, tick, im, mm, comm = plan.pv, plan.tick, plan.im, plan.mm, plan.comm
    slip_ticks = plan.slip_ticks

    # ---- per-path state -----------------------------------------------------------------
    alive = [True] * n
    cash = [plan.capital] * n
    peak = [plan.capital] * n
    regime = [plan.regime0] * n
    tier = [0] * n
    logp = [[float(plan.logp0[i]) for i in range(M)] for _ in range(n)]
    price = [[_exp(logp[p][i]) for i in range(M)] for p in range(n)]
    lclose = [[float(plan.logp0[i]) for i in range(M)] for _ in range(n)]
    s2 = [[float(plan.sigma[i]) * float(plan.sigma[i]) / 252.0 for i in range(M)] for _ in range(n)]
    hist = plan.hist_mode != HIST_OFF
    if hist and spd != 1:
        raise ValueError("history: one step a day")
    atr = [[0.0] * M for _ in range(n)]     # history: Wilder's ATR(14), price units
    # open position per market: None, or a dict
    pos = [[None] * M for _ in range(n)]
    next_entry = [[0] * M for _ in range(n)]
    # correlation review: one path at a time, so one ring [M * W] (market-major) and one set of
    # flags serve the whole block (reset at each path's start; the ring is fully rewritten
    # before a path's first review, which waits for W returns)
    corr_on = plan.corr_action != CORR_OFF
    W = int(plan.corr_window) if corr_on else 0
    ring = [0.0] * (M * W)
    flag = [0] * (M * M)     # flag[i * M + j]: pair (i, j) flagged at the last review
    mflag = [0] * M          # market i is in a flagged pair
    nflag = 0                # flagged pairs

    for p in range(n):
        out.peak_equity[p] = plan.capital
        tier[p] = _initial_tier(plan, plan.capital)
        for k in range(K):
            if plan.capital >= plan.tier_reach[k]:
                out.tier_day[p, k] = 0
        out.regime_spells[plan.regime0] += 1
        if record:
            out.equity[p, 0] = plan.capital

    def close(p, i, fill, kind, t):
        q = pos[p][i]
        c, nq, s = q["c"], q["n"], q["dir"]
        gross = s * nq * pv[c] * (fill - q["entry"])
        cash[p] += gross - nq * comm[c]
        pnl = gross - 2 * nq * comm[c]
        out.trades[p] += 1
        out.m_trades[i] += 1
        win = pnl > 0.0
        if win:
            out.wins[p] += 1
            out.m_wins[i] += 1
        R = 0.0
        if q["D"] > 0.0:
            R = pnl / (q["D"] * pv[c] * nq)
            if win:
                out.m_win_r[i] += R
                out.m_win_rn[i] += 1
            else:
                out.m_loss_r[i] += R
                out.m_loss_rn[i] += 1
        if kind == EXIT_GAP:
            out.m_gap_fills[i] += 1
            if q["D"] > 0.0 and R < -1.0:
                out.m_beyond_1r[i] += 1
        pos[p][i] = None
        next_entry[p][i] = t + 1 + int(plan.cooldown[i])
        if on_event is not None:
            on_event("exit", path=p, market=i, step=t, how=kind, fill=fill, pnl=pnl, R=R,
                     contracts=nq)

    def settle_exit(p, i, hit, t):
        """An open trade's exit decision carried out (the kernel's ``settle_exit``): the time
        stop where neither level was hit, then the fill -- a stop less slippage, the target, or
        the step's price less slippage for a time exit."""
        q = pos[p][i]
        s = q["dir"]
        if hit == 0 and plan.max_hold[i] > 0 and q["held"] >= plan.max_hold[i]:
            hit = EXIT_TIME
        if hit == EXIT_STOP:
            close(p, i, q["stop"] - s * (slip_ticks * tick[q["c"]]), hit, t)
        elif hit == EXIT_TARGET:
            close(p, i, q["target"], hit, t)
        elif hit == EXIT_TIME:
            close(p, i, price[p][i] - s * (slip_ticks * tick[q["c"]]), hit, t)

    def equity(p):
        E = cash[p]
        for i in range(M):
            q = pos[p][i]
            if q is not None:
                E += q["dir"] * q["n"] * pv[q["c"]] * (price[p][i] - q["entry"])
        return E

    def track_drawdown(p, E):
        """Update the path's peak and maximum drawdown with equity E; return E's drawdown."""
        if E > peak[p]:
            peak[p] = E
        dd = (peak[p] - E) / peak[p] if peak[p] > 0.0 else 1.0
        if dd > out.max_dd[p]:
            out.max_dd[p] = dd
        return dd

    def liquidate(p, t, slip_on):
        for i in range(M):
            q = pos[p][i]
            if q is not None:
                fill = price[p][i]
                if slip_on:
                    fill = fill - q["dir"] * (slip_ticks * tick[q["c"]])
                close(p, i, fill, EXIT_FORCED if slip_on else EXIT_END, t)

    def enter(p, t, u_dir):
        """B. entries at the step's start (shared by the GBM step and the history day):
        every flat market past its cooldown that the current tier trades opens
        n = min(n_tier, n_risk, n_cap, n_funds) contracts at the price plus slippage."""
        E = equity(p)
        sum_im = 0.0
        for i in range(M):
            q = pos[p][i]
            if q is not None:
                sum_im += q["n"] * im[q["c"]]
        tr = tier[p]
        for i in range(M):
            if pos[p][i] is not None or t < next_entry[p][i]:
                continue
            c = int(plan.tier_contract[tr, i])
            if c < 0 or plan.tier_max[tr, i] <= 0:
                continue
            if plan.corr_action == CORR_ONE_PER_PAIR and mflag[i] \
                    and pair_partner_open(flag, M, i, [pos[p][j] is not None for j in range(M)]):
                out.m_corr_skip[i] += 1
                out.skipped[p] += 1
                if on_event is not None:
                    on_event("skip", path=p, market=i, step=t, reason=SKIP_CORR)
                continue
            scaled = plan.corr_action == CORR_SCALE and mflag[i] != 0
            rpt = plan.risk_per_trade * plan.corr_scale if scaled else plan.risk_per_trade
            P = price[p][i]
            s = int(plan.dir_mode[i])
            if s == BOTH:
                s = 1 if u_dir[i] < 0.5 else -1
            sk = plan.stop_kind[i]
            if sk == STOP_ATR:
                if hist:
                    D = plan.stop_val[i] * atr[p][i]    # Wilder's ATR(14) of the path's bars
                else:
                    D = plan.stop_val[i] * ATR_K * P * math.sqrt(s2[p][i])
            elif sk == STOP_FIXED:
                D = float(plan.stop_val[i])
            else:
                D = 0.0
            slip = slip_ticks * tick[c]
            n_tier = float(plan.tier_max[tr, i])
            if sk != STOP_NONE:
                n_risk = _floor(rpt * E / (D * pv[c] + slip * pv[c] + 2.0 * comm[c]))
            else:
                n_risk = BIG
            if plan.margin_cap < BIG:
                n_cap = _floor(plan.margin_cap * E / im[c])
            else:
                n_cap = BIG
            n_funds = _floor((E - sum_im) / im[c])
            nd = min(n_tier, n_risk, n_cap, n_funds)
            nd0 = nd
            if scaled:
                # the count without the review's scaling, to tell reduced / skipped entries
                if sk != STOP_NONE:
                    n_risk0 = _floor(plan.risk_per_trade * E / (D * pv[c] + slip * pv[c] + 2.0 * comm[c]))
                else:
                    n_risk0 = BIG
                nd0 = min(n_tier, n_risk0, n_cap, n_funds)
            if nd <= 0.0 and nd0 > 0.0:
                # the unscaled risk would have allowed a contract: the review skipped it
                out.m_corr_skip[i] += 1
                out.skipped[p] += 1
                if on_event is not None:
                    on_event("skip", path=p, market=i, step=t, reason=SKIP_CORR)
                continue
            if nd <= 0.0:
                if n_risk <= 0.0:
                    reason = SKIP_RISK
                elif n_cap <= 0.0:
                    reason = SKIP_MARGIN_CAP
                else:
                    reason = SKIP_FUNDS
                out.m_skip[i, reason] += 1
                out.skipped[p] += 1
                if on_event is not None:
                    on_event("skip", path=p, market=i, step=t, reason=reason)
                continue
            nq = int(nd)
            fill = P + s * slip
            if sk != STOP_NONE and fill - s * D <= 0.0:
                # a long stop at or below zero (ATR grown to the price) cannot be placed:
                # the trade would carry no stop, so it is skipped under the risk rule
                out.m_skip[i, SKIP_RISK] += 1
                out.skipped[p] += 1
                if on_event is not None:
                    on_event("skip", path=p, market=i, step=t, reason=SKIP_RISK)
                continue
            q = {"c": c, "n": nq, "dir": s, "entry": fill, "D": D, "held": 0,
                 "has_stop": False, "lstop": 0.0, "stop": 0.0,
                 "has_target": False, "ltarget": 0.0, "target": 0.0}
            if sk != STOP_NONE:
                stop = fill - s * D        # > 0: entries with a stop at/below 0 were skipped
                q["has_stop"], q["stop"], q["lstop"] = True, stop, math.log(stop)
            tk = plan.target_kind[i]
            if tk != TARGET_NONE:
                if tk == TARGET_R:
                    target = fill + s * (plan.target_val[i] * D)
                else:
                    target = fill + s * plan.target_val[i]
                if target > 0.0:
                    q["has_target"], q["target"], q["ltarget"] = True, target, math.log(target)
            if nd < nd0:
                out.m_corr_reduced[i] += 1
            if on_event is not None:
                on_event("entry", path=p, market=i, step=t, contracts=nq, dir=s, fill=fill,
                         D=D, equity=E, open_im=sum_im, n_tier=n_tier, n_risk=n_risk,
                         n_cap=n_cap, n_funds=n_funds, im=im[c], tier=tr, contract=c,
                         risk_per_trade=rpt, flagged=bool(mflag[i]) if corr_on else False,
                         contracts_unscaled=int(nd0))
            pos[p][i] = q
            cash[p] -= nq * comm[c]
            E = E - nq * comm[c] - nq * pv[c] * slip
            sum_im += nq * im[c]


    def hist_day(p, t, idx, u_exit, u_dir):
        """One day of real history (SPEC 11) for path p on pool date ``idx``: A. the open
        (an open beyond a level fills there: a stop less slippage, EXIT_GAP), B. entries at
        the open, C/D. the day's range against the open trades' levels (``bar_exit``), the
        time stop at the close. The close is left in logp/price for E and F."""
        xo = [0.0] * M
        for i in range(M):
            x = lclose[p][i] + float(plan.hist_lrel[idx, i, 0])
            xo[i] = x
            logp[p][i] = x
            price[p][i] = _exp(x)
            q = pos[p][i]
            if q is None:
                continue
            s = q["dir"]
            if q["has_stop"] and s * (x - q["lstop"]) <= 0.0:
                close(p, i, price[p][i] - s * (slip_ticks * tick[q["c"]]), EXIT_GAP, t)
            elif q["has_target"] and s * (x - q["ltarget"]) >= 0.0:
                close(p, i, price[p][i], EXIT_TARGET, t)
        enter(p, t, u_dir)
        for i in range(M):
            lc = lclose[p][i]
            xh = lc + float(plan.hist_lrel[idx, i, 1])
            xl = lc + float(plan.hist_lrel[idx, i, 2])
            xc = lc + float(plan.hist_lrel[idx, i, 3])
            logp[p][i] = xc
            price[p][i] = _exp(xc)
            q = pos[p][i]
            if q is None:
                continue
            q["held"] += 1
            s = q["dir"]
            hit = bar_exit(s, xo[i], xh, xl, xc, q["has_stop"], q["lstop"], q["has_target"],
                           q["ltarget"], float(plan.hist_pvar[idx, i]), u_exit[i],
                           plan.hist_order)
            settle_exit(p, i, hit, t)

    for p in range(n):
        # ---- this path's own streams: the block's, advanced by p * 2^64 draws ---------------
        rng_shocks, rng_exits, rng_dirs, rng_regimes, rng_gaps, rng_tails, rng_dates = (
            np.random.Generator(path_stream(st, p)) for st in states)
        if hist:
            # the path's dates (all drawn before its first day), and its start at the first one
            seq = history_dates(plan, p, rng_dates)
            for i in range(M):
                x = float(plan.logp0[i]) if plan.hist_scale == 0 else float(plan.hist_lc0[seq[0], i])
                logp[p][i] = x
                price[p][i] = _exp(x)
                lclose[p][i] = x
                atr[p][i] = float(plan.hist_atr[seq[0], i]) * price[p][i]
        if corr_on:
            for i in range(M * M):
                flag[i] = 0
            for i in range(M):
                mflag[i] = 0
            nflag = 0
        for t in range(T):
            d, k = divmod(t, spd)
            day = d + 1
            boundary = (k == 0 and d > 0)
            w = 1 if plan.win_lo <= day <= plan.win_hi else 0
            if hist:
                # ---- a day of real history (SPEC 11): A. open, B. entries, C/D. range ----
                u_exit = rng_exits.random(M)
                u_dir = rng_dirs.random(M) if has_both else None
                hist_day(p, t, seq[t], u_exit, u_dir)
            else:
                # ---- this step's random numbers, each purpose from its own stream ---------------
                if boundary and G > 1:
                    u_reg = rng_regimes.random()
                if boundary and has_gaps:
                    u_gap = rng_gaps.random(M)
                    z_gap = rng_gaps.standard_normal(M)
                z = rng_shocks.standard_normal(M)
                if nu > 0.0:
                    gam = rng_tails.standard_gamma(nu / 2.0)
                u_exit = rng_exits.random(M)
                if has_both:
                    u_dir = rng_dirs.random(M)

                # ---- A. day boundary: regime switch, gaps --------------------------------------
                if boundary and G > 1:
                    r = regime[p]
                    j = 0
                    while j < G - 1 and u_reg >= plan.trans_cum[r, j]:
                        j += 1
                    if j != r:
                        regime[p] = j
                        out.regime_spells[j] += 1
                if boundary and has_gaps:
                    for i in range(M):
                        src = 0 if plan.gap_common else i
                        if u_gap[src] < plan.gap_p[src]:
                            logp[p][i] += plan.gap_mu[i] + plan.gap_sd[i] * z_gap[src]
                            price[p][i] = _exp(logp[p][i])
                            q = pos[p][i]
                            if q is None:
                                continue
                            s = q["dir"]
                            if q["has_stop"] and s * (logp[p][i] - q["lstop"]) <= 0.0:
                                close(p, i, price[p][i] - s * (slip_ticks * tick[q["c"]]), EXIT_GAP, t)
                            elif q["has_target"] and s * (logp[p][i] - q["ltarget"]) >= 0.0:
                                close(p, i, q["target"], EXIT_TARGET, t)

                # ---- B. entries ------------------------------------------------------------
                enter(p, t, u_dir if has_both else None)

                # ---- C. prices move --------------------------------------------------------------
                g = regime[p]
                vm = volmult[w, g]
                ts = math.sqrt((nu - 2.0) / (2.0 * gam)) if nu > 0.0 else 1.0
                x0 = [0.0] * M
                for i in range(M):
                    e = 0.0
                    for j in range(i + 1):
                        e += chol[w, g, i, j] * z[j]
                    sig = plan.sigma[i] * vm
                    drift = plan.mu[i] - 0.5 * sig * sig
                    q = pos[p][i]
                    if q is not None:
                        drift += q["dir"] * plan.alpha[i]
                    x0[i] = logp[p][i]
                    logp[p][i] += drift * dt + sig * sqrt_dt * ts * e
                    price[p][i] = _exp(logp[p][i])

                # ---- D. exits --------------------------------------------------------------------
                for i in range(M):
                    q = pos[p][i]
                    if q is None:
                        continue
                    q["held"] += 1
                    s = q["dir"]
                    sig = plan.sigma[i] * vm * ts
                    v = sig * sig * dt
                    hit = exit_decision(s, x0[i], logp[p][i], q["has_stop"], q["lstop"],
                                        q["has_target"], q["ltarget"], v, u_exit[i])
                    settle_exit(p, i, hit, t)

            # ---- E. margin call, peak and drawdown, ruin ------------------------------------
            E = equity(p)
            if not math.isfinite(E):
                # an overflow (a runaway drift, an absurd price): the path is void; it stops
                # here and the runner fails the whole run (no result is reported)
                _void(out, p, E, peak[p], day)
                alive[p] = False
                break
            any_open = False
            sum_mm = 0.0
            for i in range(M):
                q = pos[p][i]
                if q is not None:
                    any_open = True
                    sum_mm += q["n"] * mm[q["c"]]
            if any_open and E < sum_mm:
                out.margin_calls[p] += 1
                if on_event is not None:
                    on_event("margin_call", path=p, step=t, equity=E, maintenance=sum_mm)
                liquidate(p, t, True)
                E = cash[p]
            dd = track_drawdown(p, E)
            ruin_now = E < plan.ruin_level or dd >= plan.ruin_dd
            if E <= 0.0 or ruin_now:
                # ruin (a stated rule fired) or a blown account (equity <= 0, whatever the
                # rules): positions are liquidated and the path stops; only a stated rule
                # makes it a ruin (SPEC 9: `ruin: {}` = never)
                liquidate(p, t, True)
                if E <= 0.0 or cash[p] <= 0.0:
                    out.blown[p] = 1
                E = cash[p]
                track_drawdown(p, E)   # the forced close's costs count in the drawdown
                alive[p] = False
                out.stop_day[p] = day
                if ruin_now:
                    out.ruined[p] = 1
                    out.ruin_day[p] = day
                out.final_equity[p] = E
                out.peak_equity[p] = peak[p]
                if record:
                    out.equity[p, day:] = E
                break

            # ---- F. day end: ATR, tiers reached, current tier --------------------------------
            if k == spd - 1:
                finite = True
                for i in range(M):
                    r = logp[p][i] - lclose[p][i]
                    if hist:
                        # Wilder: the day's true range on the path, (13 ATR + TR) / 14
                        trv = _exp(lclose[p][i]) * float(plan.hist_tr[seq[t], i])
                        atr[p][i] = (13.0 * atr[p][i] + trv) / 14.0
                        if not math.isfinite(atr[p][i]):
                            finite = False
                    else:
                        s2[p][i] += (r * r - s2[p][i]) * WILDER_W
                    lclose[p][i] = logp[p][i]
                    if corr_on:
                        ring[i * W + (day - 1) % W] = r     # the day's close-to-close log return
                    if not math.isfinite(s2[p][i]):   # a log price that overflowed, or its square
                        finite = False
                if not finite:
                    _void(out, p, E, peak[p], day)
                    alive[p] = False
                    break
                for j in range(K):
                    if out.tier_day[p, j] < 0 and E >= plan.tier_reach[j]:
                        out.tier_day[p, j] = day
                tier[p] = _next_tier(plan, tier[p], E)
                out.regime_days[regime[p]] += 1
                if record:
                    out.equity[p, day] = E
                if corr_on:
                    if nflag > 0:
                        out.corr_days[p] += 1           # this day was traded under a flag
                    if is_review_day(day, plan.corr_every, W):
                        nflag = corr_review(ring, M, W, plan.corr_limit, flag, mflag)
                        out.corr_reviews[p] += 1
                        if nflag > 0:
                            out.corr_flagged[p] += 1
                        if on_event is not None:
                            on_event("review", path=p, step=t, day=day, flagged=nflag,
                                     pairs=[(i, j) for i in range(M) for j in range(i + 1, M)
                                            if flag[i * M + j]],
                                     r=pair_correlations(ring, M, W))

        # ---- horizon: close what is open at the last price, no slippage -----------------------
        if alive[p]:
            liquidate(p, T - 1, False)
            track_drawdown(p, cash[p])
            out.final_equity[p] = cash[p]
            out.peak_equity[p] = peak[p]
    return out


# ---- exits: the corridor law of a Brownian bridge (SPEC 4, design/corridor-exits.md) -----------
#
# Within a step the log price is a Brownian bridge from x0 to x1 with variance v. In the trade's
# own orientation (s = +1 long, -1 short) the stop lies below and the target above:
#   p0 = s (x0 - lstop), p1 = s (x1 - lstop)      distances above the stop
#   q0 = s (ltarget - x0), q1 = s (ltarget - x1)  distances below the target
#   w  = s (ltarget - lstop)                      the corridor's width
# One uniform u decides: stop if u < P_stop; target if u >= 1 - P_target; else no exit.

def corridor_series_test(u: float, upper: bool, q_first: float, d0: float, d1: float,
                         w: float, v: float) -> bool:
    """Is ``u < S`` (``upper`` False: the stop's test) or ``u >= 1 - S`` (``upper`` True: the
    target's), where ``S = S(d0, d1)`` is the probability that the bridge leaves the corridor
    through the barrier at distances ``d0``, ``d1`` first (the image series of
    design/corridor-exits.md)::

        S = sum_{j>=0} exp(-2 (j w + d0)(j w + d1) / v) - sum_{j>=1} exp(-2 j w (j w + d1 - d0) / v)

    ``q_first`` is the first term's exponent, ``2 d0 d1 / v`` (< BRIDGE_QMAX). The terms, taken
    in the order +pos_0, -neg_1, +pos_1, -neg_2, ..., never increase, so consecutive partial
    sums bracket S: the test is decided as soon as u falls outside a bracket (lazy evaluation),
    and at the latest when the next exponent reaches BRIDGE_QMAX (a term below 2**-53)."""
    S = math.exp(-q_first)                     # the one-barrier probability: an upper bound
    if not ((1.0 - u <= S) if upper else (u < S)):
        return False
    j = 1
    while True:
        jw = j * w
        e = 2.0 * jw * (jw + d1 - d0) / v
        if e >= BRIDGE_QMAX:
            return True
        S -= math.exp(-e)                      # a lower bound
        if (1.0 - u <= S) if upper else (u < S):
            return True
        e = 2.0 * (jw + d0) * (jw + d1) / v
        if e >= BRIDGE_QMAX:
            return False
        S += math.exp(-e)                      # an upper bound
        if not ((1.0 - u <= S) if upper else (u < S)):
            return False
        j += 1


def exit_decision(s: int, x0: float, x1: float, has_stop: bool, lstop: float,
                  has_target: bool, ltarget: float, v: float, u: float) -> int:
    """EXIT_STOP, EXIT_TARGET or 0 for one step of an open trade: the exact first exit of the
    step's Brownian bridge (from log price ``x0`` to ``x1``, variance ``v``) from the corridor
    between stop and target, decided by the one uniform ``u``.

    With one barrier (no target, or no stop) this is the one-barrier bridge probability
    ``exp(-2 p0 p1 / v)``. With both, where only one barrier is within reach (the other's
    exponent >= BRIDGE_QMAX) it is the same one-barrier test; otherwise the image series decides.
    A start at or beyond the stop (a stop placed inside the entry's slippage) exits at the stop,
    one at or beyond the target at the target."""
    qs = qt = BRIDGE_QMAX
    p0 = p1 = q0 = q1 = 0.0
    if has_stop:
        p0 = s * (x0 - lstop)
        p1 = s * (x1 - lstop)
        if p1 <= 0.0 or p0 <= 0.0:
            # ended at/beyond the stop (or started there)
            if not has_target or p0 <= 0.0:
                return EXIT_STOP
            q0 = s * (ltarget - x0)
            q1 = s * (ltarget - x1)
            qt = 2.0 * q0 * q1 / v
            # P_target = S(q0, q1): it touched the target first, then crossed the corridor
            if qt < BRIDGE_QMAX and corridor_series_test(u, True, qt, q0, q1,
                                                         s * (ltarget - lstop), v):
                return EXIT_TARGET
            return EXIT_STOP
        qs = 2.0 * p0 * p1 / v
    if has_target:
        q0 = s * (ltarget - x0)
        q1 = s * (ltarget - x1)
        if q1 <= 0.0 or q0 <= 0.0:
            # ended (or started) at/beyond the target; P_stop = S(p0, p1): it touched the stop
            # first, then crossed the corridor
            if q0 > 0.0 and has_stop and qs < BRIDGE_QMAX and corridor_series_test(
                    u, False, qs, p0, p1, s * (ltarget - lstop), v):
                return EXIT_STOP
            return EXIT_TARGET
        qt = 2.0 * q0 * q1 / v
    if qs >= BRIDGE_QMAX:
        # the stop is out of reach: the target's one-barrier test alone
        if qt < BRIDGE_QMAX and u >= 1.0 - math.exp(-qt):
            return EXIT_TARGET
        return 0
    if qt >= BRIDGE_QMAX:
        # the target is out of reach (or absent): the stop's one-barrier test alone
        return EXIT_STOP if u < math.exp(-qs) else 0
    # both within reach: the corridor law
    w = s * (ltarget - lstop)
    if corridor_series_test(u, False, qs, p0, p1, w, v):
        return EXIT_STOP
    if corridor_series_test(u, True, qt, q0, q1, w, v):
        return EXIT_TARGET
    return 0


# ---- real history (SPEC 11): the path's dates, and exits on a daily bar -------------------------

def history_dates(plan: Plan, p: int, rng) -> list:
    """Path ``p``'s pool dates, one per day. Replay: consecutive dates from the start date
    ``hist_first + p`` (wrapped into the start dates, as a guard). Bootstrap (Politis and
    Romano's stationary bootstrap): the first date uniform (``floor(u N)``); each next day the
    following date (wrapping from the last to the first) when ``u < 1 - 1/L``, else a uniform
    date from a second draw. All from the path's own ``dates`` stream, before its first day."""
    T, N = plan.n_days, plan.hist_n
    if plan.hist_mode == HIST_REPLAY:
        start = (plan.hist_first + p) % plan.hist_nstart
        return [start + t for t in range(T)]
    stay = 1.0 - 1.0 / plan.hist_block
    seq = [0] * T
    j = int(rng.random() * N)
    if j >= N:
        j = N - 1
    seq[0] = j
    for t in range(1, T):
        if rng.random() < stay:
            j += 1
            if j == N:
                j = 0
        else:
            j = int(rng.random() * N)
            if j >= N:
                j = N - 1
        seq[t] = j
    return seq


def corridor_prob(d0: float, d1: float, w: float, v: float) -> float:
    """The image series S(d0, d1) of design/corridor-exits.md summed out (to the terms below
    2**-53, BRIDGE_QMAX): the probability that a bridge of variance ``v`` from distance ``d0``
    to ``d1`` above a barrier leaves the corridor of width ``w`` through that barrier first."""
    e = 2.0 * d0 * d1 / v
    if e >= BRIDGE_QMAX:
        return 0.0
    S = math.exp(-e)
    j = 1
    while True:
        jw = j * w
        e = 2.0 * jw * (jw + d1 - d0) / v
        if e >= BRIDGE_QMAX:
            return S
        S -= math.exp(-e)
        e = 2.0 * (jw + d0) * (jw + d1) / v
        if e >= BRIDGE_QMAX:
            return S
        S += math.exp(-e)
        j += 1


def bar_exit(s: int, xo: float, xh: float, xl: float, xc: float, has_stop: bool, lstop: float,
             has_target: bool, ltarget: float, v: float, u: float, order: int) -> int:
    """EXIT_STOP, EXIT_TARGET or 0 for an open trade on one daily bar (log open, high, low,
    close ``xo, xh, xl, xc``; the open itself was tested before). A level inside [low, high]
    was touched. When both were, ``order`` ORDER_STOP_FIRST says the stop; ORDER_BRIDGE asks
    the corridor law of a bridge from the open to the close with the day's Parkinson
    variance ``v``: with P_s, P_t the probabilities that it leaves the corridor first through
    the stop, the target (a close beyond a level: that level's is 1 - the other's), the stop
    came first when ``u (P_s + P_t) < P_s`` (the nearer level when both are 0)."""
    xa, xf = (xl, xh) if s > 0 else (xh, xl)
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
        ps = pt = 0.0
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


# ---- the correlation review (rules.correlation_review, SPEC 12) ---------------------------------
#
# The Pearson sums are recomputed from the ring at each review (two passes: means, then centred
# sums) rather than kept as running sums: reviews are rare (every corr_every days), the cost is
# M * W + M (M - 1) / 2 * W multiply-adds per review, and the result is exact for the window
# (running sums would drift by cancellation over long horizons). The ring's slots are summed in
# slot order, k = 0 .. W - 1, in both implementations.

def is_review_day(day: int, every: int, W: int) -> bool:
    """Review at the end of day ``day`` (1-based): every ``every``-th day, the first once the
    path has ``W`` daily returns."""
    return day % every == 0 and day >= W


def pair_correlation(sxy: float, sxx: float, syy: float) -> float:
    """Pearson's r from centred sums; 0 when a market did not move (or a sum overflowed);
    clamped to [-1, 1] against rounding."""
    den = math.sqrt(sxx * syy)
    if not (den > 0.0 and den < math.inf):
        return 0.0
    r = sxy / den
    if r > 1.0:
        r = 1.0
    elif r < -1.0:
        r = -1.0
    return r


def ring_moments(ring, M: int, W: int, mean, sxx) -> None:
    """Each market's mean and centred sum of squares over the ring (mean[i], sxx[i])."""
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


def ring_pair_r(ring, W: int, i: int, j: int, mean, sxx) -> float:
    """Pearson's r of markets i and j over the ring."""
    sxy = 0.0
    for k in range(W):
        sxy += (ring[i * W + k] - mean[i]) * (ring[j * W + k] - mean[j])
    return pair_correlation(sxy, sxx[i], sxx[j])


def corr_review(ring, M: int, W: int, limit: float, flag, mflag) -> int:
    """One review: flag[i*M+j] = flag[j*M+i] = 1 for pairs with r >= limit (0 otherwise),
    mflag[i] = 1 for markets in a flagged pair; return the number of flagged pairs."""
    mean = [0.0] * M
    sxx = [0.0] * M
    ring_moments(ring, M, W, mean, sxx)
    for i in range(M):
        mflag[i] = 0
    nf = 0
    for i in range(M):
        for j in range(i + 1, M):
            f = 1 if ring_pair_r(ring, W, i, j, mean, sxx) >= limit else 0
            flag[i * M + j] = f
            flag[j * M + i] = f
            if f:
                mflag[i] = 1
                mflag[j] = 1
                nf += 1
    return nf


def pair_correlations(ring, M: int, W: int) -> dict:
    """{(i, j): r} for every pair (twin only: the review event's estimates, for tests)."""
    mean = [0.0] * M
    sxx = [0.0] * M
    ring_moments(ring, M, W, mean, sxx)
    return {(i, j): ring_pair_r(ring, W, i, j, mean, sxx)
            for i in range(M) for j in range(i + 1, M)}


def pair_partner_open(flag, M: int, i: int, is_open) -> bool:
    """one_per_pair: does the other market of a flagged pair with market i hold a position?"""
    for j in range(M):
        if flag[i * M + j] and is_open[j]:
            return True
    return False


def _void(out: BlockOutput, p: int, E: float, peak: float, day: int) -> None:
    """A path whose state became non-finite: flagged (the runner refuses the run), stopped."""
    out.nonfinite[p] = 1
    out.stop_day[p] = day
    out.final_equity[p] = E
    out.peak_equity[p] = peak


def _initial_tier(plan: Plan, E: float) -> int:
    tr = 0
    for j in range(plan.K):
        if E >= plan.tier_thr[j]:
            tr = j
    return tr


def _next_tier(plan: Plan, cur: int, E: float) -> int:
    """Highest tier whose threshold E meets, or that E holds with its demotion buffer
    (only tiers at or below the current one can be held on a buffer)."""
    tr = 0
    for j in range(plan.K):
        if E >= plan.tier_thr[j] or (j <= cur and E >= plan.tier_thr[j] * (1.0 - plan.tier_buf[j])):
            tr = j
    return tr
