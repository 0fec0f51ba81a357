"""The plan key ``include:`` (a fragment under the plan's own keys) and simcore._files."""
import os
import pathlib

import pytest
import yaml

from simcore._files import OutputConflict, atomic_path, check_destination, output_set
from simcore.errors import ScenarioError
from simcore.scenario import load_scenario, parse_scenario

FRAGMENT = {
    "markets": {"SP500": {"price": 2500.0, "vol": 0.19}, "CRUDE": {"price": 45.0, "vol": 0.39}},
    "correlation": {"SP500/CRUDE": 0.19},
    "tails": {"student_t": 4.5},
    "regimes": {"start": "calm", "states": {
        "calm": {"expected_days": 90, "vol_mult": 0.77, "correlation": {"SP500/CRUDE": 0.14}},
        "stressed": {"expected_days": 20, "vol_mult": 1.67,
                     "correlation": {"SP500/CRUDE": 0.25}}}},
    "stress": [{"name": "gfc", "spike": 0.27}],
}

PLAN = {
    "include": "frag.yaml",
    "name": "with fragment",
    "capital": 10000,
    "horizon_days": 20,
    "strategies": {"SP500": {"direction": "long", "stop": {"atr": 1.0}, "target": {"r": 2.0},
                             "alpha": 0.0}},
    "rules": {"risk_per_trade": 0.05},
    "tiers": [{"contracts": {"MES": 1}}],
}


def files(tmp_path, plan=None, fragment=None, frag_name="frag.yaml"):
    (tmp_path / frag_name).write_text(yaml.safe_dump(FRAGMENT if fragment is None else fragment,
                                                     sort_keys=False))
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(PLAN if plan is None else plan, sort_keys=False))
    return p


def test_fragment_keys_come_in(tmp_path):
    s = load_scenario(files(tmp_path))
    assert list(s.markets) == ["SP500", "CRUDE"]
    assert s.markets["CRUDE"].vol == 0.39
    assert s.correlation_matrix[0, 1] == 0.19
    assert s.tails.student_t == 4.5
    assert s.regime_names == ("calm", "stressed")
    assert [r.name for r in s.stress] == ["gfc"]


def test_plan_keys_override_the_fragment(tmp_path):
    plan = dict(PLAN, markets={"SP500": {"price": 6000.0}, "GOLD": {"price": 2600, "vol": 0.16}},
                tails=None, stress=[{"name": "mine", "vol_mult": 2.0}],
                regimes={"states": {"stressed": {"vol_mult": 2.5}}})
    s = load_scenario(files(tmp_path, plan))
    assert s.markets["SP500"].price == 6000.0 and s.markets["SP500"].vol == 0.19   # merged
    assert list(s.markets) == ["SP500", "CRUDE", "GOLD"]       # fragment order, then new
    assert s.tails is None                                     # null removes it
    assert [r.name for r in s.stress] == ["mine"]              # lists replace
    assert s.regimes.states["stressed"].vol_mult == 2.5
    assert s.regimes.states["stressed"].expected_days == 20


def test_matrix_correlation_replaces_pairs(tmp_path):
    plan = dict(PLAN, correlation={"order": ["CRUDE", "SP500"],
                                   "matrix": [[1.0, 0.5], [0.5, 1.0]]})
    s = load_scenario(files(tmp_path, plan))
    assert s.correlation_matrix[0, 1] == 0.5


def test_include_is_relative_to_the_plan_folder(tmp_path, monkeypatch):
    sub = tmp_path / "plans"
    sub.mkdir()
    (sub / "fragments").mkdir()
    p = files(sub, dict(PLAN, include="fragments/f.yaml"), frag_name="fragments/f.yaml")
    monkeypatch.chdir(tmp_path)
    assert load_scenario(os.path.relpath(p, tmp_path)).markets["CRUDE"].vol == 0.39


