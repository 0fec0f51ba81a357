"""The command line through click's CliRunner: exit codes, JSON shape (SPEC 10), errors."""
import json

import pytest
import yaml
from click.testing import CliRunner

from simcore.cli.main import main
from plan_factory import two_market_plan

SMALL = two_market_plan(name="cli test", horizon_days=60, paths=400)
SMALL["tiers"][1]["demote_buffer"] = 0.05

SPEC10 = {
    "paths", "seed", "horizon_days", "capital", "ruin", "margin_calls", "tiers",
    "final_equity", "max_drawdown", "markets",
}


def write(tmp_path, data, name="s.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(p)


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version_and_help():
    r = invoke("--version")
    assert r.exit_code == 0 and "simrisk" in r.output
    r = invoke("--help")
    assert r.exit_code == 0
    for cmd in ("run", "stress"):
        assert cmd in r.output


def test_run_json_has_every_spec10_key(tmp_path):
    r = invoke("run", write(tmp_path, SMALL), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert SPEC10 <= set(out)
    assert out["paths"] == 400 and out["seed"] == 3 and out["horizon_days"] == 60
    assert out["capital"] == 10000
    assert {"probability", "ci95", "blown_probability", "day_median"} <= set(out["ruin"])
    assert {"probability_any", "ci95", "mean_per_path", "per_year"} <= set(out["margin_calls"])
    assert out["margin_calls"]["per_year"] == pytest.approx(
        out["margin_calls"]["mean_per_path"] * 252 / 60)
    assert len(out["tiers"]) == 2
    for t in out["tiers"]:
        assert {"at", "probability_reached", "days_p10", "days_median", "days_p90"} <= set(t)
    assert {"mean", "std", "p5", "p25", "median", "p75", "p95"} <= set(out["final_equity"])
    assert {"median", "p95"} <= set(out["max_drawdown"])
    assert set(out["markets"]) == {"SP500", "CRUDE"}
    for m in out["markets"].values():
        assert {"trades", "win_rate", "avg_win_r", "avg_loss_r", "skipped", "alpha"} <= set(m)
    assert out["markets"]["CRUDE"]["alpha"] == 0.2
    # the interval is the Wilson interval of the reported count (not merely around it)
    from simcore.metrics import wilson
    k = round(out["ruin"]["probability"] * out["paths"])
    assert out["ruin"]["probability"] == k / out["paths"]
    assert out["ruin"]["ci95"] == pytest.approx(list(wilson(k, out["paths"])), abs=1e-12)


def test_run_json_identical_for_any_jobs_and_paths_seed_options(tmp_path):
    f = write(tmp_path, SMALL)
    a = invoke("run", f, "--json", "--jobs", "1", "--paths", "1500", "--seed", "11")
    b = invoke("run", f, "--json", "--jobs", "2", "--paths", "1500", "--seed", "11")
    assert a.exit_code == b.exit_code == 0
    assert a.stdout == b.stdout
    out = json.loads(a.stdout)
    assert out["paths"] == 1500 and out["seed"] == 11
    c = invoke("run", f, "--json", "--paths", "1500", "--seed", "12")
    assert c.stdout != a.stdout


def test_run_table(tmp_path):
    r = invoke("run", write(tmp_path, SMALL))
    assert r.exit_code == 0
    for word in ("Ruin", "Margin calls", "Tiers", "Final equity", "SP500", "CRUDE"):
        assert word in r.stdout


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["markets"]["CRUDE"].update(vol=-0.1), "markets.CRUDE.vol"),
    (lambda d: d.update(captial=5), "captial"),
    (lambda d: d.update(correlation={"SP500/CRUDE": 1.5}), "correlation.SP500/CRUDE"),
    (lambda d: d["rules"].update(risk_per_trade=0), "rules.risk_per_trade"),
    (lambda d: d["strategies"]["SP500"].update(direction="up"), "strategies.SP500.direction"),
    (lambda d: d["tiers"][1].update(at=9000), "tiers[1].at"),
    (lambda d: d.pop("capital"), "capital"),
])
def test_bad_scenario_exit_2_names_field_no_traceback(tmp_path, mutate, field):
    data = json.loads(json.dumps(SMALL))
    mutate(data)
    r = CliRunner().invoke(main, ["run", write(tmp_path, data), "--json"])
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert field in r.stderr
    assert "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_non_psd_correlation_names_smallest_eigenvalue(tmp_path):
    data = json.loads(json.dumps(SMALL))
    data["markets"]["GOLD"] = {"price": 2600, "vol": 0.16}
    data["correlation"] = {"SP500/CRUDE": 0.9, "SP500/GOLD": 0.9, "CRUDE/GOLD": -0.9}
    r = CliRunner().invoke(main, ["run", write(tmp_path, data)])
    assert r.exit_code == 2
    assert "correlation: not positive semi-definite (smallest eigenvalue" in r.stderr


