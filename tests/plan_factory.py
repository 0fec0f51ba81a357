"""Hand-built plans for kernel tests: random small plans that switch every rule on, and the
simple one-market plans whose answers have closed forms."""
from __future__ import annotations

import math

import numpy as np

from simcore._plan import (BOTH, LONG, SHORT, STOP_ATR, STOP_FIXED, STOP_NONE, TARGET_FIXED,
                           TARGET_NONE, TARGET_R, Plan)


def _corr(rng, M):
    A = rng.normal(size=(M, M + 2))
    C = A @ A.T
    d = np.sqrt(np.diag(C))
    return C / np.outer(d, d)


def make_plan(*, M=1, n_days=252, spd=1, capital=10_000.0, price=None, sigma=None, mu=None,
              corr=None, dir_mode=None, stop_kind=None, stop_val=None, target_kind=None,
              target_val=None, alpha=None, max_hold=None, cooldown=None, pv=None, tick=None,
              im=None, mm=None, comm=None, tier_thr=(-math.inf,), tier_buf=None,
              tier_reach=None, tier_contract=None, tier_max=None, risk_per_trade=1.0,
              margin_cap=math.inf, slip_ticks=0.0, ruin_level=-math.inf, ruin_dd=math.inf,
              regimes=None, window=(1, 0), window_chol=None, window_volmult=None,
              student_nu=0.0, gaps=None, gap_common=0):
    """A Plan from keyword overrides; defaults are one long market, one contract, no costs.

    ``regimes`` = (corrs[G], volmult[G], trans[G, G], regime0). ``gaps`` = (p, mu, sd) arrays.
    """
    f8 = lambda v, n, default: np.ascontiguousarray(
        np.broadcast_to(np.asarray(default if v is None else v, dtype=np.float64), (n,)))
    i4 = lambda v, n, default: np.ascontiguousarray(
        np.broadcast_to(np.asarray(default if v is None else v, dtype=np.int32), (n,)))
    C = 1 if pv is None else len(np.atleast_1d(pv))
    K = len(tier_thr)
    corr = np.eye(M) if corr is None else np.asarray(corr, float)
    if regimes is None:
        corrs, vms, trans, regime0 = [corr], [1.0], np.ones((1, 1)), 0
    else:
        corrs, vms, trans, regime0 = regimes
    G = len(corrs)
    L = np.stack([np.linalg.cholesky(np.asarray(c, float)) for c in corrs])
    Lw = L if window_chol is None else np.stack([np.linalg.cholesky(np.asarray(c, float))
                                                  for c in window_chol])
    vm = np.asarray(vms, float)
    vmw = vm if window_volmult is None else np.asarray(window_volmult, float)
    gp, gm, gs = (None, None, None) if gaps is None else gaps
    price = f8(price, M, 100.0)
    if tier_contract is None:
        tier_contract = np.zeros((K, M), np.int32)
    if tier_max is None:
        tier_max = np.ones((K, M), np.int32)
    return Plan(
        n_days=n_days, spd=spd, dt=1.0 / (252 * spd), capital=float(capital),
        market_names=tuple(f"X{i}" for i in range(M)),
        logp0=np.log(price), mu=f8(mu, M, 0.0), sigma=f8(sigma, M, 0.2),
        chol=np.ascontiguousarray(np.stack([L, Lw])),
        volmult=np.ascontiguousarray(np.stack([vm, vmw])),
        trans_cum=np.ascontiguousarray(np.cumsum(np.asarray(trans, float), axis=1)),
        regime0=int(regime0), win_lo=int(window[0]), win_hi=int(window[1]),
        student_nu=float(student_nu),
        gap_p=f8(gp, M, 0.0), gap_mu=f8(gm, M, 0.0), gap_sd=f8(gs, M, 0.0),
        gap_common=int(gap_common),
        dir_mode=i4(dir_mode, M, LONG), stop_kind=i4(stop_kind, M, STOP_NONE),
        stop_val=f8(stop_val, M, 0.0), target_kind=i4(target_kind, M, TARGET_NONE),
        target_val=f8(target_val, M, 0.0), alpha=f8(alpha, M, 0.0),
        max_hold=i4(max_hold, M, 0), cooldown=i4(cooldown, M, 0),
        contract_names=tuple(f"C{c}" for c in range(C)),
        pv=f8(pv, C, 1.0), tick=f8(tick, C, 0.01), im=f8(im, C, 1.0), mm=f8(mm, C, 0.5),
        comm=f8(comm, C, 0.0),
        tier_thr=np.asarray(tier_thr, float), tier_buf=f8(tier_buf, K, 0.0),
        tier_reach=np.asarray(tier_thr if tier_reach is None else tier_reach, float),
        tier_contract=np.ascontiguousarray(np.asarray(tier_contract, np.int32).reshape(K, M)),
        tier_max=np.ascontiguousarray(np.asarray(tier_max, np.int32).reshape(K, M)),
        risk_per_trade=float(risk_per_trade), margin_cap=float(margin_cap),
        slip_ticks=float(slip_ticks), ruin_level=float(ruin_level), ruin_dd=float(ruin_dd),
        tier_labels=tuple(None if not np.isfinite(x) else float(x) for x in tier_thr),
        alpha_source=("alpha",) * M, target_win_rate=(None,) * M,
    )


