"""The compiled kernel against its Python twin, on the same plans and the same random numbers.

As in bashtage/arch (recursions.pyx vs recursions_python.py): the twin is the reference, and
the kernel must reproduce it exactly -- integer outputs equal, float outputs equal to the bit.
"""
import numpy as np
import pytest

from plan_factory import make_plan, random_plan, streams, assert_identical
from simcore import _kernel, _kernel_python
from simcore._plan import BlockOutput, BOTH, STOP_ATR, STOP_FIXED, TARGET_R



def run_both(plan, n, seed, record=True):
    ko = BlockOutput.allocate(plan, n, record_equity=record)
    po = BlockOutput.allocate(plan, n, record_equity=record)
    _kernel.simulate_block(plan, streams(seed), ko)
    _kernel_python.simulate_block(plan, streams(seed), po)
    return ko, po


@pytest.mark.parametrize("seed", range(40))
def test_parity_random_plans(seed):
    """Random small plans with every rule switched on: regimes, stress windows, Student-t,
    gaps, both directions, every stop/target kind, time stops, cooldowns, tiers with buffers
    and a micro->mini switch, margin caps, slippage, commissions, ruin rules."""
    plan = random_plan(seed)
    ko, po = run_both(plan, 24, seed)
    assert_identical(ko, po)


def test_parity_random_plans_exercise_every_rule():
    """Across the randomized plans, every kind of event actually happens (so the parity above
    is not vacuous)."""
    tot = {"trades": 0, "ruined": 0, "blown": 0, "margin_calls": 0, "skip_risk": 0,
           "skip_cap": 0, "skip_funds": 0, "gap_fills": 0, "tier_days": 0, "regime_spells": 0}
    for seed in range(40):
        plan = random_plan(seed)
        ko = BlockOutput.allocate(plan, 24)
        _kernel.simulate_block(plan, streams(seed), ko)
        tot["trades"] += ko.trades.sum()
        tot["ruined"] += ko.ruined.sum()
        tot["blown"] += ko.blown.sum()
        tot["margin_calls"] += ko.margin_calls.sum()
        tot["skip_risk"] += ko.m_skip[:, 0].sum()
        tot["skip_cap"] += ko.m_skip[:, 1].sum()
        tot["skip_funds"] += ko.m_skip[:, 2].sum()
        tot["gap_fills"] += ko.m_gap_fills.sum()
        tot["tier_days"] += (ko.tier_day > 0).sum()
        tot["regime_spells"] += ko.regime_spells.sum() - 24
    for k, v in tot.items():
        assert v > 0, f"no {k} in the randomized parity plans"


@pytest.mark.parametrize("spd", [1, 4])
def test_parity_example_like_plan(spd):
    """A four-market plan shaped like the example scenario, at a size the twin can afford."""
    plan = make_plan(
        M=4, n_days=60, spd=spd, capital=5000, price=[6000, 2600, 70, 1.08],
        sigma=[0.18, 0.16, 0.35, 0.08], corr=[[1, .05, .3, .1], [.05, 1, .15, .35],
                                                [.3, .15, 1, .15], [.1, .35, .15, 1]],
        dir_mode=[1, BOTH, 1, BOTH], stop_kind=[STOP_ATR] * 4, stop_val=[0.12, 0.15, 0.25, 0.6],
        target_kind=[TARGET_R] * 4, target_val=[2.0] * 4, alpha=[0.3] * 4, max_hold=[5 * spd] * 4,
        pv=[5, 10, 100, 12500], tick=[0.25, 0.1, 0.01, 0.0001], im=[500, 400, 300, 150],
        mm=[450, 360, 270, 135], comm=[0.62] * 4, tier_contract=[[0, 1, 2, 3]],
        risk_per_trade=0.015, margin_cap=0.2, slip_ticks=1, ruin_level=2500)
    ko, po = run_both(plan, 32, 11)
    assert ko.trades.sum() > 100
    assert_identical(ko, po)