@pytest.mark.parametrize("args, option", [
    (["--paths", "0"], "--paths"),
    (["--seed", "-1"], "--seed"),
    (["--jobs", "x"], "--jobs"),
])
def test_bad_options_exit_2(tmp_path, args, option):
    r = CliRunner().invoke(main, ["run", write(tmp_path, SMALL), *args, "--json"])
    assert r.exit_code == 2
    assert option in r.stderr and r.stdout == ""


def test_missing_file_and_bad_yaml(tmp_path):
    r = CliRunner().invoke(main, ["run", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 2 and "does not exist" in r.stderr
    p = tmp_path / "bad.yaml"
    p.write_text("capital: [1, 2\n")
    r = CliRunner().invoke(main, ["run", str(p)])
    assert r.exit_code == 2 and "Traceback" not in r.output and r.stdout == ""


def test_input_file_is_never_modified(tmp_path):
    f = write(tmp_path, SMALL)
    before = open(f).read()
    invoke("run", f, "--json")
    invoke("stress", f, "--spike", "1", "--json", "--paths", "200")
    assert open(f).read() == before


# ---- stress ----------------------------------------------------------------------------------

def test_stress_json_rows_and_paired_intervals(tmp_path):
    r = invoke("stress", write(tmp_path, SMALL), "--spike", "0,0.5,1", "--vol-mult", "2",
               "--tails", "4", "--json", "--paths", "1024")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    names = [row["name"] for row in out["rows"]]
    assert names == ["base", "spike 0.5", "spike 1", "vol x2", "t(4)"]   # w = 0 is the base
    for row in out["rows"][1:]:
        vs = row["vs_base"]
        # a paired difference of proportions is exactly the difference of the two rows'
        # proportions, inside its (score, not symmetric) interval, which always has width;
        # the p5 difference is that of the two p5s
        base = out["rows"][0]
        for key in ("ruin_probability", "margin_call_probability"):
            lo, hi = vs[key]["ci95"]
            assert vs[key]["diff"] == pytest.approx(row[key] - base[key], abs=1e-12)
            assert lo <= vs[key]["diff"] <= hi and hi > lo
        assert vs["final_equity_p5"]["diff"] == pytest.approx(
            row["final_equity_p5"] - base["final_equity_p5"], rel=1e-9, abs=1e-6)
        assert len(vs["tiers_reached"]) == 2
    for row in out["rows"]:
        assert {"ruin_probability", "margin_call_probability", "tiers", "final_equity_p5"} \
            <= set(row)


def test_stress_table_and_scenario_section(tmp_path):
    data = json.loads(json.dumps(SMALL))
    data["stress"] = [{"name": "crash window", "spike": 0.9, "adverse": True,
                       "vol_mult": 2.0, "window": [20, 40]},
                      {"name": "fat", "student_t": 5}]
    r = invoke("stress", write(tmp_path, data), "--paths", "600")
    assert r.exit_code == 0, r.output
    assert "crash window" in r.stdout and "fat" in r.stdout and "base" in r.stdout
    assert "vs base" in r.stdout


@pytest.mark.parametrize("args, option", [
    (["--spike", "1.5"], "--spike"),
    (["--spike", "a,b"], "--spike"),
    (["--vol-mult", "0"], "--vol-mult"),
    (["--tails", "2"], "--tails"),
    (["--spike", "1", "--window", "50:10"], "--window"),
    (["--spike", "1", "--window", "10:999"], "--window"),
    (["--spike", "1", "--window", "ten"], "--window"),
])
def test_stress_bad_arguments_exit_2_naming_option(tmp_path, args, option):
    r = CliRunner().invoke(main, ["stress", write(tmp_path, SMALL), *args, "--json"])
    assert r.exit_code == 2, r.output
    assert option in r.stderr and r.stdout == ""
    assert "Traceback" not in r.output


def test_scheduler_without_dask_backend_is_bad_input(tmp_path):
    r = CliRunner().invoke(main, ["run", write(tmp_path, SMALL), "--scheduler",
                                  "tcp://127.0.0.1:1", "--json"])
    assert r.exit_code == 2 and "--scheduler" in r.stderr and r.stdout == ""


def test_unknown_backend_is_bad_input(tmp_path):
    r = CliRunner().invoke(main, ["run", write(tmp_path, SMALL), "--backend", "spark"])
    assert r.exit_code == 2 and "--backend" in r.stderr


@pytest.mark.parametrize("args, needle", [
    (["run", "/nonexistent.yaml"], "FILE"),
    (["run"], "FILE"),
    (["run", "scenarios/single_mes.yaml", "--paths", "0"], "--paths"),
    (["bogus"], "bogus"),
])
def test_usage_errors_are_one_line(args, needle):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("Error:")


def test_stress_rows_that_change_nothing_are_rejected(tmp_path):
    data = json.loads(json.dumps(SMALL))
    data["stress"] = [{"name": "nothing", "window": [1, 10]}]
    r = CliRunner().invoke(main, ["stress", write(tmp_path, data)])
    assert r.exit_code == 2 and "stress[0]: changes nothing" in r.stderr


def test_jobs_far_above_the_block_count_is_fine(tmp_path):
    r = CliRunner().invoke(main, ["run", write(tmp_path, SMALL), "--jobs", "5000", "--json"])
    assert r.exit_code == 0, r.output


def test_save_equity_paths(tmp_path):
    import numpy as np
    f = write(tmp_path, SMALL)
    target = tmp_path / "eq.npy"
    r = invoke("run", f, "--json", "--paths", "300", "--save-equity", str(target))
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    eq = np.load(target)
    assert eq.shape == (300, 61)
    assert np.all(eq[:, 0] == 10000)
    # summaries agree with the saved paths: the summary's p5 of final equity is within the
    # day-end range, and the same run without paths gives the same summary
    r2 = invoke("run", f, "--json", "--paths", "300")
    out2 = json.loads(r2.stdout)
    out.pop("equity_file")
    assert out == out2
    # never overwritten
    r3 = CliRunner().invoke(main, ["run", f, "--paths", "300", "--save-equity", str(target)])
    assert r3.exit_code == 2 and "--save-equity" in r3.stderr


def test_a_horizon_too_long_for_the_plan_is_blamed_on_the_option(tmp_path):
    """The plan is fine at its own horizon: --horizon is what makes it too long, so the error
    names --horizon (it named a strategy's win_rate)."""
    f = write(tmp_path, two_market_plan())
    r = invoke("run", f, "--horizon", "100000000")
    assert r.exit_code == 2 and r.stdout == ""
    err = r.stderr.strip()
    assert err.startswith("Error: --horizon: 100,000,000 days is too long for this plan (")
    assert "\n" not in err and "Traceback" not in r.output
