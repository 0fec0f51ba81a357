"""Figures, --report, --plot DIR and --csv (issue 14): every figure for every example plan and
for edge cases without a warning, valid PNGs of the stated size, the fan chart's quantiles
against --save-equity within the stated error, CSV rows against the JSON summary, file rules."""
import csv
import glob
import json
import math
import os
import struct
import sys
import warnings

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("matplotlib")

from simcore.cli.main import main  # noqa: E402
from plan_factory import two_market_plan  # noqa: E402
from simcore import figures as F  # noqa: E402
from simcore.build import build_plan  # noqa: E402
from simcore.metrics import summarize  # noqa: E402
from simcore.report import (csv_header, run_narrative, run_report, size_report,  # noqa: E402
                            stress_report)
from simcore.runner import simulate  # noqa: E402
from simcore.scenario import load_scenario, with_overrides  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLANS = sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.yaml")))
W, H = int(F.FIGSIZE[0] * F.DPI), int(F.FIGSIZE[1] * F.DPI)


def png_size(data: bytes):
    """(width, height) from a PNG's signature and IHDR chunk; fails if not a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def run_of(path, paths=1024, horizon=120, seed=3, **over):
    scn = load_scenario(path)
    scn = with_overrides(scn, horizon_days=horizon, **over)
    plan = build_plan(scn)
    out = simulate(plan, paths, seed, jobs=1, equity_paths=F.FAN_PATHS)
    summary = summarize(plan, out, paths, seed)
    return plan, out, summary


def no_overlapping_tick_labels(fig):
    """Readable in print: on every axis, no two visible tick labels overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            boxes = [t.get_window_extent(r) for t in axis.get_ticklabels()
                     if t.get_visible() and t.get_text()]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    a, b = boxes[i], boxes[j]
                    ov_w = min(a.x1, b.x1) - max(a.x0, b.x0)
                    ov_h = min(a.y1, b.y1) - max(a.y0, b.y0)
                    assert not (ov_w > 1 and ov_h > 1), \
                        (fig.texts[0].get_text() if fig.texts else ax.get_title(),
                         axis.axis_name, [t.get_text() for t in axis.get_ticklabels()])


def check_figs(figs: dict, tmp_path, prefix=""):
    for name, fig in figs.items():
        no_overlapping_tick_labels(fig)
        dest = tmp_path / f"{prefix}{name}.png"
        F.save_png(fig, dest)
        w, h = png_size(dest.read_bytes())
        assert w == W and h == int(round(fig.get_figheight() * F.DPI))
        if name != "sizing":
            assert h == H


# ---- every figure, every example plan ----------------------------------------------------

