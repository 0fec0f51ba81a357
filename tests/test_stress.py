"""Stress layer (SPEC 6): spiked correlations, Student-t shocks, regimes, gaps, and the
paired comparison of stress rows with the base on common random numbers."""
import math

import numpy as np
import pytest

from plan_factory import make_plan, streams
from simcore import _kernel, _kernel_python
from simcore._plan import BlockOutput, BOTH, LONG, SHORT, STOP_FIXED, TARGET_R
from simcore.runner import simulate
from simcore.stress import (Stress, adverse_signs, apply_stress, paired_mean_diff,
                            paired_proportion_diff,
                            psd_cholesky, run_stress, spike_matrix)

R4 = np.array([[1, .05, .3, .1], [.05, 1, .15, .35], [.3, .15, 1, .15], [.1, .35, .15, 1]])


def check(name, expected, measured, se, n):
    print(f"CHECK {name}: expected={expected:.6g} measured={measured:.6g} se={se:.3g} n={n}")


@pytest.mark.parametrize("adverse", [False, True])
def test_spiked_matrix_is_a_correlation_matrix_for_every_weight(adverse):
    signs = np.array([1, -1, 1, -1.0]) if adverse else None
    for w in np.linspace(0, 1, 21):
        S = spike_matrix(R4, w, signs)
        assert np.allclose(S, S.T)
        assert np.allclose(np.diag(S), 1.0)
        assert np.all(np.abs(S) <= 1 + 1e-12)
        assert np.linalg.eigvalsh(S).min() >= -1e-12
        L = psd_cholesky(S)
        assert np.allclose(L @ L.T, S, atol=1e-10)
        assert np.allclose(L, np.tril(L))
    with pytest.raises(ValueError):
        spike_matrix(R4, 1.5)


def test_adverse_signs_follow_directions():
    plan = make_plan(M=4, corr=R4, dir_mode=[LONG, SHORT, BOTH, SHORT])
    np.testing.assert_array_equal(adverse_signs(plan), [1, -1, 1, -1])
    S = spike_matrix(R4, 1.0, adverse_signs(plan))
    # long vs short markets end up perfectly anti-correlated: the spike hurts both positions
    assert S[0, 1] == pytest.approx(-1.0) and S[1, 3] == pytest.approx(1.0)


@pytest.mark.parametrize("adverse", [False, True])
def test_full_spike_moves_shocks_together(adverse):
    plan = make_plan(M=4, corr=R4, dir_mode=[LONG, SHORT, LONG, SHORT])
    sp = apply_stress(plan, Stress(spike=1.0, adverse=adverse))
    L = sp.chol[1, 0]
    z = np.random.default_rng(0).standard_normal((100_000, 4))
    e = z @ L.T
    C = np.corrcoef(e.T)
    s = adverse_signs(plan) if adverse else np.ones(4)
    np.testing.assert_allclose(C, np.outer(s, s), atol=1e-9)
    # and the base matrix is untouched outside the window
    np.testing.assert_array_equal(sp.chol[0], plan.chol[0])


def test_full_spike_hedges_a_long_short_pair_exactly():
    """Engine level: with w = 1, two identical markets move as one, so long one / short the
    other has no P&L at all (no costs)."""
    plan = make_plan(M=2, n_days=60, corr=[[1, 0.2], [0.2, 1]], dir_mode=[LONG, SHORT],
                     tier_max=[[1, 1]], im=[1.0], capital=1e4)
    out = simulate(apply_stress(plan, Stress(spike=1.0)), 3000, 1, jobs=2)
    np.testing.assert_allclose(out.final_equity, 1e4, rtol=1e-12)
    base = simulate(plan, 3000, 1, jobs=2)
    assert base.final_equity.std() > 1.0


def _one_day_log_returns(plan, paths, seed):
    out = simulate(plan, paths, seed, jobs=2)
    P0 = math.exp(plan.logp0[0])
    return np.log1p((out.final_equity - plan.capital) / (plan.pv[0] * P0))


def _batch_se(x, f, batches=40):
    vals = np.array([f(b) for b in np.array_split(x, batches)])
    return float(vals.std(ddof=1) / math.sqrt(batches))


@pytest.mark.parametrize("nu", [6.0, 10.0])
def test_student_t_shocks_unit_variance_and_kurtosis(nu):
    """One-day buy-and-hold recovers each path's shock: r = drift dt + sigma sqrt(dt) t z.
    Standardized: variance 1 and excess kurtosis 6 / (nu - 4), within 4 batch-means SEs."""
    from scipy.stats import kurtosis
    sigma = 0.2
    plan = make_plan(n_days=1, sigma=sigma, im=[1e-3], mm=[1e-9], capital=1e6, student_nu=nu)
    r = _one_day_log_returns(plan, 400_000, 7)
    e = (r - (-0.5 * sigma ** 2 / 252)) / (sigma / math.sqrt(252))
    var, se_var = e.var(), _batch_se(e, np.var)
    check(f"t({nu:g}) variance", 1.0, var, se_var, e.size)
    assert abs(var - 1.0) < 4 * se_var
    k, se_k = kurtosis(e), _batch_se(e, kurtosis)
    check(f"t({nu:g}) excess kurtosis", 6 / (nu - 4), k, se_k, e.size)
    assert abs(k - 6 / (nu - 4)) < 4 * se_k + 0.02 * 6 / (nu - 4)