def random_plan(seed: int, *, stress: bool = True) -> Plan:
    """A small random plan with every rule in play (and, with ``stress``, regimes, a stress
    window, Student-t shocks and gaps), tuned so that entries, skips, stops, targets, time
    stops, margin calls, tier moves and ruin all happen within a few dozen paths."""
    rng = np.random.default_rng(seed)
    M = int(rng.integers(1, 5))
    spd = int(rng.choice([1, 1, 2, 3]))
    n_days = int(rng.integers(20, 90))
    price = rng.uniform(20, 3000, M)
    sigma = rng.uniform(0.1, 0.9, M)
    mu = rng.normal(0, 0.2, M)
    corr = _corr(rng, M)
    dir_mode = rng.choice([LONG, SHORT, BOTH], M)
    stop_kind = rng.choice([STOP_ATR, STOP_ATR, STOP_FIXED, STOP_NONE], M)
    stop_val = np.where(stop_kind == STOP_ATR, rng.uniform(0.3, 2.5, M),
                        price * rng.uniform(0.005, 0.05, M))
    target_kind = rng.choice([TARGET_R, TARGET_FIXED, TARGET_NONE], M)
    target_kind = np.where((stop_kind == STOP_NONE) & (target_kind == TARGET_R), TARGET_FIXED,
                           target_kind)
    target_val = np.where(target_kind == TARGET_R, rng.uniform(0.5, 3.0, M),
                          price * rng.uniform(0.005, 0.05, M))
    C = M * 2      # a micro and a "mini" (10x) per market
    pv = np.empty(C)
    pv[:M] = rng.uniform(1, 20, M) * 1000 / price
    pv[M:] = pv[:M] * 10
    tick = np.concatenate([price * 1e-4, price * 1e-4])
    im = pv * np.concatenate([price, price]) * rng.uniform(0.03, 0.08, C)
    mm = im * rng.uniform(0.8, 0.95, C)
    comm = rng.uniform(0, 3, C)
    capital = float(rng.uniform(2_000, 30_000))
    K = int(rng.integers(1, 4))
    thr = np.concatenate([[-math.inf], np.sort(rng.uniform(0.8, 2.0, K - 1)) * capital])
    reach = thr.copy()
    reach[0] = capital * rng.choice([0.0, 1.0, 1.1])
    tier_contract = np.zeros((K, M), np.int32)
    tier_max = rng.integers(1, 5, (K, M)).astype(np.int32)
    for k in range(K):
        tier_contract[k] = np.arange(M) + (M if k == K - 1 and K > 1 else 0)
        drop = rng.random(M) < 0.15
        tier_contract[k, drop] = -1
    kw = dict(
        M=M, n_days=n_days, spd=spd, capital=capital, price=price, sigma=sigma, mu=mu,
        corr=corr, dir_mode=dir_mode, stop_kind=stop_kind, stop_val=stop_val,
        target_kind=target_kind, target_val=target_val, alpha=rng.normal(0, 0.3, M),
        max_hold=rng.choice([0, 3, 10], M) * spd, cooldown=rng.choice([0, 0, 2], M) * spd,
        pv=pv, tick=tick, im=im, mm=mm, comm=comm, tier_thr=thr,
        tier_buf=rng.choice([0.0, 0.1], K), tier_reach=reach, tier_contract=tier_contract,
        tier_max=tier_max, risk_per_trade=float(rng.uniform(0.005, 0.2)),
        margin_cap=float(rng.choice([math.inf, 0.2, 0.5])),
        slip_ticks=float(rng.choice([0, 1, 2])),
        ruin_level=float(rng.choice([-math.inf, 0.5 * capital])),
        ruin_dd=float(rng.choice([math.inf, 0.4])),
    )
    if stress:
        G = int(rng.integers(1, 3))
        if G > 1:
            trans = rng.uniform(0.05, 1, (G, G)) + np.eye(G) * 3
            trans /= trans.sum(axis=1, keepdims=True)
            kw["regimes"] = ([_corr(rng, M) for _ in range(G)], rng.uniform(0.7, 2.5, G),
                             trans, int(rng.integers(0, G)))
            kw["window_chol"] = [_corr(rng, M) for _ in range(G)]
            kw["window_volmult"] = rng.uniform(1, 3, G)
        else:
            kw["window_chol"] = [_corr(rng, M)]
            kw["window_volmult"] = [2.0]
        lo = int(rng.integers(1, n_days))
        kw["window"] = (lo, int(rng.integers(lo, n_days + 1)))
        if rng.random() < 0.5:
            kw["student_nu"] = float(rng.uniform(3, 8))
        if rng.random() < 0.6:
            kw["gaps"] = (rng.uniform(0, 0.2, M), rng.normal(0, 0.01, M), rng.uniform(0.005, 0.05, M))
            kw["gap_common"] = int(rng.random() < 0.4)
    return make_plan(**kw)


