"""simrisk's engine: scenario model, compiled kernel, parallel runner and statistics.

The public API is plain Python; the compiled kernel (``simcore._kernel``) is private.
Imports are lazy so that ``simrisk --help`` stays fast.
"""
from ._version import __version__

__all__ = ["__version__", "load_scenario", "build_plan", "simulate", "summarize", "run_scenario",
           "ScenarioError"]


def __getattr__(name):
    if name in ("load_scenario",):
        from .scenario import load_scenario
        return load_scenario
    if name == "ScenarioError":
        from .errors import ScenarioError
        return ScenarioError
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
