"""rules.correlation_review (issue 13, SPEC 12): the article's monthly correlation review.

Each path estimates every pair's Pearson correlation from its own last ``window_days`` daily
close-to-close log returns, on every ``every_days``-th day once ``window_days`` returns exist;
pairs at or above ``limit`` are flagged until the next review and the action applies to them.
"""
import copy
import json
import math

import numpy as np
import pytest
from scipy.stats import norm

from plan_factory import make_plan, random_plan, streams, assert_identical
from simcore import _kernel, _kernel_python, runner
from simcore._kernel_python import path_stream
from simcore._plan import (BLOCK_SIZE, CORR_OFF, CORR_ONE_PER_PAIR, CORR_SCALE, SKIP_CORR,
                           STOP_FIXED, BlockOutput)
from simcore.build import build_plan
from simcore.errors import ScenarioError
from simcore.scenario import load_yaml, parse_scenario

FIELDS = BlockOutput.PER_PATH + BlockOutput.PER_BLOCK


def review(plan, action=CORR_SCALE, every=21, window=63, limit=0.8, scale=0.5):
    return plan.with_(corr_action=action, corr_every=every, corr_window=window,
                      corr_limit=limit, corr_scale=scale)


def run_kernel(plan, n, seed, record=False):
    out = BlockOutput.allocate(plan, n, record_equity=record)
    _kernel.simulate_block(plan, streams(seed), out)
    return out


def run_twin(plan, n, seed, record=False):
    events = []
    out = BlockOutput.allocate(plan, n, record_equity=record)
    _kernel_python.simulate_block(plan, streams(seed), out,
                                  on_event=lambda kind, **kw: events.append((kind, kw)))
    return out, events


def two_markets(rho, n_days, **kw):
    """Two GBM markets with correlation rho that never trade (tier_max 0)."""
    return make_plan(M=2, n_days=n_days, corr=[[1.0, rho], [rho, 1.0]], sigma=[0.2, 0.3],
                     mu=[0.05, -0.02], tier_max=np.zeros((1, 2), np.int32), **kw)


# ---- the flag frequency against Fisher's z ----------------------------------------------------

def fisher_flag_probability(rho, n, limit):
    """P(r >= limit) for Pearson's r of n bivariate normal pairs, by Fisher's z with the bias
    term: atanh(r) ~ N(atanh(rho) + rho / (2 (n - 1)), 1 / (n - 3))."""
    mu = math.atanh(rho) + rho / (2.0 * (n - 1))
    return float(norm.sf((math.atanh(limit) - mu) * math.sqrt(n - 3)))


