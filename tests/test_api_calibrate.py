"""simcore.api.calibrate (simcore.calibrate_markets): the rules of `simrisk calibrate` live in
the API, which gives the command line's numbers, fragment and messages (the option named as
the argument, as every API entry does)."""
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import simcore
from simcore import ScenarioError
from simcore.cli.main import main

pd = pytest.importorskip("pandas")      # the calibrate extra (the test extra has it)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def bars(tmp_path, name, n=300, start="2020-01-01", seed=0):
    """A random walk's daily bars (Date, Open, High, Low, Close)."""
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = c * np.exp(rng.normal(0, 0.004, n))
    rows = ["Date,Open,High,Low,Close"]
    for d, oo, cc in zip(pd.bdate_range(start, periods=n).strftime("%Y-%m-%d"), o, c):
        rows.append(f"{d},{oo},{max(oo, cc) * 1.003},{min(oo, cc) * 0.997},{cc}")
    p = tmp_path / f"{name}.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def test_calibrate_markets_is_the_api_entry():
    assert simcore.calibrate_markets is simcore.api.calibrate
    assert "calibrate" in simcore.api.__all__ and "calibrate_markets" in simcore.__all__


def test_api_gives_the_command_lines_figures_and_fragment(tmp_path):
    a, b = bars(tmp_path, "a", seed=1), bars(tmp_path, "b", seed=2)
    frag_cli, frag_api = tmp_path / "cli.yaml", tmp_path / "api.yaml"
    r = invoke("calibrate", f"IDX={a}", f"OIL={b}", "--window", "w1=2020-03-02:2020-04-30",
               "--recent", 40, "--json", "-o", frag_cli)
    assert r.exit_code == 0, r.output
    seen = []
    res = simcore.calibrate_markets({"IDX": a, "OIL": str(b)},
                                    windows={"w1": ("2020-03-02", "2020-04-30")},
                                    recent=40, output=frag_api, warn=seen.append)
    assert isinstance(res, simcore.CalibrateResult)
    cli = json.loads(r.stdout)
    assert res.to_dict() == {**cli, "fragment": str(frag_api)}
    assert res.markets["IDX"].vol == cli["markets"]["IDX"]["vol"]
    assert res.correlation.periods.recent.days == 40
    assert seen == res.warnings == []

    def body(p):            # the header names the command that wrote it
        return [x for x in p.read_text().splitlines() if not x.startswith("# Command:")]
    assert body(frag_api) == body(frag_cli)
    cmd = next(x for x in frag_cli.read_text().splitlines() if x.startswith("# Command:"))
    assert cmd == (f"# Command: simrisk calibrate IDX={a} OIL={b} --recent 40 --window "
                   f"w1=2020-03-02:2020-04-30 --json --output {frag_cli}")
    assert "simcore.calibrate_markets(...) from Python" in frag_api.read_text()
    # the views
    frame = res.to_frame()
    assert list(frame.index) == ["IDX", "OIL"] and frame.loc["OIL", "vol"] == res.markets["OIL"].vol
    assert {"atr_last", "atr_fraction_mean", "gap_frequency", "student_t_nu"} <= set(frame)
    c = res.corr("w1")
    assert c.loc["IDX", "OIL"] == pytest.approx(res.correlation.windows.w1["IDX/OIL"]
                                                if "IDX/OIL" in res.correlation.windows.w1
                                                else c.loc["OIL", "IDX"])
    with pytest.raises(KeyError, match="no period 'gfc'"):
        res.corr("gfc")
    assert res.table() == invoke("calibrate", f"IDX={a}", f"OIL={b}", "--window",
                                 "w1=2020-03-02:2020-04-30", "--recent", 40).stdout
    assert res.dates_used() == "dates used: 2020-01-01 to 2021-02-23 (300 shared dates)"
    # never overwrites without force; force replaces it
    with pytest.raises(ScenarioError, match=r"^output: .* exists \(use --force"):
        simcore.calibrate_markets([f"IDX={a}"], output=frag_api)
    simcore.calibrate_markets([f"IDX={a}"], output=frag_api, force=True)
    assert "IDX:" in frag_api.read_text() and "OIL:" not in frag_api.read_text()


def test_default_recent_is_clipped_with_a_warning_a_given_one_is_an_error(tmp_path):
    p = bars(tmp_path, "short", n=40)
    seen = []
    res = simcore.calibrate_markets(p, warn=seen.append)
    assert seen == res.warnings == ["recent: 39 daily returns in all, fewer than 63; the "
                                    "recent correlation is the whole sample's"]
    assert res.correlation.periods.recent.days == 39
    r = invoke("calibrate", p, "--json")
    assert r.exit_code == 0 and "warning: --recent: 39 daily returns in all" in r.stderr
    with pytest.raises(ScenarioError) as e:
        simcore.calibrate_markets(p, recent=63)
    assert e.value.field == "recent"
    assert str(e.value) == "recent: 63 days asked for, but the shared dates give 39 daily returns"


