"""Boundaries that random parity plans never hit exactly (issue 16), pinned with frozen prices
(volatility 0 or tiny, drift 0): equity exactly at the maintenance margin, exactly at a tier's
demotion level, a stop exactly at price zero, and capital at or below $1. Each case runs on
the Cython kernel and the Python twin; the two must agree bit for bit and with the figures
worked out by hand in each test."""
import math

import numpy as np
import pytest

from plan_factory import make_plan, streams
from simcore import _kernel, _kernel_python
from simcore._plan import LONG, SHORT, STOP_FIXED, BlockOutput

SIGMAS = [0.0]          # exact boundaries: a frozen price
TINY = 1e-12            # a tiny volatility: the same plans, kernel and twin still agree
N = 8


def run_both(plan, n=N, seed=3):
    ko = BlockOutput.allocate(plan, n)
    _kernel.simulate_block(plan, streams(seed), ko)
    po = BlockOutput.allocate(plan, n)
    events = []
    _kernel_python.simulate_block(plan, streams(seed), po,
                                  on_event=lambda kind, **kw: events.append((kind, kw)))
    for f in BlockOutput.PER_PATH + BlockOutput.PER_BLOCK:
        np.testing.assert_array_equal(getattr(ko, f), getattr(po, f), err_msg=f)
    return ko, events


def frozen(sigma, **kw):
    base = dict(n_days=10, capital=1000.0, price=[100.0], sigma=[sigma], mu=[0.0], pv=[1.0],
                im=[1000.0], mm=[1000.0], tier_max=[[1]])
    base.update(kw)
    return make_plan(**base)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_equity_exactly_at_maintenance_is_no_margin_call(sigma):
    """E = 1000 with one contract of maintenance 1000 open: not below it, no call; the one
    position is held the whole path (one trade, closed at the end)."""
    out, events = run_both(frozen(sigma))
    assert np.all(out.margin_calls == 0)
    assert np.all(out.trades == 1)
    assert np.all(out.final_equity == 1000.0)
    assert not [e for e in events if e[0] == "margin_call"]


@pytest.mark.parametrize("sigma", SIGMAS)
def test_equity_a_hair_below_maintenance_is_a_margin_call_every_day(sigma):
    """Maintenance 1000.5 > E = 1000: every day the plan enters, is called at the end of the
    step and liquidated (no costs, so equity stays 1000): 10 calls and 10 trades a path."""
    out, events = run_both(frozen(sigma, mm=[1000.5]))
    assert np.all(out.margin_calls == 10)
    assert np.all(out.trades == 10)
    assert np.all(out.final_equity == 1000.0)
    assert np.all(out.ruined == 0) and np.all(out.blown == 0)
    calls = [kw for k, kw in events if k == "margin_call"]
    assert len(calls) == 10 * N
    assert all(c["equity"] == 1000.0 and c["maintenance"] == 1000.5 for c in calls)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_equity_exactly_at_the_demotion_level_keeps_the_tier(sigma):
    """Tier 1 at $1,000 with a 25% buffer: demoted only below $750. Each one-day trade costs
    $50 of commission ($25 a side), so entries see equity 1000, 950, ..., 750 (still tier 1,
    exactly at the demotion level), then 700 (tier 0)."""
    plan = frozen(sigma, n_days=8, pv=[1.0, 1.0], im=[1.0, 1.0], mm=[0.5, 0.5],
                  comm=[25.0, 25.0], max_hold=[1], tier_thr=(-math.inf, 1000.0),
                  tier_buf=[0.0, 0.25], tier_contract=[[0], [1]], tier_max=[[1], [1]])
    out, events = run_both(plan, n=2)
    entries = [kw for k, kw in events if k == "entry" and kw["path"] == 0]
    by_equity = {e["equity"]: (e["tier"], e["contract"]) for e in entries}
    for eq in (1000.0, 950.0, 900.0, 850.0, 800.0, 750.0):
        assert by_equity[eq] == (1, 1), eq
    assert by_equity[700.0] == (0, 0)
    assert np.all(out.tier_day[:, 1] == 0)            # reached on day 0, at the start
    # a cent more commission per trade and the sixth entry (equity 749.95) is demoted
    _, ev2 = run_both(plan.with_(comm=np.array([25.005, 25.005])), n=1)
    first = [kw for k, kw in ev2 if k == "entry"][:7]
    assert [e["tier"] for e in first] == [1] * 5 + [0, 0]
    assert first[5]["equity"] == pytest.approx(749.95)


# at vol 0 the bridge variance is 0: the crossing exponent is -inf (the twin's numpy scalars
# warn on the division), so the crossing probability is exactly 0 -- the right limit
ZERO_VARIANCE = pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")