def test_parse_scenario_dict_resolves_from_the_working_folder(tmp_path, monkeypatch):
    files(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert parse_scenario(dict(PLAN)).tails.student_t == 4.5


@pytest.mark.parametrize("change, field, text", [
    (lambda f, p: f["markets"]["CRUDE"].update(vol=3.0), "markets.CRUDE.vol",
     "must be <= 2"),
    (lambda f, p: f["regimes"]["states"]["calm"].update(expected_days=0.5),
     "regimes.states.calm.expected_days", "must be >= 1"),
    (lambda f, p: f.update(stres=[]), "stres", "unknown key (did you mean stress?)"),
])
def test_errors_in_fragment_values_name_the_fragment(tmp_path, change, field, text):
    frag = yaml.safe_load(yaml.safe_dump(FRAGMENT))
    plan = dict(PLAN)
    change(frag, plan)
    with pytest.raises(ScenarioError) as e:
        load_scenario(files(tmp_path, plan, frag))
    assert e.value.field == field
    assert text in e.value.problem and e.value.problem.endswith("(from include frag.yaml)")


def test_errors_in_plan_values_do_not_blame_the_fragment(tmp_path):
    plan = dict(PLAN, markets={"SP500": {"vol": -1}})
    with pytest.raises(ScenarioError) as e:
        load_scenario(files(tmp_path, plan))
    assert str(e.value) == "markets.SP500.vol: must be > 0 (annual, as a fraction: 0.18 means 18%)"


@pytest.mark.parametrize("frag_text, include, text", [
    (None, "missing.yaml", "include: missing.yaml: no such file"),
    ("", "frag.yaml", "include: frag.yaml: is empty"),
    ("- 1\n- 2\n", "frag.yaml", "must be a mapping of plan keys, not a list"),
    ("include: other.yaml\n", "frag.yaml", "cannot include another"),
    ("markets: {a: 1\n", "frag.yaml", "invalid YAML"),
    ("tails: {student_t: 3}\ntails: {student_t: 4}\n", "frag.yaml", "duplicate key"),
    (None, 5, "include: must be the path of a plan fragment"),
])
def test_bad_includes(tmp_path, frag_text, include, text):
    if frag_text is not None:
        (tmp_path / "frag.yaml").write_text(frag_text)
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(dict(PLAN, include=include)))
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    assert text in str(e.value)


def test_cli_reports_a_bad_fragment_with_exit_2(tmp_path):
    from click.testing import CliRunner

    from simcore.cli.main import main
    frag = yaml.safe_load(yaml.safe_dump(FRAGMENT))
    frag["correlation"]["SP500/CRUDE"] = 1.5
    r = CliRunner().invoke(main, ["run", str(files(tmp_path, None, frag))])
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert err.startswith("Error: correlation.SP500/CRUDE: must be <= 1")
    assert err.endswith("(from include frag.yaml)") and "\n" not in err


# ------------------------------------------------------------------------------------------
# simcore._files
# ------------------------------------------------------------------------------------------
def test_check_destination(tmp_path):
    ok = check_destination(tmp_path / "a.YAML", force=False, suffixes=(".yaml", ".yml"),
                           option="-o")
    assert ok == tmp_path / "a.YAML"
    (tmp_path / "a.yaml").write_text("x")
    cases = [
        (tmp_path / "a.yaml", False, "exists (use --force"),
        (tmp_path / "a.txt", False, "must end in .yaml or .yml"),
        (tmp_path / "no" / "a.yaml", False, "does not exist"),
        (tmp_path, True, "is a directory"),
    ]
    for path, force, text in cases:
        with pytest.raises(ScenarioError) as e:
            check_destination(path, force=force, suffixes=(".yaml", ".yml"), option="-o")
        assert e.value.field == "-o" and text in e.value.problem
    assert check_destination(tmp_path / "a.yaml", force=True, suffixes=(".yaml",),
                             option="-o") == tmp_path / "a.yaml"


def test_atomic_path_replaces_on_success_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "out.yaml"
    target.write_text("old")
    check_destination(target, force=True, suffixes=(".yaml",), option="-o")   # may replace
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".yaml" and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"          # not in place until the block ends
    assert target.read_text() == "new"
    for exc in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(exc):
            with atomic_path(target) as tmp:
                tmp.write_text("half")
                raise exc()
        assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml"]
    mask = os.umask(0)
    os.umask(mask)
    assert (target.stat().st_mode & 0o777) == 0o666 & ~mask