def _cli_error(args):
    r = invoke("calibrate", *args)
    assert r.exit_code == 2, (args, r.output)
    assert r.stdout == "" and "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: ")
    return line[len("Error: "):]


def test_bad_inputs_raise_from_the_api_with_the_command_lines_messages(tmp_path):
    good = bars(tmp_path, "good", n=60)
    later = bars(tmp_path, "later", n=60, start="2021-06-01")
    short = bars(tmp_path, "short", n=10)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    # (command line arguments, the same call from Python, the argument the error names)
    cases = [
        ([tmp_path / "nope.csv"], dict(files=tmp_path / "nope.csv"), None),
        ([empty], dict(files=[empty]), None),
        ([short], dict(files=[short]), None),
        ([f"A={good}", f"A={good}"], dict(files=[f"A={good}", f"A={good}"]), ""),
        ([f"a/b={good}"], dict(files={"a/b": good}), ""),
        ([tmp_path / "x.y.z-@.csv"], dict(files=[tmp_path / "x.y.z-@.csv"]), ""),
        ([good, "--window", "x=2020-01-01"], dict(files=good, windows="x=2020-01-01"),
         "windows x=2020-01-01"),
        ([good, "--window", "x=2020-03-01:2020-01-01"],
         dict(files=good, windows={"x": ("2020-03-01", "2020-01-01")}),
         "windows x=2020-03-01:2020-01-01"),
        ([good, "--window", "x=2020-01-01:2020-13-01"],
         dict(files=good, windows=["x=2020-01-01:2020-13-01"]),
         "windows x=2020-01-01:2020-13-01"),
        ([good, "--window", "whole=2020-01-01:2020-02-01"],
         dict(files=good, windows={"whole": ("2020-01-01", "2020-02-01")}),
         "windows whole=2020-01-01:2020-02-01"),
        ([good, "--window", "x=2020-01-01:2020-02-01", "--window", "x=2020-01-01:2020-03-01"],
         dict(files=good, windows=["x=2020-01-01:2020-02-01", "x=2020-01-01:2020-03-01"]),
         "windows x=2020-01-01:2020-03-01"),
        ([good, "--window", "x=2021-01-01:2021-02-01"],
         dict(files=good, windows={"x": ("2021-01-01", "2021-02-01")}), "windows x"),
        ([good, "--recent", 500], dict(files=good, recent=500), "recent"),
        ([good, later], dict(files=[good, later]), ""),
        ([good, "-o", tmp_path / "f.txt"], dict(files=good, output=tmp_path / "f.txt"),
         "output"),
        ([good, "-o", tmp_path / "no" / "f.yaml"],
         dict(files=good, output=tmp_path / "no" / "f.yaml"), "output"),
    ]
    for args, kwargs, field in cases:
        cli = _cli_error(args)
        files = kwargs.pop("files")
        with pytest.raises(ScenarioError) as e:
            simcore.calibrate_markets(files, **kwargs)
        err = e.value
        if field is not None:
            assert err.field == field, (args, err.field)
        # the command line's message, its option named as the Python argument
        for opt, arg in (("--window", "windows"), ("--recent", "recent"), ("-o", "output")):
            if cli.startswith(opt + " ") or cli.startswith(opt + ":"):
                cli = arg + cli[len(opt):]
        assert str(err) == cli, (args, str(err), cli)


def test_python_only_argument_checks(tmp_path):
    good = bars(tmp_path, "good", n=60)
    for kwargs, message in [
        (dict(gap=0), "gap: 0 is out of range ((0, 1])"),
        (dict(gap=1.5), "gap: 1.5 is out of range ((0, 1])"),
        (dict(recent=2), "recent: must be >= 3, got 2"),
        (dict(recent=10.5), "recent: must be a whole number, got 10.5"),
        (dict(max_bad_rows=-1), "max_bad_rows: must be >= 0, got -1"),
    ]:
        with pytest.raises(ScenarioError) as e:
            simcore.calibrate_markets(good, **kwargs)
        assert str(e.value) == message
    with pytest.raises(ScenarioError, match="^files: give at least one CSV"):
        simcore.calibrate_markets([])


def test_missing_pandas_is_the_command_lines_error(tmp_path, monkeypatch):
    good = bars(tmp_path, "good", n=60)
    monkeypatch.setitem(sys.modules, "pandas", None)          # as if it were not installed
    with pytest.raises(ScenarioError) as e:
        simcore.calibrate_markets(good)
    assert str(e.value) == ("calibrate needs pandas (install the calibrate extra: pip install "
                            "'.[calibrate]' in the source tree)")
    assert _cli_error([good]) == str(e.value)