def direct_flag_probability(rho, n, limit, reps, seed):
    """P(r >= limit) by a direct numpy simulation of Pearson's r (np.corrcoef's formula,
    vectorized), to measure the Fisher approximation's remaining error."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((reps, n, 2))
    x = z[:, :, 0]
    y = rho * z[:, :, 0] + math.sqrt(1 - rho * rho) * z[:, :, 1]
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    r = (x * y).sum(1) / np.sqrt((x * x).sum(1) * (y * y).sum(1))
    return float((r >= limit).mean())


def check_flag_rate(rho, n, limit, paths, reviews_per_path, seed):
    # every_days = window_days = n: reviews on days n, 2n, ... see disjoint windows of i.i.d.
    # returns, so the reviews are independent Bernoulli trials
    plan = review(two_markets(rho, n * reviews_per_path), every=n, window=n, limit=limit)
    out = runner.simulate(plan, paths, seed, jobs=1)
    R = int(out.corr_reviews.sum())
    assert R == paths * reviews_per_path
    rate = int(out.corr_flagged.sum()) / R
    p_fisher = fisher_flag_probability(rho, n, limit)
    reps = 200_000
    p_direct = direct_flag_probability(rho, n, limit, reps, seed + 1)
    se = math.sqrt(p_fisher * (1 - p_fisher) / R)
    se_direct = math.sqrt(p_fisher * (1 - p_fisher) / reps)
    allowance = abs(p_direct - p_fisher) + 4 * se_direct
    assert abs(rate - p_fisher) <= 4 * se + allowance, (rho, rate, p_fisher, se, p_direct)
    return rate, p_fisher, se, p_direct


@pytest.mark.parametrize("rho", [0.7, 0.9])
def test_flag_frequency_matches_fisher_z(rho):
    """A few thousand reviews at a constant true correlation, on both sides of the limit."""
    check_flag_rate(rho, n=21, limit=0.8, paths=400, reviews_per_path=10, seed=11)


@pytest.mark.slow
@pytest.mark.parametrize("rho,n", [(0.7, 21), (0.8, 21), (0.9, 21), (0.75, 63), (0.85, 63)])
def test_flag_frequency_matches_fisher_z_slow(rho, n):
    """~10^5 reviews per case."""
    check_flag_rate(rho, n=n, limit=0.8, paths=2000, reviews_per_path=50, seed=29)


# ---- when reviews happen, what they see -------------------------------------------------------

def test_limit_above_one_never_flags_and_minus_one_always_flags():
    base = two_markets(0.99, 300)
    hi = run_kernel(review(base, limit=1.01, every=10, window=20), 200, 3)
    assert hi.corr_reviews.sum() == 200 * 29 and hi.corr_flagged.sum() == 0
    assert hi.corr_days.sum() == 0
    lo = run_kernel(review(two_markets(-0.99, 300), limit=-1.0, every=10, window=20), 200, 3)
    assert lo.corr_flagged.sum() == lo.corr_reviews.sum() == 200 * 29
    # flagged from the day after the first review (day 20) to the horizon: days 21..300
    assert np.all(lo.corr_days == 280)


@pytest.mark.parametrize("every,window", [(5, 12), (21, 63), (63, 63), (10, 3)])
def test_reviews_on_the_stated_days_the_first_once_the_window_is_full(every, window):
    n_days = 130
    plan = review(two_markets(0.5, n_days), every=every, window=window)
    out, events = run_twin(plan, 3, 5)
    want = [d for d in range(1, n_days + 1) if d % every == 0 and d >= window]
    for p in range(3):
        days = [e["day"] for k, e in events if k == "review" and e["path"] == p]
        assert days == want
    assert np.all(out.corr_reviews == len(want))
    assert_identical(run_kernel(plan, 3, 5), out)


def test_each_path_estimates_its_own_correlation_from_its_own_closes():
    """The review's r is Pearson's r of the path's last W daily log returns, rebuilt here from
    the path's own normal shocks (one step a day, two markets, no trading)."""
    rho, W, every, n_days = 0.6, 30, 10, 95
    plan = review(two_markets(rho, n_days), every=every, window=W)
    _, events = run_twin(plan, 4, 8)
    st = streams(8)
    L = plan.chol[0, 0]
    for p in range(4):
        rng = np.random.Generator(path_stream(st[0].state, p))      # the shocks stream
        e = np.array([L @ rng.standard_normal(2) for _ in range(n_days)])
        for k, ev in events:
            if k != "review" or ev["path"] != p:
                continue
            d = ev["day"]
            r = np.corrcoef(e[d - W:d, 0], e[d - W:d, 1])[0, 1]     # affine in the returns
            assert ev["r"][(0, 1)] == pytest.approx(r, abs=1e-9)
            assert ev["flagged"] == int(ev["r"][(0, 1)] >= 0.8)


# ---- actions ------------------------------------------------------------------------------

def trading_plan(action, scale=0.5, rho=0.95, n_days=250, **kw):
    """Three markets, two of them highly correlated, long with fixed stops and R targets,
    sized by the risk rule (tier_max large)."""
    corr = np.array([[1.0, rho, 0.0], [rho, 1.0, 0.0], [0.0, 0.0, 1.0]])
    plan = make_plan(M=3, n_days=n_days, corr=corr, sigma=[0.2, 0.25, 0.3], price=100.0,
                     stop_kind=STOP_FIXED, stop_val=[1.0, 1.5, 2.0], target_kind=1,
                     target_val=2.0, alpha=0.5, pv=[10.0], im=[50.0], mm=[40.0], comm=[1.0],
                     tick=[0.01], slip_ticks=1.0, tier_max=np.full((1, 3), 40, np.int32),
                     risk_per_trade=0.02, capital=10_000.0, max_hold=5, **kw)
    return review(plan, action=action, every=10, window=20, limit=0.8, scale=scale)