@pytest.mark.parametrize("plan_file", PLANS, ids=[os.path.basename(p) for p in PLANS])
def test_every_run_figure_for_each_example_plan(plan_file, tmp_path):
    plan, out, summary = run_of(plan_file, paths=1024, horizon=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = F.run_data(plan, out, summary)
        figs = F.run_figures(d)
        check_figs(figs, tmp_path)
        html = run_report(d, {"command": "simrisk run x", "version": "t", "warnings": []})
    assert html.count("<img ") == len(F.RUN_FIGURES)
    assert len(list(tmp_path.glob("*.png"))) == 4


@pytest.mark.parametrize("plan_file", PLANS, ids=[os.path.basename(p) for p in PLANS])
def test_stress_and_size_figures_for_each_example_plan(plan_file, tmp_path):
    """The forest plot (the plan's own stress rows, or the default sweep) and the sizing curve
    for every example plan, small and short."""
    from simcore.sizing import make_targets, size_capital
    from simcore.stress import run_stress, stresses_from_scenario, sweep
    scn = with_overrides(load_scenario(plan_file), horizon_days=60)
    plan = build_plan(scn)
    rows = [r for r in stresses_from_scenario(scn) if r.window is None or r.window[1] <= 60]
    rows = rows or sweep([0.5, 1.0], [2.0], None, adverse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = run_stress(plan, rows, 1024, 3, jobs=1)
        check_figs(F.stress_figures(res), tmp_path, "s_")
        sz = size_capital(scn, make_targets(plan, max_ruin=0.05), paths=1024, seed=3, jobs=1)
        check_figs(F.size_figures(sz), tmp_path, "z_")


STRESS_SMALL = two_market_plan(name="report test")


def write(tmp_path, data, name="s.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(p)


def test_stress_and_size_figures_and_pages(tmp_path):
    from simcore.sizing import make_targets, size_capital
    from simcore.stress import run_stress, sweep
    f = write(tmp_path, STRESS_SMALL)
    scn = load_scenario(f)
    plan = build_plan(scn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = run_stress(plan, sweep([0.5, 1.0], [2.0], 6.0, adverse=True), 1024, 3, jobs=1)
        check_figs(F.stress_figures(res), tmp_path)
        page = stress_report(res, {"command": "c", "version": "v", "warnings": ["w <b>"]})
        assert "w &lt;b&gt;" in page and page.count("<img ") == 1
        sz = size_capital(scn, make_targets(plan, max_ruin=0.05), paths=1024, seed=3, jobs=1)
        check_figs(F.size_figures(sz), tmp_path)
        page = size_report(sz, {"command": "c", "version": "v", "warnings": []})
        assert page.count("<img ") == 1 and "least starting capital" in page.lower()


# ---- edge cases --------------------------------------------------------------------------

def _edge(plan, out, summary, **arrays):
    d = F.run_data(plan, out, summary)
    for k, v in arrays.items():
        setattr(d, k, v)
    return d


@pytest.mark.parametrize("case", ["none_ruined", "all_ruined", "one_tier_one_market",
                                  "no_equity", "one_path"])
def test_figures_on_edge_cases(case, tmp_path):
    mes = os.path.join(ROOT, "scenarios", "single_mes.yaml")
    if case == "one_tier_one_market":
        plan, out, s = run_of(mes, paths=600, horizon=60)
        assert plan.K == 1 and plan.M == 1
        d = F.run_data(plan, out, s)
    elif case == "one_path":
        plan, out, s = run_of(mes, paths=1, horizon=30)
        d = F.run_data(plan, out, s)
    else:
        plan, out, s = run_of(os.path.join(ROOT, "scenarios", "5k_four_asset.yaml"),
                              paths=800, horizon=60)
        d = F.run_data(plan, out, s)
        n = d.paths
        if case == "none_ruined":
            d.ruin_day = np.full(n, -1, np.int32)
        elif case == "all_ruined":
            d.ruin_day = np.arange(n, dtype=np.int32) % 60 + 1
            d.tier_day = np.full_like(d.tier_day, -1)
            d.tier_day[:, 0] = 0
        elif case == "no_equity":
            d.equity = np.zeros((0, d.horizon + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_figs(F.run_figures(d), tmp_path)
        assert run_narrative(d)


# ---- the fan chart against --save-equity ------------------------------------------------

def test_fan_quantiles_against_save_equity(tmp_path):
    """The fan chart reads the first 2,048 paths' equity, recorded only for their blocks; these
    are the very rows --save-equity writes for the same run, and their percentiles sit within
    the stated binomial order-statistic error of the exact percentiles of all paths."""
    f = write(tmp_path, dict(STRESS_SMALL, horizon_days=60))
    npy = tmp_path / "eq.npy"
    n = 8192
    r = invoke("run", f, "--paths", n, "--seed", 5, "--save-equity", npy, "--json")
    assert r.exit_code == 0, r.output
    full = np.load(npy)
    plan = build_plan(load_scenario(f))
    out = simulate(plan, n, 5, equity_paths=F.FAN_PATHS)
    assert out.equity.shape == (F.FAN_PATHS, 61)           # bounded: not n rows
    np.testing.assert_array_equal(out.equity, full[:F.FAN_PATHS])
    q = F.fan_quantiles(out.equity)
    bad = strict_bad = total = 0
    for i, p in enumerate(F.FAN_PERCENTILES):
        e = F.quantile_rank_error(F.FAN_PATHS, p / 100)
        for t in range(1, full.shape[1]):
            col = np.sort(full[:, t])
            lo_rank = np.searchsorted(col, q[i, t], "left") / n
            hi_rank = np.searchsorted(col, q[i, t], "right") / n
            total += 1
            # the fan's p-quantile is between the exact (p-e) and (p+e) quantiles (95%)
            if hi_rank < p / 100 - e or lo_rank > p / 100 + e:
                bad += 1
            e4 = F.quantile_rank_error(F.FAN_PATHS, p / 100, z=4.5)
            if hi_rank < p / 100 - e4 or lo_rank > p / 100 + e4:
                strict_bad += 1
    assert strict_bad == 0
    assert bad <= 0.10 * total, (bad, total)
    # with no more paths than the subsample, the fan's percentiles are the exact ones
    small = np.load(npy)[:1000]
    np.testing.assert_allclose(F.fan_quantiles(small),
                               np.percentile(small, F.FAN_PERCENTILES, axis=0))


def test_recording_the_subsample_changes_no_number():
    plan = build_plan(load_scenario(os.path.join(ROOT, "scenarios", "5k_four_asset.yaml")))
    plan = plan.with_(n_days=50)
    a = simulate(plan, 3000, 2, jobs=2)
    b = simulate(plan, 3000, 2, jobs=2, equity_paths=F.FAN_PATHS)
    assert a.equity.shape == (0, 0) and b.equity.shape == (2048, 51)
    for name in ("ruin_day", "final_equity", "max_dd", "tier_day", "trades", "m_trades"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_quantile_error_formula():
    e = F.quantile_rank_error(2048, 0.05)
    assert math.isclose(e, 1.959963984540054 * math.sqrt(0.05 * 0.95 / 2048))
    assert 0.009 < e < 0.0096


# ---- the command line ----------------------------------------------------------------------

def test_run_report_plot_csv_and_json(tmp_path):
    f = write(tmp_path, STRESS_SMALL)
    rep, figs, cs = tmp_path / "r.html", tmp_path / "figs", tmp_path / "p.csv"
    r = invoke("run", f, "--paths", 1500, "--report", rep, "--plot", figs, "--csv", cs, "--json")
    assert r.exit_code == 0, r.output
    js = json.loads(r.stdout)
    from simcore._version import __version__
    assert js["version"] == __version__ and isinstance(js["warnings"], list)
    assert js["report"] == str(rep) and js["csv"] == str(cs)
    assert sorted(os.path.basename(p) for p in js["plot_files"]) == sorted(
        f"{n}.png" for n, _, _ in F.RUN_FIGURES)
    for p in js["plot_files"]:
        assert png_size(open(p, "rb").read()) == (W, H)
    page = rep.read_text()
    assert page.startswith("<!DOCTYPE html>") and "report test" in page
    assert "--paths 1500" in page and __version__ in page and "What it says" in page
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    assert page.count('src="data:image/png;base64,') == 4
    # no temporary left behind
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]

    # --csv rows equal the JSON summaries they aggregate into
    with open(cs, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1500 == js["paths"]
    assert list(rows[0]) == csv_header(len(js["tiers"]))
    ruined = sum(int(x["ruined"]) for x in rows)
    assert ruined == js["ruin"]["paths_ruined"]
    assert sum(int(x["blown"]) for x in rows) / 1500 == pytest.approx(
        js["ruin"]["blown_probability"])
    assert sum(int(x["margin_calls"]) for x in rows) == js["margin_calls"]["total"]
    assert sum(int(x["margin_calls"]) > 0 for x in rows) / 1500 == pytest.approx(
        js["margin_calls"]["probability_any"])
    assert sum(int(x["trades"]) for x in rows) == js["trades"]
    assert sum(int(x["wins"]) for x in rows) == js["wins"]
    assert sum(int(x["skipped"]) for x in rows) / 1500 == pytest.approx(js["skipped_per_path"])
    assert sum(int(x["trades"]) for x in rows) == sum(m["trades"]
                                                     for m in js["markets"].values())
    fe = np.array([float(x["final_equity"]) for x in rows])
    assert fe.mean() == pytest.approx(js["final_equity"]["mean"], rel=1e-12)
    assert np.percentile(fe, 5) == pytest.approx(js["final_equity"]["p5"], rel=1e-12)
    dd = np.array([float(x["max_drawdown"]) for x in rows])
    assert dd.mean() == pytest.approx(js["max_drawdown"]["mean"], rel=1e-12)
    assert all(float(x["peak_equity"]) >= float(x["final_equity"]) for x in rows)
    for k, t in enumerate(js["tiers"]):
        days = [int(x[f"tier{k}_day"]) for x in rows if x[f"tier{k}_day"] != ""]
        assert len(days) / 1500 == pytest.approx(t["probability_reached"])
        if days:
            assert int(np.percentile(days, 50, method="inverted_cdf")) == t["days_median"] \
                or t["days_median"] is not None
    rd = [int(x["ruin_day"]) for x in rows if x["ruin_day"] != ""]
    assert len(rd) == ruined

    # refuses to overwrite without --force, before any work; --force replaces
    for opt, target in (("--report", rep), ("--csv", cs), ("--plot", figs)):
        r = invoke("run", f, "--paths", 1024, opt, target)
        assert r.exit_code == 2 and r.stdout == "" and opt in r.stderr and "--force" in r.stderr
    r = invoke("run", f, "--paths", 1024, "--report", rep, "--plot", figs, "--csv", cs,
               "--force")
    assert r.exit_code == 0, r.output
    assert len(list(csv.reader(open(cs)))) == 1025


def test_bad_destinations_are_bad_options(tmp_path):
    f = write(tmp_path, STRESS_SMALL)
    for args, opt in ((["--report", tmp_path / "x.txt"], "--report"),
                      (["--csv", tmp_path / "no" / "x.csv"], "--csv"),
                      (["--plot", tmp_path / "no" / "deeper"], "--plot"),
                      (["--plot", tmp_path / "s.yaml"], "--plot"),
                      (["--report", tmp_path / "same.html", "--plot", tmp_path / "same.html"],
                       "--plot"),
                      (["--csv", tmp_path / "same.csv", "--plot", tmp_path / "same.csv"],
                       "--plot")):
        r = invoke("run", f, *args)
        assert r.exit_code == 2 and r.stdout == "" and opt in r.stderr, r.output
    assert not (tmp_path / "same.html").exists() and not (tmp_path / "same.csv").exists()


def test_a_plot_folder_that_cannot_be_made_is_refused_before_any_work(tmp_path, monkeypatch):
    """--plot NEWDIR in a parent where nothing can be created: one line, exit 2, before the
    run (not a traceback after it)."""
    import simcore._files as files
    f = write(tmp_path, STRESS_SMALL)
    monkeypatch.setattr(files, "_can_create_in", lambda folder: False)
    r = invoke("run", f, "--plot", tmp_path / "newdir")
    assert r.exit_code == 2 and "--plot: cannot create a folder in" in r.stderr, r.output
    assert not (tmp_path / "newdir").exists()


@pytest.mark.parametrize("cmd", ["run", "stress"])
def test_plot_with_an_image_name_is_refused_for_commands_that_write_several(cmd, tmp_path):
    """run and stress write several figures: --plot figs.png is a mistake (size's one-file
    form), refused before any work with the names it would have written; a folder that
    happens to be called x.png is still a folder."""
    f = write(tmp_path, STRESS_SMALL)
    r = invoke(cmd, f, "--plot", tmp_path / "figs.png")
    assert r.exit_code == 2 and r.stdout == "", r.output
    assert "--plot:" in r.stderr and "names an image file" in r.stderr
    assert "give a folder" in r.stderr
    assert ("fan.png" if cmd == "run" else "stress.png") in r.stderr
    assert not (tmp_path / "figs.png").exists()


@pytest.mark.parametrize("cmd, opt", [("run", "--report"), ("run", "--plot"),
                                      ("stress", "--report"), ("size", "--report")])
def test_missing_matplotlib_is_a_clear_error(cmd, opt, tmp_path, monkeypatch):
    f = write(tmp_path, STRESS_SMALL)
    dest = tmp_path / ("r.html" if opt == "--report" else "figs")
    monkeypatch.setitem(sys.modules, "matplotlib", None)       # import fails
    r = invoke(cmd, f, opt, dest)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == (f"Error: {opt}: needs matplotlib (the plot extra: "
                                  "pip install '.[plot]' in the source tree)")
    assert not dest.exists()


def test_stress_and_size_reports_through_the_cli(tmp_path):
    f = write(tmp_path, STRESS_SMALL)
    rep, figs = tmp_path / "s.html", tmp_path / "sf"
    r = invoke("stress", f, "--paths", 1024, "--spike", "1", "--adverse", "--report", rep,
               "--plot", figs, "--json")
    assert r.exit_code == 0, r.output
    js = json.loads(r.stdout)
    assert js["report"] == str(rep) and len(js["plot_files"]) == 1
    assert "version" in js and js["warnings"] and js["rows"][0]["name"] == "base"
    assert png_size((figs / "stress.png").read_bytes()) == (W, H)
    assert "simrisk stress" in rep.read_text()
    r = invoke("stress", f, "--paths", 1024, "--spike", "1", "--report", rep)
    assert r.exit_code == 2 and "--force" in r.stderr
    zr, zp = tmp_path / "z.html", tmp_path / "z.png"
    r = invoke("size", f, "--paths", 1024, "--report", zr, "--plot", zp, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["report"] == str(zr)
    w, h = png_size(zp.read_bytes())
    assert w == W and h >= H
    assert "What it says" in zr.read_text()


def test_narrative_numbers_come_from_the_run():
    plan, out, s = run_of(os.path.join(ROOT, "scenarios", "5k_four_asset.yaml"), paths=2048,
                          horizon=252)
    d = F.run_data(plan, out, s)
    text = " ".join(run_narrative(d))
    assert f"${s['final_equity']['p5']:,.0f}" in text
    med = F.fan_quantiles(d.equity, (50,))[0]
    day = F.first_day_at_or_above(med, 7500.0)
    if day is None:
        assert "does not reach $7,500" in text
    else:
        assert f"reaches $7,500 on day {day}" in text


def test_review_stress_report_pairs_each_row_with_its_reference(tmp_path):
    """stress --review: rows are paired with the first review setting under the same stress,
    not with one base row; the forest plot, the page and its reading say so."""
    plan = os.path.join(ROOT, "scenarios", "5k_corr_review.yaml")
    rep, figs = tmp_path / "r.html", tmp_path / "rf"
    r = invoke("stress", plan, "--review", "off,21", "--paths", 256, "--horizon", 400,
               "--report", rep, "--plot", figs, "--json")
    assert r.exit_code == 0, r.output
    js = json.loads(r.stdout)
    refs = [row for row in js["rows"] if "vs_base" not in row or row["vs_base"] is None]
    assert len(refs) >= 2                     # one reference row per stress condition
    assert png_size((figs / "stress.png").read_bytes()) == (W, H)
    page = rep.read_text()
    assert "its reference" in page and "vs review off" in page


def test_replay_figures_use_every_window_and_no_binomial_band(tmp_path):
    """Replay's paths are consecutive, overlapping windows of one history: the fan reads every
    window (the first 2,048 start dates are no sample of the rest) and the tier and ruin curves
    carry no binomial band (the table's moving-block intervals are the honest ones)."""
    import simcore
    plan = simcore.load(os.path.join(ROOT, "scenarios", "history_sp500.yaml")).replace(
        **{"history.mode": "replay", "horizon_days": 120})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = simcore.run(plan, equity_paths=F.FAN_PATHS)
        assert res.paths > F.FAN_PATHS and res.output.equity.shape[0] == res.paths
        figs = res.figures()
        check_figs(figs, tmp_path)
    fan_title = figs["fan"].axes[0].get_title()
    assert f"every one of {res.paths:,} replay windows" in fan_title
    tiers = figs["tiers"]
    assert "no band" in tiers._suptitle.get_text()
    assert not any(c.__class__.__name__ in ("PolyCollection", "FillBetweenPolyCollection")
                   for ax in tiers.axes for c in ax.collections)
    page = res.report(tmp_path / "replay.html")
    assert "moving-block" in open(page).read()
    import matplotlib.pyplot as plt
    plt.close("all")