def test_a_file_that_appears_during_the_work_is_not_overwritten(tmp_path):
    """Checked free (no --force), then created by someone else while the work ran: it is left
    as it is, and the finished output is kept beside it as NAME.new.EXT (then .new-2 ...)."""
    dest = check_destination(tmp_path / "out.csv", force=False, suffixes=(".csv",),
                             option="--csv")
    dest.write_text("theirs")
    for k, alt in ((1, "out.new.csv"), (2, "out.new-2.csv")):
        with pytest.raises(OutputConflict) as e:
            with atomic_path(dest) as tmp:
                tmp.write_text(f"ours {k}")
        assert dest.read_text() == "theirs"
        assert (tmp_path / alt).read_text() == f"ours {k}"
        assert str(dest) in str(e.value) and alt in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "out.new-2.csv",
                                                          "out.new.csv"]
    # with --force the same destination is replaced; checked again without it, it is not
    check_destination(dest, force=True, suffixes=(".csv",), option="--csv")
    with atomic_path(dest) as tmp:
        tmp.write_text("ours, forced")
    assert dest.read_text() == "ours, forced"
    with pytest.raises(ScenarioError):
        check_destination(dest, force=False, suffixes=(".csv",), option="--csv")
    with pytest.raises(OutputConflict):
        with atomic_path(dest) as tmp:
            tmp.write_text("not forced")
    assert dest.read_text() == "ours, forced"


def test_output_set_moves_its_files_into_place_together_or_not_at_all(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.html"
    for exc in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(exc):
            with output_set():
                with atomic_path(a) as tmp:
                    tmp.write_text("a")
                assert not a.exists()               # written, not yet in place
                with atomic_path(b) as tmp:
                    tmp.write_text("half")
                    raise exc()
        assert list(tmp_path.iterdir()) == []       # neither file, no temporary left
    with pytest.raises(RuntimeError):
        with output_set():
            with atomic_path(a) as tmp:
                tmp.write_text("a")
            raise RuntimeError("after the last file, before the set ended")
    assert list(tmp_path.iterdir()) == []
    with output_set():
        with atomic_path(a) as tmp:
            tmp.write_text("a")
        with atomic_path(b) as tmp:
            tmp.write_text("b")
    assert a.read_text() == "a" and b.read_text() == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.html"]


def test_run_leaves_no_output_when_a_later_one_fails(tmp_path, monkeypatch):
    """simrisk run --csv F --save-equity G: if saving G fails, F is not left behind either."""
    from click.testing import CliRunner
    import numpy as np
    from simcore.cli.main import main as cli
    scen = pathlib.Path(__file__).resolve().parents[1] / "scenarios" / "5k_four_asset.yaml"

    def broken_save(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "save", broken_save)
    r = CliRunner().invoke(cli, ["run", str(scen), "--paths", "64", "--horizon", "20",
                                 "--csv", str(tmp_path / "paths.csv"),
                                 "--save-equity", str(tmp_path / "eq.npy")])
    assert r.exit_code == 1 and "No space left" in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_inputs_are_never_outputs_even_with_force(tmp_path):
    """simrisk never writes over what it reads: the plan named as --csv is refused before any
    work (exit 2); an include read during loading is left as it is when the run ends (exit 1,
    this run's file kept beside it), each with --force."""
    from click.testing import CliRunner

    from simcore.cli.main import main
    plan = files(tmp_path)
    as_csv = tmp_path / "plan.csv"
    as_csv.write_text(plan.read_text())
    before = as_csv.read_text()
    r = CliRunner().invoke(main, ["run", str(as_csv), "--paths", "16", "--csv", str(as_csv),
                                  "--force"])
    assert r.exit_code == 2 and "--csv:" in r.stderr and "never writes over" in r.stderr
    assert as_csv.read_text() == before

    frag = tmp_path / "frag.yaml"
    frag_text = frag.read_text()
    import simcore._files as f
    f.note_input(tmp_path / "frag.csv")     # as an include or history file read mid-command
    with pytest.raises(ScenarioError, match="never writes over"):
        check_destination(tmp_path / "frag.csv", force=True, suffixes=(".csv",), option="--csv")
    (tmp_path / "frag.csv").write_text("mine")
    with pytest.raises(OutputConflict, match="a file this command read"):
        with atomic_path(tmp_path / "frag.csv") as tmp:
            tmp.write_text("ours")
    assert (tmp_path / "frag.csv").read_text() == "mine"
    assert (tmp_path / "frag.new.csv").read_text() == "ours"
    assert frag.read_text() == frag_text
