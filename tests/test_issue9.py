"""Issue 9, "Trust at the edges": one test (or more) per numbered defect, through the command
line (CliRunner; a real subprocess for Ctrl-C and the closed pipe).

These tests assert properties -- exit codes, one-line messages naming the field or option,
finite JSON, files present or absent -- never simulated figures (the exit law may change)."""
from __future__ import annotations

import copy
import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from simcore.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "scenarios" / "5k_four_asset.yaml")      # has warning: lines

# one market, no warnings, quick
PLAN = {
    "name": "issue 9",
    "capital": 20000,
    "horizon_days": 40,
    "paths": 300,
    "seed": 5,
    "markets": {"SP500": {"price": 6000, "vol": 0.18},
                "NASDAQ100": {"price": 21000, "vol": 0.22}},
    "correlation": {"SP500/NASDAQ100": 0.8},
    "contracts": {"MES": {"initial_margin": 1500, "maintenance_margin": 1400},
                  "MNQ": {"initial_margin": 2000, "maintenance_margin": 1800}},
    "strategies": {
        "SP500": {"direction": "long", "stop": {"atr": 1.0}, "target": {"r": 2.0},
                  "win_rate": 0.4, "max_hold_days": 5},
        "NASDAQ100": {"direction": "both", "stop": {"atr": 1.0}, "target": {"r": 2.0},
                      "alpha": 0.1, "max_hold_days": 5},
    },
    "rules": {"risk_per_trade": 0.05, "margin_cap": 0.5, "slippage_ticks": 1,
              "ruin": {"below_fraction": 0.6}},
    "tiers": [{"at": 20000, "contracts": {"MES": 1, "MNQ": 1}},
              {"at": 25000, "contracts": {"MES": 2, "MNQ": 2}}],
}


def plan(**changes) -> dict:
    d = copy.deepcopy(PLAN)
    for dotted, value in changes.items():
        keys = dotted.split("__")
        node = d
        for k in keys[:-1]:
            node = node[k]
        if value is _DROP:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return d


_DROP = object()


def write(tmp_path, data, name="plan.yaml") -> str:
    import yaml
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(p)


