"""The Python API (simcore.api, docs/python.md): same numbers as the command line, same
errors from a dict as from a plan file, one import package in the wheel, the doc's code runs."""
import copy
import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import simcore
from simcore import ScenarioError, api
from simcore.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "scenarios" / "aggressive_3k.yaml"       # ruin of a few % over its horizon
EXAMPLE = ROOT / "scenarios" / "5k_four_asset.yaml"


def cli_json(*args):
    r = CliRunner().invoke(main, [str(a) for a in args] + ["--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def cli_error(*args):
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    return r.stderr.strip().splitlines()[-1]


# ---- API and CLI: the same numbers ---------------------------------------------------------
def test_run_matches_cli():
    res = simcore.run(simcore.load(PLAN), paths=400, seed=5, jobs=2)
    assert res.to_dict() == cli_json("run", PLAN, "--paths", 400, "--seed", 5)
    assert 0 < res.ruin.probability < 1                 # a run where ruin is not trivial
    assert res.ruin.probability == res.to_dict()["ruin"]["probability"]
    assert res.paths == 400 and res.seed == 5
    # the plan's defaults, a horizon override, and a path given directly
    short = simcore.run(str(PLAN), paths=300, horizon=80)
    assert short.to_dict() == cli_json("run", PLAN, "--paths", 300, "--horizon", 80)
    assert short.horizon_days == 80 and short.seed == simcore.load(PLAN).seed


def test_run_result_views():
    res = simcore.run(PLAN, paths=300, seed=2)
    d = res.to_dict()
    assert res.tiers[1].probability_reached == d["tiers"][1]["probability_reached"]
    assert res.markets["CRUDE"].trades == d["markets"]["CRUDE"]["trades"]
    assert res.final_equity.median == d["final_equity"]["median"]
    assert res.margin_calls.per_year == d["margin_calls"]["per_year"]
    with pytest.raises(AttributeError, match="no figure"):
        res.ruin.nope
    with pytest.raises(AttributeError):
        res.ruin.probability = 0.0
    df = res.to_frame()
    assert len(df) == 300 and df.index.name == "path"
    assert df["ruined"].mean() == pytest.approx(d["ruin"]["probability"])
    assert df["trades"].sum() == d["trades"]
    assert df["final_equity"].median() == pytest.approx(d["final_equity"]["median"])
    reached = df["tier1_day"].notna()
    assert reached.mean() == pytest.approx(d["tiers"][1]["probability_reached"])
    assert (df.loc[~df["ruined"], "ruin_day"].isna()).all()
    text = repr(res)
    assert text.startswith(d["name"]) and "P(ruin)" in text
    page = res._repr_html_()
    assert page.startswith("<pre>") and page.endswith("</pre>") and "P(ruin)" in page
    assert res.equity is None
    eq = simcore.run(PLAN, paths=50, seed=2, horizon=30, record_equity=True).equity
    assert eq.shape == (50, 31) and (eq[:, 0] == simcore.load(PLAN).capital).all()


def test_stress_matches_cli():
    res = simcore.stress_test(PLAN, spike=[0.5, 1], adverse=True, vol_mult=2, paths=300,
                              seed=4, horizon=150)
    assert res.to_dict() == cli_json("stress", PLAN, "--spike", "0.5,1", "--adverse",
                                     "--vol-mult", "2", "--paths", 300, "--seed", 4,
                                     "--horizon", 150)
    assert simcore.stress_test is api.stress
    df = res.to_frame()
    assert list(df.index) == [r["name"] for r in res.to_dict()["rows"]]
    assert df.loc["base", "ruin_probability_diff"] is None or \
        df["ruin_probability_diff"].isna()["base"]
    vs = res.rows[-1].vs_base.ruin_probability
    assert df.iloc[-1]["ruin_probability_diff"] == vs.diff
    assert df.iloc[-1]["ruin_probability_diff_lo"] == vs.ci95[0]
    assert "base" in repr(res)
    # the default sweep, with a window
    res = simcore.stress_test(PLAN, paths=200, seed=1, horizon=100, window=(10, 60))
    assert res.to_dict() == cli_json("stress", PLAN, "--paths", 200, "--seed", 1,
                                     "--horizon", 100, "--window", "10:60")


def test_size_matches_cli(tmp_path):
    res = simcore.size(PLAN, max_ruin=0.05, reach="6000:0.1", paths=300, seed=3)
    assert res.to_dict() == cli_json("size", PLAN, "--max-ruin", "0.05", "--reach",
                                     "6000:0.1", "--paths", 300, "--seed", 3)
    df = res.to_frame()
    curve = res.to_dict()["curve"]
    assert list(df.index) == [c["capital"] for c in curve]
    assert list(df["ruin"]) == [c["ruin"]["probability"] for c in curve]
    assert list(df["ruin_hi"]) == [c["ruin"]["ci95"][1] for c in curve]
    assert res.answer.status == res.to_dict()["answer"]["status"]
    # reach as tuples, the same search
    res2 = simcore.size(PLAN, max_ruin=0.05, reach=[(6000, 0.1, None)], paths=300, seed=3)
    assert res2.to_dict() == res.to_dict()
    res.plot(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_progress_and_jobs_do_not_change_results():
    seen = []
    a = simcore.run(PLAN, paths=2100, seed=9, horizon=40, jobs=1, progress=seen.append)
    b = simcore.run(PLAN, paths=2100, seed=9, horizon=40, jobs=2)
    assert a.to_dict() == b.to_dict()
    assert sum(seen) == 2100 and len(seen) == 3


# ---- load: a dict is checked like a plan file -------------------------------------------------
def _base():
    from simcore.scenario import load_yaml
    return load_yaml(PLAN.read_text())


def _set(d, dotted, value):
    node = d
    *head, last = dotted.split(".")
    for k in head:
        node = node[int(k)] if isinstance(node, list) else node[k]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

BAD = [
    ("capital", "5000"),                             # a string, not a number
    ("capital", -10),
    ("captial", 5000),                               # unknown key, with a suggestion
    ("horizon_days", 2.5),
    ("markets.CRUDE.vol", 0),
    ("rules.risk_per_trade", 1.5),
    ("rules.risk_per_trde", 0.01),
    ("rules.margin_cap", "lots"),
    ("tiers", []),
    ("tiers.1.at", "six thousand"),
    ("strategies.CRUDE.stop", {"atr": 0.0000001}),   # compiled: under one tick
    ("correlation", {"SP500/CRUDE": 1.5}),
    ("strategies", _DELETE),
]


@pytest.mark.parametrize("field,value", BAD, ids=[f for f, _ in BAD])
def test_dict_rejected_like_the_plan_file(tmp_path, field, value):
    data = _base()
    _set(data, field, value)
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ScenarioError) as from_file:
        simcore.load(f)
    with pytest.raises(ScenarioError) as from_dict:
        simcore.load(data)
    assert str(from_dict.value) == str(from_file.value)
    assert from_dict.value.field == from_file.value.field
    assert re.split(r"[.\[]", from_dict.value.field)[0] == field.split(".")[0]
    assert cli_error("run", f) == f"Error: {from_file.value}"
    if value is not _DELETE and field != "captial":
        # the same change through replace() on a good plan
        for key in {field, re.sub(r"\.(\d+)", r"[\1]", field)}:    # tiers.1.at, tiers[1].at
            with pytest.raises(ScenarioError) as from_replace:
                simcore.load(PLAN).replace(**{key: value})
            assert str(from_replace.value) == str(from_file.value)


def test_load_and_replace():
    plan = simcore.load(PLAN)
    assert simcore.load(plan) is plan
    d = plan.to_dict()
    again = simcore.load(d)
    assert again.to_dict() == d and d == plan.to_dict()          # to_dict is a fresh copy
    p2 = plan.replace(capital=7500, **{"rules.risk_per_trade": 0.02, "tiers.1.at": 6500})
    assert p2.capital == 7500 and p2.scenario.rules.risk_per_trade == 0.02
    assert p2.scenario.tiers[1].at == 6500
    assert plan.capital == 3000 and plan.scenario.rules.risk_per_trade == 0.03  # unchanged
    assert "7,500" in repr(p2) and p2.warnings == [str(w) for w in p2.warnings]
    # a replaced plan runs like the same plan written to a file
    data = copy.deepcopy(d)
    data["rules"]["risk_per_trade"] = 0.02
    assert simcore.run(plan.replace(**{"rules.risk_per_trade": 0.02}), paths=200).to_dict() \
        == simcore.run(data, paths=200).to_dict()
    import numpy as np
    assert plan.replace(**{"rules.risk_per_trade": np.float64(0.02),
                           "horizon_days": np.int64(100)}).horizon_days == 100
    for key, match in [("tiers.9.at", r"^tiers\[9\]: no such item \(tiers has 4\)"),
                       ("tiers[9]", r"^tiers\[9\]: no such item \(tiers has 4\)"),
                       ("tiers.x.at", r"^tiers\.x: tiers is a list"),
                       ("[0].x", r"not a field name"), ("a]b", r"not a field name"),
                       ("capital.x", r"^capital: is a float, not a section"),
                       ("rules..x", r"not a field name")]:
        with pytest.raises(ScenarioError, match=match):
            plan.replace(**{key: 1})
    with pytest.raises(TypeError, match="plan file's path or a dict"):
        simcore.load(42)
    with pytest.raises(ScenarioError, match="no such file"):
        simcore.load(ROOT / "scenarios" / "nope.yaml")


def test_option_errors_name_the_argument():
    plan = simcore.load(PLAN)
    cases = [
        (lambda: simcore.run(plan, paths=0), "paths", "paths: must be >= 1, got 0"),
        (lambda: simcore.run(plan, seed=-1), "seed", None),
        (lambda: simcore.run(plan, paths=True), "paths", None),
        (lambda: simcore.run(plan, horizon=0), "horizon", None),
        (lambda: simcore.run(plan, backend="mpi"), "backend", None),
        (lambda: simcore.run(plan, scheduler="tcp://x:1"), "scheduler", None),
        (lambda: simcore.stress_test(plan, spike=1.5), "spike",
         "spike: 1.5 is out of range ([0, 1])"),
        (lambda: simcore.stress_test(plan, vol_mult=[0]), "vol_mult", None),
        (lambda: simcore.stress_test(plan, tails=2), "tails", None),
        (lambda: simcore.stress_test(plan, window=(5, 9999)), "window", None),
        (lambda: simcore.size(plan, max_ruin=2), "max_ruin", None),
        (lambda: simcore.size(plan, reach="5000:0.5"), "reach", None),
        (lambda: simcore.size(plan, tolerance=0), "tolerance", None),
        (lambda: simcore.size(plan, min_capital=9000, max_capital=8000), "min_capital", None),
    ]
    for call, field, message in cases:
        with pytest.raises(ScenarioError) as e:
            call()
        assert e.value.field == field, (field, str(e.value))
        if message:
            assert str(e.value) == message


def test_to_frame_without_pandas(monkeypatch):
    res = simcore.run(PLAN, paths=20, horizon=10)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"to_frame\(\) needs pandas"):
        res.to_frame()


# ---- one import package ---------------------------------------------------------------------
def test_cli_is_simcore_cli_in_the_source_tree():
    """From the repository (an editable install, pytest's working folder) the command line
    is simcore.cli, the sibling cli/ folder; the install maps no top-level `cli` (from the
    repository's root folder itself, cli/ is of course importable as a folder of the cwd).
    Skipped where the environment's install is another checkout's (a second clone sharing the
    first one's virtualenv): its editable finder then maps simcore.cli to that checkout's cli/."""
    for mod in list(sys.modules.values()):
        mapping = getattr(mod, "MAPPING", None)
        if (getattr(mod, "__name__", "").startswith("__editable__") and isinstance(mapping, dict)
                and "simcore" in mapping
                and Path(mapping["simcore"]).resolve() != (ROOT / "simcore").resolve()):
            pytest.skip(f"the environment's simrisk is installed from {mapping['simcore']}")
    code = ("import simcore.cli.main as m, simcore.cli as c, importlib.util as u; "
            "print(m.__name__, c.__path__[0], u.find_spec('cli') is None)")
    for cwd in (ROOT, ROOT / "tests"):
        out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                             text=True, check=True).stdout.split()
        assert out == ["simcore.cli.main", str(ROOT / "cli"), str(cwd != ROOT)]
    r = subprocess.run([sys.executable, "-m", "simcore.cli.main", "--version"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "simrisk" in r.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The project's wheel, built from a copy of its tracked files (the build writes no
    file into the working tree). About 20 s: the kernel is compiled."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if not (ROOT / f).is_file():
            continue
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        (src / f).write_bytes((ROOT / f).read_bytes())
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                        str(tmp / "dist"), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = (tmp / "dist").glob("simrisk-*.whl")
    return whl


def test_wheel_has_one_import_package(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = z.read(entry).decode()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"simcore"}
    for f in ("simcore/py.typed", "simcore/api.py", "simcore/cli/__init__.py",
              "simcore/cli/main.py", "simcore/cli/run.py"):
        assert f in names
    assert any(re.match(r"simcore/_kernel\..*\.so$", n) for n in names)
    assert "simrisk = simcore.cli.main:main" in entry_points


def test_wheel_in_a_fresh_venv(wheel, tmp_path):
    """Install the wheel alone into a new venv (its dependencies seen through a .pth to this
    environment's site-packages: no network) and use it from outside the source tree."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                        "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path("
                           "'purelib'))"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    code = ("import json, simcore, simcore.cli.main; "
            f"r = simcore.run({str(PLAN)!r}, paths=200, seed=1); "
            "print(json.dumps({'file': simcore.__file__, 'cli': simcore.cli.main.__file__, "
            "'res': r.to_dict()}))")
    r = subprocess.run([str(py), "-c", code], cwd=tmp_path, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert out["file"].startswith(site) and out["cli"].startswith(site)
    assert out["res"] == simcore.run(PLAN, paths=200, seed=1).to_dict()
    r = subprocess.run([str(venv / "bin" / "simrisk"), "run", str(PLAN), "--paths", "200",
                        "--seed", "1", "--json"], cwd=tmp_path, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout) == out["res"]


# ---- docs/python.md runs ----------------------------------------------------------------------
DOC = ROOT / "docs" / "python.md"
DOC_PATHS = "PATHS = 10_000"


def test_docs_python_md_runs(tmp_path):
    """Every ```python block of docs/python.md, in order, in one namespace, with fewer paths
    (the doc sets PATHS once) and from a folder where the doc's relative paths resolve."""
    text = DOC.read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 3
    code = "\n".join(blocks)
    assert code.count(DOC_PATHS) == 1, "the doc must set PATHS once (the test reduces it)"
    code = code.replace(DOC_PATHS, "PATHS = 1024")     # enough for a 95% bound under 1%
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    (tmp_path / "doc.py").write_text("import matplotlib\nmatplotlib.use('Agg')\n" + code)
    r = subprocess.run([sys.executable, "doc.py"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)


# ---- figures and the report from Python -------------------------------------------------------
def test_results_draw_the_report_figures_and_write_the_page(tmp_path):
    pytest.importorskip("matplotlib")   # the plot extra is optional for the package
    from simcore.runner import BLOCK_SIZE
    res = simcore.run(PLAN, paths=3 * BLOCK_SIZE, horizon=60, seed=4, equity_paths=256)
    figs = res.figures()
    assert list(figs) == ["fan", "tiers", "histograms", "markets"]
    assert res.output.equity.shape[0] == BLOCK_SIZE    # the fan's subsample's block, not all
    page = res.report(tmp_path / "run.html")
    text = Path(page).read_text()
    assert "What it says" in text and "data:image/png;base64," in text
    assert f"{res.ruin.probability:.2%}" in text       # the page's figures are the result's
    with pytest.raises(ScenarioError, match="--force"):
        res.report(tmp_path / "run.html")
    res.report(tmp_path / "run.html", force=True)
    st = simcore.stress_test(PLAN, spike=1.0, paths=256, horizon=60, seed=4)
    assert list(st.figures()) == ["stress"]
    assert "simrisk stress" in Path(st.report(tmp_path / "st.html")).read_text()
    import matplotlib.pyplot as plt
    plt.close("all")