def streams(seed: int):
    """A block's random streams for ``seed`` (fresh BitGenerators each call)."""
    from simcore._plan import block_streams
    return block_streams(np.random.SeedSequence(seed))


#: a small two-market plan file's keys (MES-sized S&P 500 long, crude both ways, two tiers):
#: what the command-line, report and browser tests run
TWO_MARKET = {
    "name": "two markets", "capital": 10000, "horizon_days": 80, "paths": 1024, "seed": 3,
    "markets": {"SP500": {"price": 6000, "vol": 0.18}, "CRUDE": {"price": 70, "vol": 0.35}},
    "correlation": {"SP500/CRUDE": 0.3},
    "contracts": {"MES": {"initial_margin": 600, "maintenance_margin": 500},
                  "MCL": {"initial_margin": 400, "maintenance_margin": 350}},
    "strategies": {
        "SP500": {"direction": "long", "stop": {"atr": 1.0}, "target": {"r": 2.0},
                  "win_rate": 0.4, "max_hold_days": 5},
        "CRUDE": {"direction": "both", "stop": {"atr": 1.0}, "target": {"r": 2.0},
                  "alpha": 0.2, "max_hold_days": 5},
    },
    "rules": {"risk_per_trade": 0.05, "margin_cap": 0.5, "slippage_ticks": 1,
              "ruin": {"below_fraction": 0.7}},
    "tiers": [{"at": 10000, "contracts": {"MES": 1, "MCL": 1}},
              {"at": 12000, "contracts": {"MES": 2, "MCL": 2}}],
}


def two_market_plan(**top) -> dict:
    """A fresh copy of :data:`TWO_MARKET` with top-level keys replaced."""
    import copy
    d = copy.deepcopy(TWO_MARKET)
    d.update(top)
    return d


def assert_identical(a, b) -> None:
    """Two BlockOutputs hold the same numbers, field by field (dtype, shape and every bit):
    kernel against twin, one run against another."""
    from simcore._plan import BlockOutput
    for f in BlockOutput.PER_PATH + BlockOutput.PER_BLOCK:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and x.shape == y.shape, f
        np.testing.assert_array_equal(x, y, err_msg=f"field {f}")
