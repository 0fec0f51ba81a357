"""`simrisk size --plot`: a folder like run's and stress's (DIR/sizing.png), or one FILE.png as
before; the shared matplotlib check; never an existing file without --force."""
import json
import sys

import pytest

from test_report import STRESS_SMALL, invoke, png_size, write

pytest.importorskip("matplotlib")      # the plot extra (the test extra has it)

PATHS = ("--paths", 256, "--max-ruin", 0.2)


def test_plot_dir_gets_sizing_png_named_like_run_and_stress(tmp_path):
    f = write(tmp_path, STRESS_SMALL)
    figs = tmp_path / "figs"                                   # made if missing
    r = invoke("size", f, *PATHS, "--plot", figs, "--json")
    assert r.exit_code == 0, r.output
    js = json.loads(r.stdout)
    assert js["plot_files"] == [str(figs / "sizing.png")] and "plot" not in js
    assert [p.name for p in figs.iterdir()] == ["sizing.png"]
    assert png_size((figs / "sizing.png").read_bytes())[0] > 100
    # an existing figure is never overwritten without --force, before any work
    before = (figs / "sizing.png").read_bytes()
    r = invoke("size", f, *PATHS, "--plot", figs)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == (f"Error: --plot: {figs / 'sizing.png'} exists (use --force "
                                "to overwrite it)")
    assert (figs / "sizing.png").read_bytes() == before
    r = invoke("size", f, *PATHS, "--plot", figs, "--force")
    assert r.exit_code == 0, r.output
    assert f"figures: {figs / 'sizing.png'}" in r.stdout       # the table names what it wrote
    assert sorted(p.name for p in figs.iterdir()) == ["sizing.png"]   # no temporary left


def test_plot_file_png_works_as_before(tmp_path):
    f = write(tmp_path, STRESS_SMALL)
    dest = tmp_path / "curve.png"
    r = invoke("size", f, *PATHS, "--plot", dest, "--json")
    assert r.exit_code == 0, r.output
    js = json.loads(r.stdout)
    assert js["plot"] == str(dest) and "plot_files" not in js
    assert png_size(dest.read_bytes())[0] > 100
    r = invoke("size", f, *PATHS, "--plot", dest)
    assert r.exit_code == 2 and "exists (use --force" in r.stderr
    r = invoke("size", f, *PATHS, "--plot", dest, "--force")
    assert r.exit_code == 0 and f"plot: {dest}" in r.stdout


def test_existing_folder_with_a_dot_is_a_folder_and_other_extensions_are_refused(tmp_path):
    f = write(tmp_path, STRESS_SMALL)
    odd = tmp_path / "figs.png"
    odd.mkdir()
    r = invoke("size", f, *PATHS, "--plot", odd, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["plot_files"] == [str(odd / "sizing.png")]
    r = invoke("size", f, *PATHS, "--plot", tmp_path / "curve.pdf")
    assert r.exit_code == 2 and "--plot: the file name must end in .png" in r.stderr
    r = invoke("size", f, *PATHS, "--plot", tmp_path / "no" / "figs")
    assert r.exit_code == 2 and "--plot: folder" in r.stderr and "does not exist" in r.stderr


@pytest.mark.parametrize("dest", ["figs", "curve.png"])
def test_missing_matplotlib_is_the_shared_error(tmp_path, monkeypatch, dest):
    f = write(tmp_path, STRESS_SMALL)
    monkeypatch.setitem(sys.modules, "matplotlib", None)       # import fails
    r = invoke("size", f, "--plot", tmp_path / dest)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == ("Error: --plot: needs matplotlib (the plot extra: "
                                "pip install '.[plot]' in the source tree)")
    assert not (tmp_path / dest).exists()


def test_help_says_dir_or_file():
    r = invoke("size", "--help")
    assert "--plot DIR|FILE.png" in r.stdout and "DIR/sizing.png" in r.stdout