def test_kernel_rejects_bad_buffers():
    plan = make_plan()
    out = BlockOutput.allocate(plan, 8)
    out.tier_day = np.full((8, 3), -1, np.int32)
    with pytest.raises(ValueError, match="tier_day"):
        _kernel.simulate_block(plan, streams(0), out)


def test_kernel_does_not_write_inputs():
    plan = random_plan(3)
    before = {k: v.copy() for k, v in vars(plan).items() if isinstance(v, np.ndarray)}
    for v in before:
        getattr(plan, v).setflags(write=False)
    out = BlockOutput.allocate(plan, 8)
    _kernel.simulate_block(plan, streams(0), out)  # read-only inputs are accepted
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(plan, k), v)


def test_entry_whose_stop_would_be_at_or_below_zero_is_skipped():
    """An ATR stop wider than the price cannot be placed (a long stop <= 0): the entry is
    skipped under the risk reason instead of trading with no stop, in kernel and twin."""
    plan = make_plan(n_days=30, stop_kind=[STOP_ATR], stop_val=[60.0], sigma=0.3,
                     capital=1e6, im=[1.0])
    ko, po = run_both(plan, 16, 2)
    assert_identical(ko, po)
    assert ko.trades.sum() == 0
    assert ko.m_skip[0, 0] == 16 * 30


@pytest.mark.parametrize("spd", [1, 2, 12])
@pytest.mark.parametrize("width", [0.05, 0.2, 1.0, 5.0])
def test_parity_narrow_corridors(spd, width):
    """Stops and targets whose corridor is 0.05-5 step sds wide, so both barriers are within
    reach of most steps and the corridor law's series decides (beyond-barrier end points
    included): kernel and twin must agree to the bit, with regimes, a stress window and fat
    tails changing the step's volatility."""
    price = np.array([100.0, 50.0])
    sigma = np.array([0.2, 0.35])
    step_sd = price * sigma / np.sqrt(252 * spd)
    r = np.array([2.0, 0.5])
    stop = width * step_sd / (1.0 + r)              # corridor = stop x (1 + r)
    plan = make_plan(
        M=2, n_days=15, spd=spd, capital=1e6, price=price, sigma=sigma,
        corr=[[1, 0.4], [0.4, 1]], dir_mode=[BOTH, 1], stop_kind=[STOP_FIXED] * 2,
        stop_val=stop, target_kind=[TARGET_R] * 2, target_val=r, alpha=[0.5, -0.3],
        im=[1.0], mm=[0.5], comm=[0.0],
        regimes=([np.eye(2), [[1, 0.8], [0.8, 1]]], [1.0, 2.0], [[0.9, 0.1], [0.3, 0.7]], 0),
        window=(5, 9), window_volmult=[3.0, 3.0], student_nu=5.0)
    ko, po = run_both(plan, 16, int(100 * width) + spd)
    assert ko.trades.sum() > 16 * 15 * spd // 2
    assert_identical(ko, po)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", ["alpha", "gap"])
def test_nonfinite_state_is_flagged_and_stops_the_path(case):
    """A runaway drift (a huge alpha while a trade is open) or an absurd gap overflows the
    price: kernel and twin flag the same paths as non-finite and stop them there, and the
    runner refuses to report the run (SPEC: a broken path is never a result)."""
    from simcore.errors import SimulationError
    from simcore.runner import simulate
    if case == "alpha":
        plan = make_plan(n_days=30, alpha=[5e4], stop_kind=[STOP_FIXED], stop_val=[0.001],
                         target_kind=[TARGET_R], target_val=[2.0])
    else:
        plan = make_plan(n_days=30, gaps=([0.3], [400.0], [50.0]))
    ko, po = run_both(plan, 16, 3)
    assert_identical(ko, po)
    assert ko.nonfinite.all()
    with pytest.raises(SimulationError, match="non-finite"):
        simulate(plan, 50, 1, jobs=1)


def test_finite_plans_flag_nothing():
    for seed in range(10):
        plan = random_plan(seed)
        ko = BlockOutput.allocate(plan, 24)
        _kernel.simulate_block(plan, streams(seed), ko)
        assert not ko.nonfinite.any()