def flags_by_step(events, M):
    """{path: [(first step the flags apply, set of flagged markets, set of flagged pairs)]}."""
    out = {}
    for k, e in events:
        if k == "review":
            mk = {i for pr in e["pairs"] for i in pr}
            out.setdefault(e["path"], []).append((e["step"] + 1, mk, set(e["pairs"])))
    return out


def flags_at(flags, p, t):
    cur = (set(), set())
    for start, mk, pairs in flags.get(p, ()):
        if start <= t:
            cur = (mk, pairs)
    return cur


@pytest.mark.parametrize("scale", [0.5, 0.25, 0.0])
def test_scale_risk_sizes_flagged_entries_as_if_risk_per_trade_times_f(scale):
    plan = trading_plan(CORR_SCALE, scale=scale)
    out, events = run_twin(plan, 12, 21)
    flags = flags_by_step(events, plan.M)
    n_flagged = n_reduced = 0
    for k, e in events:
        if k != "entry":
            continue
        mk, _ = flags_at(flags, e["path"], e["step"])
        flagged = e["market"] in mk
        assert e["flagged"] == flagged
        rpt = plan.risk_per_trade * (scale if flagged else 1.0)
        assert e["risk_per_trade"] == rpt
        c = e["contract"]
        slip = plan.slip_ticks * plan.tick[c]
        den = e["D"] * plan.pv[c] + slip * plan.pv[c] + 2.0 * plan.comm[c]
        n_risk = math.floor(rpt * e["equity"] / den)
        assert e["n_risk"] == n_risk
        assert e["contracts"] == int(min(e["n_tier"], n_risk, e["n_cap"], e["n_funds"]))
        if flagged:
            n_flagged += 1
            n_unscaled = int(min(e["n_tier"], math.floor(plan.risk_per_trade * e["equity"] / den),
                                 e["n_cap"], e["n_funds"]))
            assert e["contracts_unscaled"] == n_unscaled
            n_reduced += e["contracts"] < n_unscaled
    assert out.m_corr_reduced.sum() == n_reduced
    assert out.m_corr_reduced[2] == 0 and out.m_corr_skip[2] == 0   # the uncorrelated market
    if scale > 0:
        assert n_flagged > 20 and n_reduced > 20
    else:
        assert n_flagged == 0 and out.m_corr_skip.sum() > 0
    assert_identical(run_kernel(plan, 12, 21), out)


def test_one_per_pair_never_holds_both_markets_of_a_flagged_pair_opened_under_the_flag():
    plan = trading_plan(CORR_ONE_PER_PAIR)
    out, events = run_twin(plan, 16, 4)
    flags = flags_by_step(events, plan.M)
    open_since = {}                   # (path, market) -> step opened
    n_blocked = 0
    for k, e in events:
        p = e.get("path")
        if k == "entry":
            _, pairs = flags_at(flags, p, e["step"])
            for pr in pairs:
                if e["market"] in pr:
                    other = pr[0] + pr[1] - e["market"]
                    assert (p, other) not in open_since
            open_since[(p, e["market"])] = e["step"]
        elif k == "exit":
            open_since.pop((p, e["market"]), None)
        elif k == "skip" and e["reason"] == SKIP_CORR:
            n_blocked += 1
            _, pairs = flags_at(flags, p, e["step"])
            assert any(e["market"] in pr and (p, pr[0] + pr[1] - e["market"]) in open_since
                       for pr in pairs)
    assert n_blocked > 0 and out.m_corr_skip.sum() == n_blocked
    assert out.m_corr_skip[2] == 0 and out.m_corr_reduced.sum() == 0
    assert_identical(run_kernel(plan, 16, 4), out)


# ---- the rule off is the old kernel; no extra random numbers -----------------------------------

def test_rule_off_changes_nothing_and_the_rule_draws_no_random_numbers():
    """With limit above 1 the review runs but never flags: every figure equals the rule-off run
    (so the review draws no random numbers and leaves the trading alone)."""
    for seed in range(6):
        plan = random_plan(seed)
        assert plan.corr_action == CORR_OFF
        off = run_kernel(plan, 16, seed)
        on = run_kernel(review(plan, CORR_SCALE, every=7, window=10, limit=1.5), 16, seed)
        for f in FIELDS:
            if f not in ("corr_reviews",):
                np.testing.assert_array_equal(getattr(off, f), getattr(on, f), err_msg=f)