def cli(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def assert_bad(r, needle: str):
    """Exit 2, one line on stderr naming ``needle``, nothing on stdout, no traceback."""
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("Error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in r.output


def assert_failed(r, needle: str):
    """Exit 1, one line on stderr, nothing on stdout, no traceback."""
    assert r.exit_code == 1, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("warning: ")]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("Error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in r.output


def finite_numbers(obj):
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return True
    if isinstance(obj, (int, float)):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(finite_numbers(v) for v in obj.values())
    if isinstance(obj, list):
        return all(finite_numbers(v) for v in obj)
    return False


def strict_json(text: str):
    def bad(c):
        raise ValueError(f"non-finite JSON constant {c}")
    return json.loads(text, parse_constant=bad)


# ---- 1. a broken run is never reported as a result -------------------------------------------

@pytest.mark.parametrize("changes, field", [
    # the reproducer: a stop of 0.001 points on the S&P 500 (solved alpha ~ +24,500)
    ({"strategies__SP500__stop": {"points": 0.001}}, "strategies.SP500.stop"),
    # a 1-tick stop at one step a day: the solved alpha swamps the market
    ({"strategies__SP500__stop": {"ticks": 1}}, "strategies.SP500.win_rate"),
    # a typed alpha of -1e6
    ({"strategies__NASDAQ100__alpha": -1e6}, "strategies.NASDAQ100.alpha"),
    ({"strategies__NASDAQ100__alpha": 400.0}, "strategies.NASDAQ100.alpha"),
    # a stop a tiny fraction of one step's move (a contract with a tiny tick)
    ({"contracts__MES__tick_size": 1e-9, "strategies__SP500__stop": {"points": 1e-5}},
     "strategies.SP500.stop"),
])
def test_unrealistic_plans_are_refused_naming_the_field(tmp_path, changes, field):
    for cmd in (["run"], ["stress", "--spike", "1"], ["size"]):
        r = cli(*cmd, write(tmp_path, plan(**changes)), "--json")
        assert_bad(r, field)
    r = cli("run", write(tmp_path, plan(**changes)))
    assert field in r.stderr and ("tick" in r.stderr or "step" in r.stderr)


def _flag_one_path(monkeypatch):
    """Make the engine report one non-finite path in every block (as the kernel does for a
    path whose price or equity overflowed)."""
    from simcore import runner
    real = runner._run_block

    def flagged(plan, seed_seq, n, record_equity):
        out = real(plan, seed_seq, n, record_equity)
        out.nonfinite[0] = 1
        out.final_equity[0] = math.nan
        return out

    monkeypatch.setattr(runner, "_run_block", flagged)


@pytest.mark.parametrize("args", [
    ["run", "--json"], ["run"], ["run", "--jobs", "2", "--paths", "2100"],
    ["stress", "--spike", "1", "--json"], ["stress", "--vol-mult", "2"],
    ["size", "--json"], ["size"],
])
def test_a_flagged_nonfinite_path_fails_the_command_with_exit_1(tmp_path, monkeypatch, args):
    _flag_one_path(monkeypatch)
    out = tmp_path / "eq.npy"
    extra = ["--save-equity", str(out)] if args[0] == "run" else []
    r = cli(args[0], write(tmp_path, plan()), *args[1:], *extra)
    assert_failed(r, "simulation failed")
    assert "non-finite" in r.stderr
    assert not out.exists()


def test_json_never_holds_nan_or_infinity(tmp_path):
    f = write(tmp_path, plan())
    for args in (["run", f, "--json", "--paths", "1"],
                 ["stress", f, "--json", "--paths", "1", "--spike", "1", "--tails", "3"],
                 ["size", f, "--json", "--paths", "64"]):
        r = cli(*args)
        assert r.exit_code == 0, r.output
        assert finite_numbers(strict_json(r.stdout))


def test_finite_json_helper_turns_nonfinite_into_null():
    from simcore.cli._common import finite_json
    assert finite_json({"a": [1.0, math.nan, {"b": math.inf}], "c": np.float64(-np.inf)}) == \
        {"a": [1.0, None, {"b": None}], "c": None}


# ---- 2. overflow anywhere in the build is exit 2 naming the field -----------------------------

@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("changes, field", [
    ({"strategies__SP500__stop": {"points": 1e-160}}, "strategies.SP500.stop"),
    ({"markets__SP500__price": 1e160}, "markets.SP500.price"),
    ({"markets__SP500__price": 1e-160}, "markets.SP500.price"),
    ({"capital": 1e308}, "capital"),
    ({"capital": 1e16}, "capital"),
    ({"contracts__MES__point_value": 1e300}, "contracts.MES.point_value"),
    ({"contracts__MES__commission": 1e300}, "contracts.MES.commission"),
    ({"contracts__MES__tick_size": 1e300}, "contracts.MES.tick_size"),
    ({"rules__slippage_ticks": 1e300}, "rules.slippage_ticks"),
    ({"strategies__SP500__stop": {"atr": 1e300}}, "strategies.SP500.stop"),
    ({"strategies__SP500__target": {"r": 1e300}}, "strategies.SP500.target"),
    ({"horizon_days": 2_000_000}, "strategies.SP500.win_rate: over 2,000,000 days"),
    ({"strategies__SP500__target": {"points": 1e12}}, "strategies.SP500.target"),
    ({"markets__SP500__vol": 2.0, "horizon_days": 252 * 60}, "markets.SP500.vol"),
])
def test_absurd_values_are_exit_2_naming_the_field_without_numpy_warnings(tmp_path, changes,
                                                                          field):
    r = cli("run", write(tmp_path, plan(**changes)), "--json", "--paths", "10")
    assert_bad(r, field)
    assert "RuntimeWarning" not in r.stderr


def test_stress_rows_that_overflow_are_refused_before_running(tmp_path):
    data = plan(markets__SP500__vol=2.0, horizon_days=252 * 5)
    r = cli("stress", write(tmp_path, data), "--vol-mult", "20", "--json")
    assert_bad(r, "--vol-mult")
    data["stress"] = [{"name": "wild", "vol_mult": 20}]
    r = cli("stress", write(tmp_path, data), "--json")
    assert_bad(r, "stress[0].vol_mult")


def test_size_range_is_checked_before_the_search(tmp_path):
    f = write(tmp_path, plan())
    assert_bad(cli("size", f, "--max-capital", "1e300", "--json"), "--max-capital")
    assert_bad(cli("size", f, "--tolerance", "nan", "--json"), "--tolerance")


# ---- 3. every output destination is checked before any work ---------------------------------

@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if any path gets simulated."""
    from simcore import runner

    def boom(*a, **k):
        raise AssertionError("simulated before checking the destination")
    monkeypatch.setattr(runner, "run_tasks", boom)


@pytest.mark.parametrize("dest, needle", [
    ("{tmp}/missing/eq.npy", "does not exist"),
    ("{tmp}/eq.txt", ".npy"),
    ("{tmp}/adir.npy", "is a directory"),
    ("/proc/eq.npy", "not writable"),
    ("{tmp}/exists.npy", "exists"),
])
def test_save_equity_destination_is_checked_first(tmp_path, no_simulation, dest, needle):
    (tmp_path / "adir.npy").mkdir()
    (tmp_path / "exists.npy").write_bytes(b"x")
    r = cli("run", write(tmp_path, plan()), "--save-equity", dest.format(tmp=tmp_path),
            "--json")
    assert_bad(r, "--save-equity")
    assert needle in r.stderr


@pytest.mark.parametrize("dest, needle", [
    ("{tmp}/missing/curve.png", "does not exist"),
    ("{tmp}/curve.pdf", ".png"),
    ("/proc/curve.png", "not writable"),
    ("{tmp}/exists.png", "exists"),
])
def test_plot_destination_is_checked_first(tmp_path, no_simulation, dest, needle):
    (tmp_path / "exists.png").write_bytes(b"x")
    r = cli("size", write(tmp_path, plan()), "--plot", dest.format(tmp=tmp_path), "--json")
    assert_bad(r, "--plot")
    assert needle in r.stderr


# ---- 4. files are written atomically; --force for --save-equity ------------------------------

def _leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("exc, code", [(OSError(errno.ENOSPC, "No space left on device"), 1),
                                       (KeyboardInterrupt(), 130)])
def test_save_equity_write_failure_leaves_no_file(tmp_path, monkeypatch, exc, code):
    f = write(tmp_path, plan())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "eq.npy"
    real_save = np.save

    def half_then_fail(file, arr, *a, **k):
        with open(file, "wb") as fh:
            fh.write(b"\x93NUMPY partial")
        raise exc

    monkeypatch.setattr(np, "save", half_then_fail)
    r = cli("run", f, "--save-equity", target, "--json", "--paths", "50")
    assert r.exit_code == code, r.output
    assert r.stdout == "" and len(r.stderr.splitlines()) == 1
    assert list(out_dir.iterdir()) == []          # neither the file nor a temporary
    monkeypatch.setattr(np, "save", real_save)
    r = cli("run", f, "--save-equity", target, "--json", "--paths", "50")   # rerun works
    assert r.exit_code == 0, r.output
    assert np.load(target).shape == (50, 41)
    assert _leftovers(out_dir) == []


def test_save_equity_force_overwrites(tmp_path):
    f = write(tmp_path, plan())
    target = tmp_path / "eq.npy"
    target.write_bytes(b"old")
    assert_bad(cli("run", f, "--save-equity", target, "--paths", "20"), "exists")
    r = cli("run", f, "--save-equity", target, "--paths", "20", "--force", "--json")
    assert r.exit_code == 0, r.output
    assert np.load(target).shape == (20, 41)
    assert _leftovers(tmp_path) == []


def test_plot_interrupted_while_writing_leaves_no_file(tmp_path, monkeypatch):
    import matplotlib  # noqa: F401  (a hard dependency of the test extra)
    from simcore import sizing

    def half_then_interrupt(res, path):
        Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 21)      # the 29-byte PNG
        raise KeyboardInterrupt

    monkeypatch.setattr(sizing, "plot_sizing", half_then_interrupt)
    target = tmp_path / "curve.png"
    r = cli("size", write(tmp_path, plan()), "--paths", "64", "--plot", target, "--json")
    assert r.exit_code == 130
    assert r.stdout == "" and r.stderr.count("\n") == 1 and "interrupted" in r.stderr
    assert not target.exists() and _leftovers(tmp_path) == []


def test_atomic_path_helper(tmp_path):
    from simcore._files import atomic_path, check_destination
    from simcore.errors import ScenarioError
    dest = check_destination(tmp_path / "a.NPY", force=False, suffixes=(".npy",), option="--x")
    with atomic_path(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".NPY" and tmp != dest
        tmp.write_bytes(b"done")
    assert dest.read_bytes() == b"done"
    with pytest.raises(ScenarioError, match="--x: .* exists"):
        check_destination(dest, force=False, suffixes=(".npy",), option="--x")
    assert check_destination(dest, force=True, suffixes=(".npy",), option="--x") == dest
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError
    assert dest.read_bytes() == b"done" and sorted(os.listdir(tmp_path)) == ["a.NPY"]


# ---- 5. Ctrl-C: exit 130, one line, nothing on stdout (a real process and signal) ------------

def _simrisk(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "simcore.cli.main", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_exits_130_with_one_line_and_no_output(tmp_path, jobs):
    long_plan = plan(horizon_days=2000, steps_per_day=4)
    target = tmp_path / "eq.npy"
    p = _simrisk("run", write(tmp_path, long_plan), "--paths", "60000", "--jobs", jobs,
                 "--json", "--save-equity", target)
    time.sleep(2.0)                    # imported, loaded and simulating
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert out == b""
    lines = err.decode().splitlines()
    assert [ln for ln in lines if not ln.startswith("warning: ")] == [
        "Error: interrupted (Ctrl-C): no result reported, no file written"], lines
    assert sorted(os.listdir(tmp_path)) == ["plan.yaml"]


# ---- 6. option errors are one line, before the plan's warnings -------------------------------

@pytest.mark.parametrize("args", [
    ["stress", "--spike", "1.5"], ["stress", "--spike", ""], ["stress", "--vol-mult", "0"],
    ["stress", "--vol-mult", "x"], ["stress", "--tails", "2"], ["stress", "--tails", "nan"],
    ["stress", "--spike", "1", "--window", "9:1"], ["stress", "--window", "1:5"],
    ["stress", "--spike", "1", "--window", "1:99999"],
    ["size", "--max-ruin", "1.5"], ["size", "--max-ruin", "nan"], ["size", "--reach", "x"],
    ["size", "--reach", "12345:0.5"], ["size", "--reach", "7500:2"],
    ["size", "--max-margin-call", "0"], ["size", "--min-capital", "-5"],
    ["size", "--min-capital", "9000", "--max-capital", "8000"], ["size", "--tolerance", "2"],
    ["size", "--max-capital", "inf"], ["size", "--plot", "x.pdf"],
    ["run", "--paths", "0"], ["run", "--horizon", "0"], ["run", "--seed", "-1"],
    ["run", "--save-equity", "x.txt"], ["run", "--scheduler", "tcp://h:1"],
])
def test_option_errors_are_one_line_even_when_the_plan_has_warnings(args):
    r = cli(args[0], EXAMPLE, *args[1:])
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("Error: ") and "--" in r.stderr


# ---- 7. a closed pipe is handled like a Unix tool: quiet, exit 141 ---------------------------

@pytest.mark.parametrize("args", [["run", "--json"], ["run"], ["stress", "--spike", "1"]])
def test_closed_stdout_exits_141_quietly(tmp_path, args):
    f = write(tmp_path, plan())
    r_fd, w_fd = os.pipe()
    os.close(r_fd)                      # the reader is gone: `simrisk run PLAN | true`
    p = subprocess.run([sys.executable, "-m", "simcore.cli.main", args[0], f, *args[1:], "--paths",
                        "100"], cwd=ROOT, stdout=w_fd, stderr=subprocess.PIPE, timeout=120)
    os.close(w_fd)
    assert p.returncode == 141, p.stderr
    assert p.stderr == b""


def test_closed_pipe_through_the_shell(tmp_path):
    f = write(tmp_path, plan())
    for tail in ("true", "head -0"):
        p = subprocess.run(f'"{sys.executable}" -m simcore.cli.main run "{f}" --paths 300 | {tail}; '
                           'echo "rc=${PIPESTATUS[0]}"', shell=True, executable="/bin/bash",
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert p.stdout.strip() == "rc=141" and p.stderr == "", (p.stdout, p.stderr)


# ---- 8. correlations of exactly +-1 are fine; only indefinite matrices are refused -----------

@pytest.mark.parametrize("rho", [1.0, -1.0])
def test_correlation_of_plus_minus_one_runs(tmp_path, rho):
    f = write(tmp_path, plan(correlation={"SP500/NASDAQ100": rho}))
    for args in (["run", f, "--json"], ["stress", f, "--spike", "0.5,1", "--adverse",
                                         "--json"]):
        r = cli(*args, "--paths", "200")
        assert r.exit_code == 0, r.output
        assert finite_numbers(strict_json(r.stdout))


def test_semidefinite_correlation_is_factored_exactly():
    from simcore.build import build_plan
    from simcore.scenario import parse_scenario
    data = plan(correlation={"SP500/NASDAQ100": 1.0})
    data["markets"]["GOLD"] = {"price": 2600, "vol": 0.16}
    data["correlation"].update({"SP500/GOLD": 0.3, "NASDAQ100/GOLD": 0.3})
    p = build_plan(parse_scenario(data))
    L = p.chol[0, 0]
    R = np.array([[1, 1, .3], [1, 1, .3], [.3, .3, 1]])
    assert np.allclose(L @ L.T, R, atol=1e-12) and np.all(np.triu(L, 1) == 0)


def test_indefinite_correlation_names_the_smallest_eigenvalue(tmp_path):
    data = plan(correlation={"SP500/NASDAQ100": 1.0, "SP500/GOLD": 1.0, "NASDAQ100/GOLD": 0})
    data["markets"]["GOLD"] = {"price": 2600, "vol": 0.16}
    r = cli("run", write(tmp_path, data), "--json")
    assert_bad(r, "correlation: not positive semi-definite (smallest eigenvalue -")


# ---- 9. YAML 1.2: no sexagesimal, hex, octal or underscore numbers; 1.1 booleans are strings -

@pytest.mark.parametrize("text, field, words", [
    ("2:13:20", "capital", "must be a number"),
    ("0x1F40", "capital", "must be a number"),
    ("0o17620", "capital", "must be a number"),
    ("8_000", "capital", "must be a number"),
    ("8,000", "capital", "must be a number"),
])
def test_yaml_11_number_forms_are_not_numbers(tmp_path, text, field, words):
    f = tmp_path / "p.yaml"
    f.write_text(Path(write(tmp_path, plan())).read_text().replace("capital: 20000",
                                                                   f"capital: {text}"))
    assert_bad(cli("run", f, "--json"), f"{field}: {words}")


def test_yaml_12_keeps_plain_numbers_and_the_error_format(tmp_path):
    base = Path(write(tmp_path, plan())).read_text()
    f = tmp_path / "p.yaml"
    f.write_text(base.replace("capital: 20000", "capital: 2.0e4"))
    assert cli("run", f, "--json", "--paths", "20").exit_code == 0
    f.write_text(base + "stress:\n- {name: x, spike: 1, adverse: yes}\n")
    assert_bad(cli("run", f, "--json"), "stress[0].adverse: must be true or false")
    f.write_text(base.replace("capital: 20000", "capital: [1, 2"))
    assert_bad(cli("run", f, "--json"), "invalid YAML at line")
    f.write_text(base.replace("capital: 20000", "capital: 20000\ncapital: 1"))
    assert_bad(cli("run", f, "--json"), "capital: duplicate key (lines 2 and 3)")
    f.write_text(base.replace("capital: 20000", "captial: 20000"))
    assert_bad(cli("run", f, "--json"), "captial: unknown key (did you mean capital?)")


# ---- 10. runaway sizes: memory refused, long runs announced with the estimate ----------------

def test_paths_that_cannot_fit_in_memory_are_refused(tmp_path, no_simulation):
    f = write(tmp_path, plan())
    r = cli("run", f, "--paths", "1000000000000", "--json")
    assert_bad(r, "--paths")
    assert "memory" in r.stderr
    r = cli("stress", f, "--paths", "1000000000000", "--json")
    assert_bad(r, "--paths")
    r = cli("run", f, "--paths", "100000000", "--horizon", "100000", "--save-equity",
            tmp_path / "e.npy", "--json")
    assert_bad(r, "--save-equity")


def test_long_runs_are_announced_with_the_estimate_quoting_paths(tmp_path, monkeypatch):
    from simcore import limits
    monkeypatch.setattr(limits, "SLOW_ASSET_STEP", 1.0)           # everything looks long
    monkeypatch.setattr(limits, "_time_kernel", lambda plan, paths: 1.0)
    f = write(tmp_path, plan())
    r = cli("run", f, "--paths", "64", "--json")
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.stderr.splitlines() if "asset-steps" in ln]
    assert len(warn) == 1 and "--paths 64 x 40 days" in warn[0] and "CPU" in warn[0], r.stderr
    assert strict_json(r.stdout)["paths"] == 64
    r = cli("run", f, "--json")
    assert "the plan's paths (300)" in r.stderr
    r = cli("stress", f, "--paths", "64", "--spike", "1", "--json")
    assert "--paths 64" in r.stderr and "x 2 runs" in r.stderr


def test_the_build_no_longer_quotes_the_plans_paths_in_a_warning():
    from simcore.build import build_plan
    from simcore.scenario import parse_scenario
    p = build_plan(parse_scenario(plan(horizon_days=100_000, steps_per_day=12)))
    assert not any("paths" in w for w in p.extras["warnings"])


# ---- 11. smaller ones ------------------------------------------------------------------------

def test_a_newline_in_a_market_key_stays_on_one_line(tmp_path):
    data = plan()
    data["markets"]["SP\n500"] = data["markets"].pop("SP500")
    r = cli("run", write(tmp_path, data), "--json")
    assert_bad(r, "markets.SP\\n500")
    r = cli("stress", EXAMPLE, "--spike", "0.5\n1", "--json")
    assert_bad(r, "--spike")
    r = cli("size", EXAMPLE, "--reach", "x\ny:0.5", "--json")
    assert_bad(r, "--reach")


def test_empty_spike_or_vol_mult_is_an_error_not_a_fallback(tmp_path):
    f = write(tmp_path, plan())
    assert_bad(cli("stress", f, "--spike", "", "--json"), "--spike")
    assert_bad(cli("stress", f, "--vol-mult", "", "--json"), "--vol-mult")
    assert_bad(cli("stress", f, "--spike", "0.5,", "--json"), "--spike")


def test_run_ignores_stress_rows_beyond_the_horizon_and_stress_names_them(tmp_path):
    data = plan(horizon_days=30)
    data["stress"] = [{"name": "late", "spike": 1, "window": [50, 60]}]
    f = write(tmp_path, data)
    r = cli("run", f, "--json")
    assert r.exit_code == 0, r.output
    assert_bad(cli("stress", f, "--json"), "stress[0].window")
    data["horizon_days"] = 100                  # fine at 100 days, not with --horizon 40
    f = write(tmp_path, data)
    assert cli("stress", f, "--json", "--paths", "64").exit_code == 0
    assert_bad(cli("stress", f, "--json", "--horizon", "40"), "stress[0].window")
    assert cli("run", f, "--json", "--horizon", "40", "--paths", "64").exit_code == 0


@pytest.mark.parametrize("cmd", [["run"], ["stress", "--spike", "1"], ["size"]])
def test_horizon_option_overrides_the_plan(tmp_path, cmd):
    r = cli(cmd[0], write(tmp_path, plan()), *cmd[1:], "--horizon", "15", "--paths", "64",
            "--json")
    assert r.exit_code == 0, r.output
    assert strict_json(r.stdout)["horizon_days"] == 15


def test_horizon_option_is_validated(tmp_path):
    f = write(tmp_path, plan(steps_per_day=1000))
    assert_bad(cli("run", f, "--horizon", "3000000", "--json"), "--horizon")
    assert_bad(cli("run", f, "--horizon", "x", "--json"), "--horizon")


def test_size_help_says_where_the_search_starts():
    r = cli("size", "--help")
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert "trading floor" in text and "[default: capital / 10]" not in text


def test_readme_says_plot_needs_the_plot_extra():
    text = (ROOT / "README.md").read_text()
    i = text.index("--plot ruin_vs_capital.png")
    assert ".[plot]" in text[i - 800:i + 800]


def test_estimate_times_the_kernel_only_for_runs_that_may_be_long():
    from simcore.build import build_plan
    from simcore.limits import estimate_run
    from simcore.scenario import parse_scenario
    p = build_plan(parse_scenario(plan()))
    small = estimate_run(p, 1000)
    assert small.seconds is None and small.per_asset_step is None
    big = estimate_run(p, 10**8, jobs=1)
    assert big.asset_steps == 10**8 * 40 * 2
    assert 1e-10 < big.per_asset_step < 1e-5 and big.seconds == pytest.approx(big.cpu_seconds)
    assert big.memory > 10**8 * 48


def test_horizon_option_on_a_plan_with_an_include():
    r = cli("run", ROOT / "scenarios" / "15k_calibrated.yaml", "--horizon", "10", "--paths",
            "64", "--json")
    assert r.exit_code == 0, r.output
    assert strict_json(r.stdout)["horizon_days"] == 10
