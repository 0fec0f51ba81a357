"""simrisk's engine: scenario model, compiled kernel, parallel runner and statistics.

The public API is plain Python (:mod:`simcore.api`, documented in docs/python.md)::

    import simcore
    plan = simcore.load("scenarios/5k_four_asset.yaml")
    res = simcore.run(plan.replace(**{"rules.risk_per_trade": 0.02}), paths=2000)
    res.ruin.probability, res.to_dict(), res.to_frame()

The compiled kernel (``simcore._kernel``) is private; the command line is ``simcore.cli``.
Imports are lazy so that ``simrisk --help`` stays fast.
"""
import os as _os

from ._version import __version__

# ``simcore.stress`` is the stress module, so the API's stress function is exported as
# ``stress_test`` here (``simcore.api.stress`` is the same function); likewise
# ``simcore.calibrate`` is the calibration module and ``calibrate_markets`` the API's function.
__all__ = ["__version__", "load", "run", "stress_test", "size", "compare_models",
           "calibrate_markets", "PlanSpec", "RunResult", "StressResult", "SizeResult",
           "CalibrateResult", "ScenarioError", "SimulationError",
           "load_scenario", "build_plan", "simulate", "summarize", "run_scenario"]

_API = ("load", "run", "size", "compare_models", "PlanSpec", "RunResult", "StressResult",
        "SizeResult", "CalibrateResult")


def _source_tree_cli():
    """In a source tree (an editable install, or ``python -m pytest`` from the repository) the
    command line lives in the sibling folder ``cli/``, which an installed wheel puts at
    ``simcore/cli/`` (pyproject.toml's ``package-dir``). Make ``import simcore.cli`` find it
    there too, by adding that one folder, under that one name, to the import system."""
    here = _os.path.dirname(_os.path.abspath(__file__))
    if _os.path.isdir(_os.path.join(here, "cli")):
        return                                         # an installed wheel: nothing to do
    sibling = _os.path.join(_os.path.dirname(here), "cli")
    if not (_os.path.isfile(_os.path.join(sibling, "__init__.py"))
            and _os.path.isfile(_os.path.join(_os.path.dirname(here), "pyproject.toml"))):
        return
    import importlib.abc
    import importlib.util
    import sys

    class _CliFinder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname != __name__ + ".cli":
                return None
            return importlib.util.spec_from_file_location(
                fullname, _os.path.join(sibling, "__init__.py"),
                submodule_search_locations=[sibling])

    if not any(type(f).__name__ == "_CliFinder" and getattr(f, "folder", None) == sibling
               for f in sys.meta_path):
        finder = _CliFinder()
        finder.folder = sibling
        # first: an editable install of another checkout (a git worktree sharing its venv)
        # maps simcore.cli to *its* cli/; this simcore's command line is the sibling folder
        sys.meta_path.insert(0, finder)


_source_tree_cli()


def __getattr__(name):
    if name in _API:
        from . import api
        return getattr(api, name)
    if name == "stress_test":
        from .api import stress
        return stress
    if name == "calibrate_markets":        # ``simcore.calibrate`` is the engine's module
        from .api import calibrate
        return calibrate
    if name in ("load_scenario",):
        from .scenario import load_scenario
        return load_scenario
    if name == "ScenarioError":
        from .errors import ScenarioError
        return ScenarioError
    if name == "SimulationError":
        from .errors import SimulationError
        return SimulationError
    if name == "build_plan":
        from .build import build_plan
        return build_plan
    if name in ("simulate", "run_scenario"):
        from . import runner
        return getattr(runner, name)
    if name == "summarize":
        from .metrics import summarize
        return summarize
    raise AttributeError(name)