# ---- parity and determinism -----------------------------------------------------------------

@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("action,scale", [(CORR_SCALE, 0.5), (CORR_SCALE, 0.0),
                                          (CORR_ONE_PER_PAIR, 1.0)])
def test_parity_with_the_rule_on(seed, action, scale):
    """Random plans (regimes, stress windows, Student-t, gaps, both directions, tiers...) with
    a review that flags often (limit 0.2, short windows)."""
    plan = review(random_plan(seed), action, every=5, window=int(3 + seed % 8), limit=0.2,
                  scale=scale)
    ko = run_kernel(plan, 16, seed, record=True)
    po, _ = run_twin(plan, 16, seed, record=True)
    assert_identical(ko, po)


def test_parity_runs_exercise_the_rule():
    tot = np.zeros(4, np.int64)
    for seed in range(16):
        for action in (CORR_SCALE, CORR_ONE_PER_PAIR):
            plan = review(random_plan(seed), action, every=5, window=int(3 + seed % 8),
                          limit=0.2)
            o = run_kernel(plan, 16, seed)
            tot += [o.corr_flagged.sum(), o.corr_days.sum(), o.m_corr_skip.sum(),
                    o.m_corr_reduced.sum()]
    assert np.all(tot > 0), tot


def test_same_results_for_any_number_of_jobs_and_block_schedule():
    plan = review(random_plan(3), CORR_ONE_PER_PAIR, every=5, window=8, limit=0.3)
    paths = BLOCK_SIZE + 200
    ref = runner.simulate(plan, paths, 17, jobs=1)
    assert ref.corr_reviews.sum() > 0
    assert_identical(ref, runner.simulate(plan, paths, 17, jobs=2))
    sizes = runner.block_sizes(paths)
    children = np.random.SeedSequence(17).spawn(len(sizes))
    done = {b: runner._run_block(plan, children[b], sizes[b], False) for b in (1, 0)}
    assert_identical(ref, runner.merge([done[0], done[1]]))


# ---- the scenario key ---------------------------------------------------------------------------

def _scenario(review_value):
    d = load_yaml(open("scenarios/5k_corr_review.yaml").read())
    d = copy.deepcopy(d)
    if review_value is None:
        d["rules"].pop("correlation_review", None)
    else:
        d["rules"]["correlation_review"] = review_value
    return d


@pytest.mark.parametrize("value,field,msg", [
    ({"window_days": 2, "action": "one_per_pair"}, "rules.correlation_review.window_days",
     "must be >= 3"),
    ({"every_days": 0, "action": "one_per_pair"}, "rules.correlation_review.every_days",
     "must be >= 1"),
    ({"every_days": 2.5, "action": "one_per_pair"}, "rules.correlation_review.every_days",
     "must be an integer"),
    ({"limit": -1.5, "action": "one_per_pair"}, "rules.correlation_review.limit",
     "must be >= -1"),
    ({"every_days": 21}, "rules.correlation_review.action", "missing"),
    ({"action": 3}, "rules.correlation_review.action", "must be one_per_pair or"),
    ({"action": "one_per_market"}, "rules.correlation_review.action",
     "must be one_per_pair or {scale_risk: f}"),
    ({"action": {"scale_risk": 1.5}}, "rules.correlation_review.action.scale_risk",
     "must be <= 1"),
    ({"action": {"scale_risk": -0.1}}, "rules.correlation_review.action.scale_risk",
     "must be >= 0"),
    ({"action": {"scale": 0.5}}, "rules.correlation_review.action.scale", "unknown key"),
    ({"every": 21, "action": "one_per_pair"}, "rules.correlation_review.every", "unknown key"),
])
def test_review_key_is_validated_with_dotted_errors(monkeypatch, value, field, msg):
    monkeypatch.chdir(__file__.rsplit("/tests/", 1)[0])
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(_scenario(value))
    assert str(ei.value).startswith(field + ":"), str(ei.value)
    assert msg in str(ei.value)