@ZERO_VARIANCE
@pytest.mark.parametrize("sigma", SIGMAS)
def test_stop_exactly_at_price_zero(sigma):
    """A long stop 100 points below a price of 100 sits at zero: it risks the whole price per
    contract, is never hit, and nothing turns into NaN. Risk rule: floor(1.0 x 1000 / 100)
    = 10 contracts allowed; the tier caps at 3."""
    plan = frozen(sigma, im=[1.0], mm=[0.5], stop_kind=[STOP_FIXED], stop_val=[100.0],
                  tier_max=[[3]])
    out, events = run_both(plan)
    assert np.all(out.final_equity == 1000.0) and np.all(np.isfinite(out.max_dd))
    assert np.all(out.trades == 1)
    entries = [kw for k, kw in events if k == "entry"]
    assert all(e["contracts"] == 3 and e["n_risk"] == 10 for e in entries)
    exits = [kw for k, kw in events if k == "exit"]
    assert all(x["pnl"] == 0.0 and x["R"] == 0.0 for x in exits)


@ZERO_VARIANCE
@pytest.mark.parametrize("sigma", SIGMAS)
def test_short_stop_at_twice_the_price(sigma):
    plan = frozen(sigma, im=[1.0], mm=[0.5], stop_kind=[STOP_FIXED], stop_val=[100.0],
                  dir_mode=[SHORT], tier_max=[[3]])
    out, _ = run_both(plan)
    assert np.all(out.final_equity == 1000.0) and np.all(out.trades == 1)


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("capital, trades, skips", [(1.0, 1, 0), (0.5, 0, 10), (0.01, 0, 10)])
def test_capital_at_or_below_one_dollar(sigma, capital, trades, skips):
    """A $1 account can post one $1 initial margin (the funds rule allows E exactly); below
    it every daily entry is skipped for funds. Nothing is blown or ruined: equity is frozen."""
    plan = frozen(sigma, capital=capital, im=[1.0], mm=[0.5])
    out, _ = run_both(plan)
    assert np.all(out.trades == trades)
    assert np.all(out.skipped == skips)
    assert int(out.m_skip[0, 2]) == skips * N         # reason: funds
    assert np.all(out.final_equity == capital)
    assert np.all(out.blown == 0) and np.all(out.ruined == 0)
    assert np.all(out.max_dd == 0.0)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_ruin_level_exactly_at_equity_is_not_ruin(sigma):
    """Ruin is equity *below* the level: E = 1000 with ruin_level 1000 is not ruined, 1000.01
    is ruined on day 1."""
    out, _ = run_both(frozen(sigma, mm=[0.5], im=[1.0], ruin_level=1000.0))
    assert np.all(out.ruined == 0)
    out, _ = run_both(frozen(sigma, mm=[0.5], im=[1.0], ruin_level=1000.01))
    assert np.all(out.ruined == 1) and np.all(out.ruin_day == 1)


@ZERO_VARIANCE
@pytest.mark.parametrize("kw", [dict(), dict(mm=[1000.5]),
                                dict(im=[1.0], mm=[0.5], stop_kind=[STOP_FIXED],
                                     stop_val=[100.0], tier_max=[[3]]),
                                dict(capital=1.0, im=[1.0], mm=[0.5])])
def test_tiny_volatility_parity_and_near_frozen_figures(kw):
    """With vol 1e-12 the boundaries above become coin flips on rounding; kernel and twin
    must still agree bit for bit (run_both), and equity stays within a cent of frozen."""
    plan = frozen(TINY, **kw)
    out, _ = run_both(plan, n=16)
    assert np.all(np.abs(out.final_equity - plan.capital) < 0.01)
    assert np.all(out.blown == 0)


def test_exit_events_carry_the_kernels_exit_codes():
    """Each exit event names how the position closed with the kernel's codes (_kernel.pyx:
    STOP 1, TARGET 2, TIME 3, FORCED 4, END 5, GAP 6). Frozen price, no stop, 10 days: a
    trade held 3 days closes on time (3) at steps 2, 5, 8 (re-entered the next step); the one
    opened at step 9 is closed by the end of the run (END, 5). With maintenance above equity
    the margin call liquidates the day's position (FORCED, 4) every step."""
    _, events = run_both(frozen(0.0, max_hold=[3]), n=1)
    exits = [(kw["step"], kw["how"]) for k, kw in events if k == "exit"]
    assert exits == [(2, 3), (5, 3), (8, 3), (9, 5)]
    _, events = run_both(frozen(0.0, mm=[1000.5], n_days=3), n=1)
    exits = [(kw["step"], kw["how"]) for k, kw in events if k == "exit"]
    assert exits == [(0, 4), (1, 4), (2, 4)]


def test_simulate_block_returns_the_output_it_filled():
    """Both implementations return ``out`` (filled in place), the kernel's contract."""
    plan = frozen(0.0)
    for impl in (_kernel, _kernel_python):
        out = BlockOutput.allocate(plan, 2)
        assert impl.simulate_block(plan, streams(3), out) is out