def test_regimes_time_share_and_durations():
    """Two-state daily Markov chain: share of path-days in each regime vs the stationary law,
    and mean spell length vs 1 / (1 - p_stay), within 4 batch SEs."""
    P = np.array([[0.95, 0.05], [0.2, 0.8]])
    pi = np.array([P[1, 0], P[0, 1]]) / (P[0, 1] + P[1, 0])
    n_days = 2000
    plan = make_plan(M=1, n_days=n_days, regimes=([[[1.0]], [[1.0]]], [1.0, 2.0], P, 0),
                     tier_max=[[0]])
    shares, durs = [], []
    for s in range(8):
        out = simulate(plan, 1024, 100 + s, jobs=2)
        shares.append(out.regime_days / out.regime_days.sum())
        durs.append(out.regime_days / out.regime_spells)
    shares, durs = np.array(shares), np.array(durs)
    for g in range(2):
        m, se = shares[:, g].mean(), shares[:, g].std(ddof=1) / math.sqrt(8)
        # starting in regime 0 biases the share by about (1/(p01+p10)) / n_days
        bias = 1 / (P[0, 1] + P[1, 0]) / n_days
        check(f"regime {g} share", pi[g], m, se, 8 * 1024 * n_days)
        assert abs(m - pi[g]) < 4 * se + bias
        m, se = durs[:, g].mean(), durs[:, g].std(ddof=1) / math.sqrt(8)
        check(f"regime {g} mean spell", 1 / (1 - P[g, g]), m, se, 8 * 1024)
        # spells cut by the horizon are a little shorter: allow 1% for that
        assert abs(m - 1 / (1 - P[g, g])) < 4 * se + 0.01 / (1 - P[g, g])


def _gap_plan(**kw):
    return make_plan(M=1, n_days=3, sigma=1e-6, price=100.0, stop_kind=[STOP_FIXED],
                     stop_val=[2.0], target_kind=[TARGET_R], target_val=[2.0],
                     gaps=([1.0], [-0.05], [0.0]), slip_ticks=1, tick=[0.01], pv=[10.0],
                     im=[10.0], mm=[5.0], capital=1e4, **kw)


def test_gap_through_stop_fills_at_post_gap_price_kernel_and_twin():
    plan = _gap_plan()
    ko = BlockOutput.allocate(plan, 4)
    po = BlockOutput.allocate(plan, 4)
    events = []
    _kernel.simulate_block(plan, streams(3), ko)
    _kernel_python.simulate_block(plan, streams(3), po,
                                  on_event=lambda kind, **kw: events.append((kind, kw)))
    for f in BlockOutput.PER_PATH + BlockOutput.PER_BLOCK:
        np.testing.assert_array_equal(getattr(ko, f), getattr(po, f), err_msg=f)
    gap_exits = [kw for kind, kw in events if kind == "exit" and kw["how"] == 6]
    assert len(gap_exits) >= 4     # every path: the day-2 gap goes through the stop
    for ex in gap_exits:
        if ex["step"] == 1:
            post_gap = 100.0 * math.exp(-0.05)   # sigma is tiny: the price is the gap's
            assert ex["fill"] == pytest.approx(post_gap - 0.01, rel=1e-5)
            # a loss of (100.01 - 95.11) / 2 = 2.45 R, beyond the 1R the stop was meant to cap
            assert ex["R"] < -2.3
    assert ko.m_gap_fills[0] >= 4 and ko.m_beyond_1r[0] >= 4


def test_ruin_does_not_decrease_with_spike_weight():
    """Common random numbers: an all-long, positively correlated portfolio's ruin probability
    is non-decreasing across a grid of spike weights at a fixed seed."""
    plan = make_plan(M=4, n_days=252, corr=R4, price=[100.0] * 4, sigma=[0.3] * 4,
                     tier_max=[[1, 1, 1, 1]], pv=[25.0], im=[50.0], mm=[25.0],
                     capital=10_000, ruin_level=7_000)
    res = run_stress(plan, [Stress(name=f"w={w}", spike=w) for w in (0.25, 0.5, 0.75, 1.0)],
                     8192, 5, jobs=2)
    ruin = [r["ruin_probability"] for r in res["rows"]]
    print("CHECK ruin by spike weight 0..1:", ruin)
    assert all(b >= a for a, b in zip(ruin, ruin[1:]))
    assert ruin[-1] > ruin[0] + 0.05
    # the paired interval excludes zero for the full spike
    lo, hi = res["rows"][-1]["vs_base"]["ruin_probability"]["ci95"]
    assert lo > 0


def test_paired_difference_is_tighter_than_independent():
    x = np.random.default_rng(0).random(10_000) < 0.2
    y = x | (np.random.default_rng(1).random(10_000) < 0.02)
    indep = 2 * 1.96 * math.sqrt(0.2 * 0.8 / 1e4 * 2)
    for d in (paired_mean_diff(x, y), paired_proportion_diff(x, y)):
        width = d["ci95"][1] - d["ci95"][0]
        assert width < indep / 3