def test_review_key_compiles(monkeypatch):
    monkeypatch.chdir(__file__.rsplit("/tests/", 1)[0])
    plan = build_plan(parse_scenario(_scenario(None)))
    assert plan.corr_action == CORR_OFF
    plan = build_plan(parse_scenario(_scenario({"action": "one_per_pair"})))
    assert (plan.corr_action, plan.corr_every, plan.corr_window, plan.corr_limit) == \
        (CORR_ONE_PER_PAIR, 21, 63, 0.8)
    plan = build_plan(parse_scenario(_scenario(
        {"every_days": 63, "window_days": 42, "limit": 0.7, "action": {"scale_risk": 0.25}})))
    assert (plan.corr_action, plan.corr_every, plan.corr_window, plan.corr_limit,
            plan.corr_scale) == (CORR_SCALE, 63, 42, 0.7, 0.25)


# ---- reporting: run JSON and table, stress --review ------------------------------------------

def _cli_main():
    try:                                    # the CLI may move into simcore (issue 15)
        from simcore.cli.main import main
    except ImportError:
        from simcore.cli.main import main
    return main


@pytest.fixture
def repo_root(monkeypatch):
    root = __file__.rsplit("/tests/", 1)[0]
    monkeypatch.chdir(root)
    return root


def test_run_reports_the_review_only_when_it_is_on(repo_root):
    from simcore.metrics import summarize
    from simcore.text import format_table
    scn = parse_scenario(_scenario(None))
    plan_off = build_plan(scn)
    plan_on = build_plan(parse_scenario(_scenario(
        {"every_days": 21, "window_days": 63, "limit": 0.8, "action": {"scale_risk": 0.5}})))
    plan_off, plan_on = (p.with_(n_days=200) for p in (plan_off, plan_on))
    off = summarize(plan_off, runner.simulate(plan_off, 300, 3), 300, 3)
    assert "correlation_review" not in off
    for mk in off["markets"].values():
        assert "correlation" not in mk and set(mk["skipped_by_reason"]) == {
            "risk", "margin_cap", "funds"}
    assert "Correlation review" not in format_table(off)
    out = runner.simulate(plan_on, 300, 3)
    on = summarize(plan_on, out, 300, 3)
    cr = on["correlation_review"]
    assert cr["reviews"] == int(out.corr_reviews.sum()) > 0
    assert cr["share_flagged"] == pytest.approx(out.corr_flagged.sum() / out.corr_reviews.sum())
    assert cr["days_flagged_per_path"] == pytest.approx(out.corr_days.mean())
    assert (cr["action"], cr["scale_risk"], cr["every_days"]) == ("scale_risk", 0.5, 21)
    skips = sum(mk["correlation"]["entries_skipped"] for mk in on["markets"].values())
    assert skips == cr["entries_skipped"] == int(out.m_corr_skip.sum()) > 0
    for name, mk in on["markets"].items():
        assert mk["skipped_by_reason"]["correlation"] == mk["correlation"]["entries_skipped"]
        assert mk["skipped"] == sum(mk["skipped_by_reason"].values())
    text = format_table(on)
    assert "Correlation review (every 21 days, window 63, limit 0.8, scale_risk 0.5)" in text
    assert "Share of reviews flagging a pair" in text


def test_stress_review_rows_are_paired_against_the_first_setting(repo_root, tmp_path):
    from click.testing import CliRunner
    res = CliRunner().invoke(_cli_main(), [
        "stress", "scenarios/5k_corr_review.yaml", "--review", "off,21,63", "--paths", "100",
        "--horizon", "400", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout if hasattr(res, "stdout") else res.output)
    names = [row["name"] for row in r["rows"]]
    assert names == [f"{rv}, {c}" for c in ("calm", "spike + vol window", "spike window")
                     for rv in ("off", "every 21d", "every 63d")]
    for i, row in enumerate(r["rows"]):
        assert ("vs_base" in row) == (i % 3 != 0)
        assert row["review"] == (None, 21, 63)[i % 3]
    assert r["reference"] == "review off, same stress"
    bad = CliRunner().invoke(_cli_main(), ["stress", "scenarios/5k_corr_review.yaml",
                                           "--review", "off,monthly"])
    assert bad.exit_code == 2 and "--review" in bad.output
    twice = CliRunner().invoke(_cli_main(), ["stress", "scenarios/5k_corr_review.yaml",
                                             "--review", "off,21,OFF"])
    assert twice.exit_code == 2 and "--review: a setting is given twice" in twice.output


def test_with_review_uses_the_plans_settings_or_the_defaults(repo_root):
    from simcore.stress import REVIEW_DEFAULTS, with_review
    plan = build_plan(parse_scenario(_scenario(
        {"every_days": 21, "window_days": 42, "limit": 0.7, "action": "one_per_pair"})))
    p63 = with_review(plan, 63)
    assert (p63.corr_action, p63.corr_every, p63.corr_window, p63.corr_limit) == \
        (CORR_ONE_PER_PAIR, 63, 42, 0.7)
    assert with_review(plan, None).corr_action == CORR_OFF
    bare = with_review(plan, None)
    d = with_review(bare, 10)
    assert (d.corr_action, d.corr_every, d.corr_window, d.corr_limit, d.corr_scale) == \
        (CORR_SCALE, 10, REVIEW_DEFAULTS["window_days"], REVIEW_DEFAULTS["limit"],
         REVIEW_DEFAULTS["scale_risk"])


def test_pair_correlation_is_zero_for_a_flat_market_or_an_overflowed_sum():
    """Pearson's r from centred sums, by hand: sxy / sqrt(sxx syy), clamped to [-1, 1]; 0 when
    a market did not move (sxx = 0) or a sum overflowed (sqrt(sxx syy) = inf, where
    inf / inf would be NaN)."""
    pc = _kernel_python.pair_correlation
    assert pc(3.0, 4.0, 9.0) == 0.5                          # 3 / sqrt(36)
    assert pc(-6.0, 4.0, 9.0) == -1.0
    assert pc(6.0 * (1 + 1e-15), 4.0, 9.0) == 1.0            # clamped
    assert pc(1.0, 0.0, 9.0) == 0.0
    assert pc(math.inf, math.inf, 1.0) == 0.0
    assert pc(1e300, 1e300, 1e300) == 0.0


def test_share_of_days_flagged_counts_a_blown_paths_days_only_until_it_stopped():
    """Without a ruin rule a blown account (equity <= 0) stops with no ruin day; the review's
    share of days under a flag divides by the day ends each path lived through, which for such
    a path end at its stop day (``stop_day``), not at the horizon."""
    from simcore._plan import STOP_NONE
    from simcore.metrics import _review_summary
    # no stops, thin margins, volatile markets: most accounts blow up within days or weeks
    corr = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 1.0]])
    plan = make_plan(M=3, n_days=120, corr=corr, sigma=[0.6, 0.7, 0.8], price=100.0,
                     stop_kind=STOP_NONE, target_kind=0, pv=[10.0], im=[1.0], mm=[0.5],
                     comm=[1.0], tick=[0.01], slip_ticks=1.0,
                     tier_max=np.full((1, 3), 2000, np.int32), risk_per_trade=0.02,
                     capital=10_000.0, max_hold=5)
    plan = review(plan, action=CORR_SCALE, every=10, window=20, limit=0.8, scale=0.5)
    assert plan.ruin_level == -math.inf and plan.ruin_dd == math.inf    # no ruin rule
    out = run_kernel(plan, 200, 3)
    twin, _ = run_twin(plan, 200, 3)
    assert_identical(out, twin)
    blown = out.blown.astype(bool)
    assert 20 <= blown.sum() < 200 and not out.ruined.any()
    assert (out.ruin_day == -1).all()
    assert (out.stop_day[blown] >= 1).all() and (out.stop_day[~blown] == -1).all()
    lived = np.where(out.stop_day >= 1, out.stop_day - 1, plan.n_days)
    assert lived.sum() < 200 * plan.n_days
    s = _review_summary(plan, out, 200)
    assert s["share_of_days_flagged"] == pytest.approx(out.corr_days.sum() / lived.sum())
    # a path is counted under a flag only on day ends it lived through
    assert (out.corr_days <= lived).all()
