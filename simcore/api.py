"""simrisk from Python: load a plan, vary it, run it, stress it, size its capital.

A notebook's entry points (docs/python.md has a worked example)::

    import simcore
    plan = simcore.load("scenarios/5k_four_asset.yaml")        # or a dict
    res = simcore.run(plan.replace(**{"rules.risk_per_trade": 0.02}), paths=2000, seed=1)
    res.ruin.probability           # the SPEC 10 figures, as attributes
    res.to_dict()                  # exactly what `simrisk run --json` prints
    res.to_frame()                 # one row per path (pandas)
    simcore.stress_test(plan, spike=[0.5, 1], adverse=True).to_frame()
    simcore.size(plan, max_ruin=0.01).answer.capital
    simcore.calibrate_markets(["SP500=sp500.csv", "CRUDE=wti.csv"]).to_frame()

Everything here is a thin layer over the engine (:mod:`simcore.scenario`, :mod:`simcore.build`,
:mod:`simcore.runner`, :mod:`simcore.metrics`, :mod:`simcore.stress`, :mod:`simcore.sizing`);
the command line (``simcore.cli``) calls these same functions. Bad input raises
:class:`simcore.ScenarioError`, whose ``field`` is the dotted key (``rules.risk_per_trade``) or
the argument (``paths``) at fault.

``simcore.stress`` is the stress *module*; the function :func:`stress` is exported from the
package as ``simcore.stress_test``.
"""
from __future__ import annotations

import copy
import functools
import html
import os
import re
from typing import (TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional, Sequence,
                    TypeVar, Union)

from ._json import finite_json
from ._plan import HIST_OFF, HIST_REPLAY
from ._version import __version__
from .errors import ScenarioError

if TYPE_CHECKING:                               # pragma: no cover
    import numpy as np
    import pandas as pd

    from ._plan import BlockOutput, Plan
    from .scenario import Scenario
    from .stress import Stress

__all__ = ["load", "run", "stress", "size", "compare_models", "calibrate", "PlanSpec", "RunResult",
           "StressResult", "SizeResult", "CalibrateResult", "Figures", "ScenarioError"]

#: what :func:`load` (and every function taking a ``plan``) accepts
PlanSource = Union[str, "os.PathLike[str]", Mapping[str, Any], "PlanSpec"]
Progress = Optional[Callable[[int], None]]
_F = TypeVar("_F", bound=Callable[..., Any])


# ---------------------------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------------------------
class PlanSpec:
    """A validated plan: the plan file's content (:attr:`scenario`) and its compiled form
    (:attr:`compiled`, what the kernel runs). Immutable; :meth:`replace` returns a new one.

    Build it with :func:`load`. Its fields read like the plan file's: ``plan.capital``,
    ``plan.horizon_days``, ``plan.paths``, ``plan.seed``, ``plan.scenario.rules.risk_per_trade``.
    """

    __slots__ = ("_scenario", "_compiled")

    def __init__(self, scenario: "Scenario", *, compile: bool = True) -> None:
        self._scenario = scenario
        self._compiled: Optional["Plan"] = None
        if compile:
            self.compiled        # noqa: B018 - compile now: a bad plan fails at load

    # --- what it is -----------------------------------------------------------------------
    @property
    def scenario(self) -> "Scenario":
        """The validated plan file (:class:`simcore.scenario.Scenario`, read-only)."""
        return self._scenario

    @property
    def compiled(self) -> "Plan":
        """The compiled plan (:class:`simcore._plan.Plan`): arrays the kernel runs."""
        if self._compiled is None:
            from .build import build_plan
            self._compiled = build_plan(self._scenario)
        return self._compiled

    @property
    def name(self) -> str:
        return str(self._scenario.name)

    @property
    def source(self) -> str:
        """The plan file it was read from, or ``<dict>``."""
        return self._scenario.source

    @property
    def capital(self) -> float:
        return float(self._scenario.capital)

    @property
    def horizon_days(self) -> int:
        return int(self._scenario.horizon_days)

    @property
    def paths(self) -> int:
        """The plan's default number of paths (``run(..., paths=N)`` overrides it)."""
        return int(self._scenario.paths)

    @property
    def seed(self) -> int:
        """The plan's default seed (``run(..., seed=S)`` overrides it)."""
        return int(self._scenario.seed)

    @property
    def markets(self) -> tuple[str, ...]:
        return tuple(self._scenario.market_names)

    @property
    def warnings(self) -> list[str]:
        """The plan's plausibility warnings (what ``simrisk`` prints as ``warning:`` lines)."""
        return [str(w) for w in self.compiled.extras.get("warnings", ())]

    def to_dict(self) -> dict[str, Any]:
        """The plan as a dict of the plan file's keys (an ``include:`` already merged in):
        ``load(plan.to_dict())`` gives the same plan."""
        return copy.deepcopy(self._scenario.model_dump(mode="python", exclude_unset=True,
                                                       by_alias=True, warnings=False))

    # --- variations -----------------------------------------------------------------------
    def replace(self, **changes: Any) -> "PlanSpec":
        """A copy with some keys changed, validated and compiled again like a loaded plan.

        Keys are top-level fields (``capital=7500``) or dotted paths into the plan, given with
        ``**``: ``plan.replace(**{"rules.risk_per_trade": 0.02, "markets.CRUDE.vol": 0.4,
        "tiers[1].at": 8000})`` (a list item by its index, ``tiers[1]`` or ``tiers.1``: the
        ``field`` of an error names it the first way). Raises
        :class:`ScenarioError` naming the dotted field, as a plan file with that value would.
        """
        return PlanSpec(self._replaced(changes))

    def _replaced(self, changes: Mapping[str, Any]) -> "Scenario":
        from .scenario import parse_scenario

        data = self.to_dict()
        for key, value in changes.items():
            _set_dotted(data, key, _plain(value))
        return parse_scenario(data, source=self.source)

    def __repr__(self) -> str:
        s = self._scenario
        return (f"<PlanSpec {self.name!r}: capital ${self.capital:,.0f}, "
                f"{self.horizon_days:,} days x {s.steps_per_day} step"
                f"{'s' if s.steps_per_day != 1 else ''}, markets {', '.join(self.markets)}, "
                f"risk {s.rules.risk_per_trade:g} per trade, {len(s.tiers)} tiers; "
                f"default {self.paths:,} paths, seed {self.seed}>")


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays as Python numbers and lists, tuples as lists (a notebook's
    ``np.linspace`` values are then taken like the plan file's numbers)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return _plain(value.tolist())
    return value


_PART = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


def _key_parts(key: Any) -> list[Union[str, int]]:
    """``"tiers[1].at"`` or ``"tiers.1.at"`` -> ``["tiers", 1, "at"]``."""
    text = key if isinstance(key, str) else ""
    parts: list[Union[str, int]] = []
    pos = 0
    while text and pos < len(text):
        if parts and text[pos] == ".":
            pos += 1
        m = _PART.match(text, pos)
        if not m:
            parts = []
            break
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not parts or not isinstance(parts[0], str):
        raise ScenarioError(str(key), "not a field name (a key such as capital, or a dotted "
                                      "path such as rules.risk_per_trade or tiers[1].at)")
    return parts


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    from .scenario import _join

    parts = _key_parts(key)
    node: Any = data
    where = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            try:
                j = int(part)
            except ValueError:
                raise ScenarioError(f"{where}.{part}", f"{where} is a list: give an item's "
                                                       f"index, e.g. {where}[0]") from None
            if not -len(node) <= j < len(node):
                raise ScenarioError(_join(where, j), f"no such item ({where} has {len(node)})")
            part = j
        elif isinstance(node, dict):
            part = str(part)
            if not last and node.get(part) is None:
                node[part] = {}              # a new section: validation names what is wrong
        else:
            raise ScenarioError(where, f"is a {type(node).__name__}, not a section: cannot set "
                                       f"{key}")
        if last:
            node[part] = value
        else:
            node = node[part]
            where = _join(where, part)


def load(source: PlanSource) -> PlanSpec:
    """A validated plan from a plan file (a path) or a dict of the plan file's keys.

    The dict goes through the very checks a plan file does (unknown keys, types, ranges,
    correlations, contracts, plausibility), with the same messages; an ``include:`` in a dict
    is relative to the working folder. A :class:`PlanSpec` is returned as it is.
    Raises :class:`ScenarioError` (``.field`` is the dotted key).
    """
    if isinstance(source, PlanSpec):
        return source
    return PlanSpec(_read(source))


def _read(source: Any) -> "Scenario":
    """The validated scenario of a path or a dict, not compiled yet."""
    from .scenario import load_scenario, parse_scenario

    if isinstance(source, (str, os.PathLike)):
        return load_scenario(source)
    if isinstance(source, Mapping):
        return parse_scenario(_plain(copy.deepcopy(dict(source))), source="<dict>")
    raise TypeError(f"load: expected a plan file's path or a dict of its keys, not "
                    f"{type(source).__name__}")


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
def _wrap(v: Any) -> Any:
    if isinstance(v, dict):
        return Figures(v)
    if isinstance(v, list):
        return [_wrap(x) for x in v]
    return v


class Figures(Mapping[str, Any]):
    """A read-only view of a result's figures: keys as attributes (``res.ruin.ci95``) or
    items (``res.markets["CRUDE"]``); nested sections are Figures too."""

    __slots__ = ("_d",)

    def __init__(self, d: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_d", d)

    def __getattr__(self, name: str) -> Any:
        try:
            return _wrap(self._d[name])
        except KeyError:
            raise AttributeError(f"no figure {name!r} (there are: {', '.join(self._d)})") \
                from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("results are read-only")

    def __getitem__(self, key: str) -> Any:
        return _wrap(self._d[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __dir__(self) -> list[str]:
        return [k for k in self._d if isinstance(k, str) and k.isidentifier()]

    def to_dict(self) -> Any:
        """A JSON-ready copy (non-finite numbers as None)."""
        return finite_json(self._d)

    def __repr__(self) -> str:
        return f"Figures({finite_json(self._d)!r})"


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("to_frame() needs pandas, which simrisk does not install by "
                          "itself: pip install pandas (or the calibrate extra: "
                          "pip install '.[calibrate]' in the source tree)") from None
    return pandas


class _Result:
    """What every result shares: the figures (``.summary``, a dict, also readable as
    attributes), the plan, ``to_dict()``, and a table for ``print`` and notebooks."""

    __slots__ = ("plan", "summary")

    def __init__(self, plan: PlanSpec, summary: dict[str, Any]) -> None:
        self.plan = plan
        self.summary = summary
        # what made the figures, as every command's --json carries it
        summary.setdefault("version", __version__)
        summary.setdefault("warnings", plan.warnings)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in _Result.__slots__:
            raise AttributeError(name)
        try:
            return _wrap(self.summary[name])
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no figure {name!r} (there are: "
                                 f"{', '.join(self.summary)})") from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self.summary if k.isidentifier()})

    def to_dict(self) -> dict[str, Any]:
        """The figures as the command line's ``--json`` prints them (a fresh copy; non-finite
        numbers as None)."""
        out: dict[str, Any] = finite_json(self.summary)
        return out

    def table(self) -> str:
        """The command line's table."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.table()

    def figures(self) -> dict[str, Any]:
        """The figures of ``--plot``/``--report`` as matplotlib Figures, ``{name: Figure}``
        (needs matplotlib: the plot extra)."""
        raise NotImplementedError          # each result kind has its own

    def report(self, path: Union[str, "os.PathLike[str]"], *, force: bool = False) -> str:
        """Write the self-contained HTML page of ``--report`` (atomically; an existing file
        only with ``force``); return its path. Needs matplotlib."""
        from .report import Outputs
        kind = {"RunResult": "run", "StressResult": "stress", "SizeResult": "size"}[
            type(self).__name__]
        out = Outputs.check(os.fspath(path), None, None, force=force, kind=kind)
        command = f"simcore.{'stress_test' if kind == 'stress' else kind}(...) from Python"
        plan, scn = self.plan.compiled, self.plan.scenario
        if kind == "run":
            keys = out.write_run(plan, self.output, self.summary, command,  # type: ignore
                                 scn)
        elif kind == "stress":
            keys = out.write_stress(self.summary, plan, command, scn)
        else:
            keys = out.write_size(self.summary, plan, command, scn)
        return str(keys["report"])

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.table())}</pre>"


class RunResult(_Result):
    """One run (:func:`run`): the SPEC 10 figures as attributes -- ``ruin.probability``,
    ``ruin.ci95``, ``ruin.day_median``, ``margin_calls.probability_any``,
    ``margin_calls.per_year``, ``tiers[k].probability_reached``, ``tiers[k].days_median``,
    ``final_equity.median``, ``max_drawdown.p95``, ``markets["CRUDE"].win_rate``, ``paths``,
    ``seed``, ... (every key of ``to_dict()``) -- and the per-path summaries in
    :attr:`output` (:meth:`to_frame` as a table)."""

    __slots__ = ("output",)

    def __init__(self, plan: PlanSpec, summary: dict[str, Any], output: "BlockOutput") -> None:
        super().__init__(plan, summary)
        self.output = output

    @property
    def equity(self) -> Optional["np.ndarray"]:
        """Every path's day-end equity, shape (paths, horizon_days + 1), column 0 the
        capital; only with ``run(..., record_equity=True)``, else None."""
        eq = self.output.equity
        return eq if eq.shape[0] else None

    def table(self) -> str:
        from .text import format_table
        return format_table(self.summary)

    def figures(self) -> dict[str, Any]:
        """``fan``, ``tiers``, ``histograms``, ``markets`` (matplotlib Figures). The fan chart
        needs the day-end equity of the first paths: run with ``equity_paths=2048`` (what
        ``--report`` uses) or ``record_equity=True``; without it the fan is empty."""
        from .figures import run_data, run_figures
        return run_figures(run_data(self.plan.compiled, self.output, self.summary))

    def to_frame(self) -> "pd.DataFrame":
        """One row per path: ``ruined, blown, ruin_day, stop_day, margin_calls, trades, wins, skipped,
        final_equity, peak_equity, max_drawdown`` and ``tier{k}_day`` (the first day equity
        closed at or above ``tiers[k].at``); ``stop_day`` is the day a path stopped before the
        horizon (ruined or blown); days are missing (<NA>) where it never happened. Needs
        pandas."""
        import numpy as np
        pd = _pandas()
        out = self.output
        n = int(out.ruined.shape[0])

        def days(a: Any) -> Any:              # day numbers, <NA> where it never happened
            a = np.asarray(a, dtype=np.int64)
            arr = pd.array(a, dtype="Int64")
            arr[a < 0] = pd.NA
            return arr

        cols: dict[str, Any] = {
            "ruined": np.asarray(out.ruined).astype(bool),
            "blown": np.asarray(out.blown).astype(bool),
            "ruin_day": days(out.ruin_day),
            "stop_day": days(out.stop_day),
            "margin_calls": np.asarray(out.margin_calls, dtype=np.int64),
            "trades": np.asarray(out.trades, dtype=np.int64),
            "wins": np.asarray(out.wins, dtype=np.int64),
            "skipped": np.asarray(out.skipped, dtype=np.int64),
            "final_equity": np.asarray(out.final_equity, dtype=float),
            "peak_equity": np.asarray(out.peak_equity, dtype=float),
            "max_drawdown": np.asarray(out.max_dd, dtype=float),
        }
        td = np.asarray(out.tier_day).reshape(n, -1)
        for k in range(td.shape[1]):
            cols[f"tier{k}_day"] = days(td[:, k])
        df = pd.DataFrame(cols)
        df.index.name = "path"
        return df


class StressResult(_Result):
    """A stress table (:func:`stress`): ``rows[i]`` with ``name``, ``stress``,
    ``ruin_probability``, ``margin_call_probability``, ``tiers``, ``final_equity_p5``,
    ``max_drawdown_median`` and, except for the base row, ``vs_base`` (paired differences
    with 95% intervals); ``paths``, ``seed``, ``horizon_days``, ``capital``."""

    __slots__ = ()

    def table(self) -> str:
        from .text import format_stress_table
        return format_stress_table(self.summary)

    def figures(self) -> dict[str, Any]:
        """``stress``: the forest plot of each row against its reference (a Figure)."""
        from .figures import stress_figures
        return stress_figures(self.summary)

    def to_frame(self) -> "pd.DataFrame":
        """One row per stress row, indexed by its name: the headline figures, then
        ``*_diff`` (difference from the base row) and ``*_diff_lo``/``*_diff_hi`` (its 95%
        interval) for ruin, margin calls, each tier's reach and p5 final equity; tier
        columns are ``tier{k}_reached`` and ``tier{k}_days_median``. Needs pandas."""
        pd = _pandas()
        recs = []
        for r in self.summary["rows"]:
            rec: dict[str, Any] = {"name": r["name"], "stress": r["stress"]}
            vs = r.get("vs_base") or {}

            def put(col: str, value: Any, diff: Optional[dict[str, Any]]) -> None:
                rec[col] = value
                d = diff or {}
                ci = d.get("ci95") or [None, None]
                rec[f"{col}_diff"], rec[f"{col}_diff_lo"], rec[f"{col}_diff_hi"] = \
                    d.get("diff"), ci[0], ci[1]

            put("ruin_probability", r["ruin_probability"], vs.get("ruin_probability"))
            put("margin_call_probability", r["margin_call_probability"],
                vs.get("margin_call_probability"))
            reached = vs.get("tiers_reached") or [None] * len(r["tiers"])
            for k, t in enumerate(r["tiers"]):
                put(f"tier{k}_reached", t["probability_reached"], reached[k])
                rec[f"tier{k}_days_median"] = t["days_median"]
            put("final_equity_p5", r["final_equity_p5"], vs.get("final_equity_p5"))
            for key in ("max_drawdown_median", "gap_fills", "beyond_1r", "paths"):
                rec[key] = r[key]
            recs.append(rec)
        return pd.DataFrame.from_records(recs).set_index("name")


class SizeResult(_Result):
    """A capital search (:func:`size`): ``answer.capital`` (point estimate),
    ``answer.capital_conservative`` (95%-conservative), ``answer.binding``, ``targets``,
    ``curve`` (every capital evaluated), ``notes``, ``cost``, ``range``."""

    __slots__ = ()

    def table(self) -> str:
        from .text import format_sizing
        return format_sizing(self.summary).rstrip("\n")

    def to_frame(self) -> "pd.DataFrame":
        """The curve: one row per capital evaluated, indexed by capital -- ``paths``,
        ``ruin`` with ``ruin_lo``/``ruin_hi`` (95% interval), ``margin_call`` (and interval),
        ``tier{k}_reached`` (and interval), each target's estimate under its label, and the
        curve's extras (``trades_per_path``, ``final_equity_median``, ...). Needs pandas."""
        pd = _pandas()
        recs = []
        for row in self.summary["curve"]:
            rec: dict[str, Any] = {}
            for key, v in row.items():
                if key in ("ruin", "margin_call"):
                    rec[key], (rec[f"{key}_lo"], rec[f"{key}_hi"]) = \
                        v["probability"], v["ci95"]
                elif key == "tiers":
                    for t in v:
                        c = f"tier{t['index']}_reached"
                        rec[c], (rec[f"{c}_lo"], rec[f"{c}_hi"]) = t["probability"], t["ci95"]
                elif key == "targets":
                    for t in v:
                        rec[t["label"]] = t["probability"]
                else:
                    rec[key] = v
            recs.append(rec)
        return pd.DataFrame.from_records(recs).set_index("capital")

    def figures(self) -> dict[str, Any]:
        """The sizing curve(s) against capital (matplotlib Figures)."""
        from .figures import size_figures
        return size_figures(self.summary)

    def plot(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the PNG of ``simrisk size --plot`` (needs matplotlib)."""
        from .sizing import plot_sizing
        plot_sizing(self.summary, str(path))


# ---------------------------------------------------------------------------------------------
# run, stress, size
# ---------------------------------------------------------------------------------------------
def _python_names(fn: _F) -> _F:
    """Errors from the engine's option checks name the command line's options
    (``--max-ruin``); from Python they name the argument (``max_ruin``)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ScenarioError as e:
            if not e.field.startswith("--"):
                raise
            field = "/".join(p.lstrip("-").replace("-", "_") for p in e.field.split("/"))
            raise ScenarioError(field, e.problem) from None
    return wrapper  # type: ignore[return-value]


def _whole(name: str, v: Any, lo: int) -> int:
    import operator
    try:
        if isinstance(v, bool):
            raise TypeError
        i = operator.index(v)
    except TypeError:
        raise ScenarioError(name, f"must be a whole number, got {v!r}") from None
    if i < lo:
        raise ScenarioError(name, f"must be >= {lo}, got {i}")
    return int(i)


def load_for(source: PlanSource, horizon: Optional[int] = None) -> PlanSpec:
    """:func:`load`, with ``horizon_days`` replaced by ``horizon`` (trading days) *before* the
    plan is compiled: it is compiled once, for the horizon it will run (the CLI's
    ``--horizon`` and every API function's ``horizon=`` go through here). A bad horizon
    raises ScenarioError naming ``horizon``; any other error is the plan's, as :func:`load`
    raises it."""
    if horizon is None:
        return load(source)
    h = _whole("horizon", horizon, 1)
    base = PlanSpec(source.scenario if isinstance(source, PlanSpec) else _read(source),
                    compile=False)
    try:
        spec = PlanSpec(base._replaced({"horizon_days": h}), compile=False)
    except ScenarioError as e:
        raise ScenarioError("horizon", str(e)) from None
    try:
        spec.compiled                   # the plan's own errors, under their own names ...
    except ScenarioError as e:
        try:
            base.compiled               # ... unless only the new horizon brings them
        except ScenarioError:
            raise e from None
        raise ScenarioError("horizon", f"{h:,} days is too long for this plan ({e.field}: "
                                       f"{e.problem})") from None
    return spec


def _prepare(plan: PlanSource, paths: Optional[int], seed: Optional[int],
             horizon: Optional[int]) -> tuple[PlanSpec, int, int]:
    spec = load_for(plan, horizon)
    paths = spec.paths if paths is None else _whole("paths", paths, 1)
    seed = spec.seed if seed is None else _whole("seed", seed, 0)
    return spec, plan_paths(spec, paths), seed


def plan_paths(spec: PlanSpec, paths: int) -> int:
    """The paths a run of the plan has: ``paths``, except under history replay (SPEC 11),
    which has exactly one path per usable start date whatever was asked."""
    from .runner import history_paths
    return history_paths(spec.compiled, paths)


def refuse_gbm_stress(spec: PlanSpec, option: str) -> None:
    """Spikes, volatility multipliers and fat tails stress the GBM price model; on a plan
    whose prices are real history (``history:``) they mean nothing: ScenarioError."""
    if spec.compiled.hist_mode != HIST_OFF:
        raise ScenarioError(option, "stresses the GBM price model (spike, vol-mult, tails); "
                                    "this plan's prices are real history (history:); use "
                                    "--review, or run the GBM plan")


def check_models(models: Union[str, Sequence[str]]) -> list[str]:
    """``--model``: ``"gbm,bootstrap,replay"`` or a list of those names -> the list;
    ScenarioError naming --model."""
    from .models import parse_models
    try:
        return parse_models(models if isinstance(models, str) else ",".join(models))
    except ValueError as e:
        raise ScenarioError("--model", str(e)) from None


def check_compare(spec: PlanSpec, model_list: Sequence[str], paths: int) -> dict[str, int]:
    """Before any work: the plan has ``history:``, and a replay column fits its history.
    Returns each model's number of paths (replay: one per start date)."""
    from .build import build_plan
    from .models import scenario_for
    if spec.scenario.history is None:
        raise ScenarioError("--model", "needs a plan with a history: key (docs/history.md)")
    counts = {m: paths for m in model_list}
    if "replay" in model_list:
        replay = spec.compiled
        if replay.hist_mode != HIST_REPLAY:
            try:
                replay = build_plan(scenario_for(spec.scenario, "replay"))  # too short: now
            except ScenarioError as e:
                raise ScenarioError("--model", str(e)) from None
        counts["replay"] = int(replay.hist_nstart)
    return counts


def run_compare(spec: PlanSpec, model_list: Sequence[str], paths: int, seed: int, *,
                jobs: Optional[int] = 0, backend: str = "threads",
                scheduler: Optional[str] = None, progress: Progress = None) -> dict[str, Any]:
    """Run checked models (:func:`check_models`, :func:`check_compare`): ``{model: summary}``,
    each summary the ``--json`` of a run with its ``version`` and ``warnings``."""
    from .models import run_models
    try:
        res = run_models(spec.scenario, model_list, paths=paths, seed=seed, jobs=jobs,
                         backend=backend, scheduler=scheduler, progress=progress)
    except ScenarioError as e:
        raise ScenarioError("--model", str(e)) from None
    for summary in res.values():
        summary.setdefault("version", __version__)
        summary.setdefault("warnings", spec.warnings)
    return res


@_python_names
def compare_models(plan: PlanSource, models: Union[str, Sequence[str]] = "gbm,bootstrap,replay",
                   *, paths: Optional[int] = None, seed: Optional[int] = None,
                   horizon: Optional[int] = None, jobs: Optional[int] = 0,
                   backend: str = "threads", scheduler: Optional[str] = None,
                   progress: Progress = None) -> dict[str, Any]:
    """``simrisk run --model``: a plan with ``history:`` under each price model (``gbm`` with
    vol and correlation calibrated from the same history, ``bootstrap``, ``replay``), as
    ``{model: summary}`` (each the ``--json`` of a run). docs/history.md."""
    model_list = check_models(models)
    spec, _, seed = _prepare(plan, 1, seed, horizon)
    paths = spec.paths if paths is None else _whole("paths", paths, 1)
    _check_backend(backend, scheduler)
    check_compare(spec, model_list, paths)
    return run_compare(spec, model_list, paths, seed, jobs=jobs, backend=backend,
                       scheduler=scheduler, progress=progress)


def _check_backend(backend: str, scheduler: Optional[str]) -> None:
    """Raises ScenarioError naming the command line's option (--backend, --scheduler)."""
    if backend not in ("threads", "dask"):
        raise ScenarioError("--backend", f"must be threads or dask, not {backend!r}")
    if scheduler is not None and backend != "dask":
        raise ScenarioError("--scheduler", "only with --backend dask")
    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ScenarioError("--backend", "dask needs the dask extra (install the dask "
                                "extra: pip install '.[dask]' in the source tree)") from None
        if scheduler is not None:
            _probe_scheduler(scheduler)


def _probe_scheduler(address: str, timeout: float = 5.0) -> None:
    """A TCP scheduler address that nothing answers at is refused before any work, in seconds
    (dask's own client would wait 30 s and then fail mid-command). Other transports (tls://,
    ucx://, ...) are left to dask."""
    import socket
    from distributed.comm import get_address_host_port, parse_address
    try:
        scheme, _ = parse_address(address)
        if scheme != "tcp":
            return
        host, port = get_address_host_port(address)
    except (ValueError, TypeError) as e:
        raise ScenarioError("--scheduler", f"not a dask address ({address!r}: {e})") from None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else (e.strerror or str(e)).lower()
        raise ScenarioError("--scheduler", f"no dask scheduler at {address} ({why})") from None


@_python_names
def run(plan: PlanSource, *, paths: Optional[int] = None, seed: Optional[int] = None,
        horizon: Optional[int] = None, jobs: Optional[int] = 0, backend: str = "threads",
        scheduler: Optional[str] = None, record_equity: bool = False,
        equity_paths: int = 0,
        progress: Progress = None) -> RunResult:
    """Simulate a plan: what ``simrisk run`` does.

    ``plan``: a :class:`PlanSpec`, a plan file's path or a dict (see :func:`load`).
    ``paths``, ``seed``, ``horizon`` (trading days): the plan's own unless given.
    ``jobs``: worker threads (0 = every core, -1 = all but one); ``backend`` ``"threads"``
    or ``"dask"`` (``scheduler``: a dask.distributed address, None = a local cluster) --
    neither changes a single number. ``record_equity``: keep every path's day-end equity
    (:attr:`RunResult.equity`; memory grows with paths x horizon); ``equity_paths``: keep
    it for the first that many paths only (what the fan chart needs; memory does not grow
    with ``paths``). ``progress(n)`` is called
    with each finished block's number of paths.
    """
    spec, paths, seed = _prepare(plan, paths, seed, horizon)
    _check_backend(backend, scheduler)
    from .metrics import summarize
    from .runner import simulate

    if equity_paths and spec.compiled.hist_mode == HIST_REPLAY:
        equity_paths = paths      # replay: the fan reads every window (one per start date)
    out = simulate(spec.compiled, paths, seed, jobs=jobs, progress=progress, backend=backend,
                   scheduler=scheduler, record_equity=record_equity,
                   equity_paths=equity_paths)
    return RunResult(spec, summarize(spec.compiled, out, paths, seed), out)


def check_values(option: str, values: Sequence[float], lo: float, hi: float,
                 lo_open: bool = False) -> list[float]:
    """``values`` as floats, each in [lo, hi] (or (lo, hi]); ScenarioError naming
    ``option``, e.g. ``--spike: 1.5 is out of range ([0, 1])``."""
    out = []
    for v in values:
        try:
            if isinstance(v, bool):
                raise TypeError
            x = float(v)
        except (TypeError, ValueError):
            raise ScenarioError(option, f"{v!r} is not a number") from None
        if not (lo < x if lo_open else lo <= x) or not x <= hi:
            raise ScenarioError(option, f"{v} is out of range ({'(' if lo_open else '['}"
                                        f"{lo:g}, {hi:g}])")
        out.append(x)
    return out


def check_tails(tails: Optional[float]) -> None:
    """None, or Student-t degrees of freedom in (2, 1000]; ScenarioError naming --tails."""
    if tails is not None and not (not isinstance(tails, bool) and isinstance(tails, (int, float))
                                  and 2.0 < tails <= 1000.0):
        raise ScenarioError("--tails", "must be > 2 (degrees of freedom of the Student-t)")


def _list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, (int, float)) or (hasattr(v, "dtype") and getattr(v, "ndim", 1) == 0):
        return [v]
    return list(v)


def check_reviews(review: Any) -> Optional[list[Optional[int]]]:
    """``--review``: None (no comparison), a text ``"off,21,63"`` or a sequence of ``None`` /
    ``"off"`` / whole days >= 1 -> ``[None, 21, 63]`` (None = the rule removed); ScenarioError
    naming --review."""
    if review is None:
        return None
    parts = review.split(",") if isinstance(review, str) else list(_list(review))
    out: list[Optional[int]] = []
    for part in parts:
        if part is None or (isinstance(part, str) and part.strip().lower() == "off"):
            out.append(None)
            continue
        try:
            n = int(part.strip()) if isinstance(part, str) else \
                (int(part) if not isinstance(part, bool) and float(part) == int(part) else 0)
        except (TypeError, ValueError):
            n = 0
        if not 1 <= n <= 100_000:
            raise ScenarioError("--review", f"{str(part).strip()!r} is neither off nor a number "
                                            "of days >= 1 (e.g. --review off,21,63)")
        out.append(n)
    if not out:
        raise ScenarioError("--review", "give at least one setting (e.g. --review off,21,63)")
    if len(set(out)) != len(out):
        raise ScenarioError("--review", "a setting is given twice (each one is a row)")
    return out


def stress_rows(spec: PlanSpec, *, spike: Sequence[float] = (), adverse: bool = False,
                vol_mult: Sequence[float] = (), tails: Optional[float] = None,
                window: Optional[tuple[int, int]] = None,
                reviews: Optional[Sequence[Optional[int]]] = None) -> list["Stress"]:
    """The rows ``simrisk stress`` runs, checked before any work: one per spike weight and
    volatility multiplier and one for fat tails; without any, the plan's ``stress:`` rows;
    without those, the default sweep (spikes 0.5 and 1, adverse, volatility x2) -- or, when
    review settings are compared (``reviews``, :func:`check_reviews`), calm rows only. Errors
    name the command line's options (``--spike``)."""
    from .stress import check_stressed, stresses_from_scenario, sweep

    spikes = check_values("--spike", _list(spike), 0.0, 1.0)
    vols = check_values("--vol-mult", _list(vol_mult), 0.0, 20.0, lo_open=True)
    check_tails(tails)
    plan = spec.compiled
    win = None
    if window is not None:
        try:
            a, b = (int(x) for x in window)
        except (TypeError, ValueError):
            raise ScenarioError("--window", "must be START:END in days, e.g. 100:160") \
                from None
        if not 1 <= a <= b <= plan.n_days:
            raise ScenarioError("--window", f"need 1 <= START <= END <= horizon_days "
                                            f"({plan.n_days})")
        win = (a, b)
    scenario = spec.scenario
    if spikes or vols or tails is not None:
        refuse_gbm_stress(spec, "--spike" if spikes else "--vol-mult" if vols else "--tails")
        rows = sweep(spikes, vols, tails, adverse=adverse, window=win)
        where = {id(r): ("--spike" if r.spike else "--vol-mult" if r.vol_mult != 1.0
                         else "--tails") for r in rows}
    elif scenario.stress:
        if adverse or win:
            raise ScenarioError("--adverse/--window", "only with --spike/--vol-mult (the "
                                "scenario's stress rows carry their own)")
        rows = stresses_from_scenario(scenario)
        for i, r in enumerate(rows):   # windows against the horizon of this run
            if r.window is not None and not r.window[1] <= plan.n_days:
                raise ScenarioError(f"stress[{i}].window", f"ends on day {r.window[1]}, after "
                                                           f"the horizon ({plan.n_days} days)")
        where = {id(r): f"stress[{i}].vol_mult" for i, r in enumerate(rows)}
    elif reviews is not None:
        rows, where = [], {}                             # --review alone: calm rows only
    else:
        refuse_gbm_stress(spec, "stress")                # the default sweep is GBM's
        rows = sweep([0.5, 1.0], [2.0], None, adverse=True, window=win)
        where = {id(r): "stress" for r in rows}          # the default sweep
    for r in rows:                      # a stress that would overflow is refused up front
        check_stressed(plan, r, where[id(r)])
    if reviews is not None and len(plan.market_names) < 2:
        raise ScenarioError("--review", "the correlation review needs at least two markets")
    if reviews is not None and plan.hist_mode == HIST_REPLAY:
        # replay's paths are overlapping windows of one history: the paired intervals of a
        # stress table assume independent paths and would be several times too narrow
        raise ScenarioError("--review", "replay's paths are overlapping windows of one "
                                        "history, for which paired intervals would be far too "
                                        "narrow; compare reviews on history.mode: bootstrap")
    return rows


def stress_runs(rows: Sequence["Stress"],
                reviews: Optional[Sequence[Optional[int]]] = None) -> int:
    """How many plain runs a stress table costs (for the memory and time preflight)."""
    n = 1 + sum(not r.is_base() for r in rows)
    return n * len(reviews) if reviews is not None else n


def run_stress_rows(spec: PlanSpec, rows: Sequence["Stress"], paths: int, seed: int, *,
                    reviews: Optional[Sequence[Optional[int]]] = None,
                    jobs: Optional[int] = 0, backend: str = "threads",
                    scheduler: Optional[str] = None, progress: Progress = None) -> StressResult:
    """Run checked rows (:func:`stress_rows`) beside the base case; with ``reviews``, each
    review setting calm and under each row, paired against the first setting."""
    from .stress import run_review_stress, run_stress
    if reviews is not None:
        return StressResult(spec, run_review_stress(spec.compiled, reviews, rows, paths, seed,
                                                    jobs=jobs, progress=progress,
                                                    backend=backend, scheduler=scheduler))
    return StressResult(spec, run_stress(spec.compiled, rows, paths, seed, jobs=jobs,
                                         progress=progress, backend=backend,
                                         scheduler=scheduler))


@_python_names
def stress(plan: PlanSource, *, spike: Union[float, Sequence[float], None] = None,
           adverse: bool = False, vol_mult: Union[float, Sequence[float], None] = None,
           tails: Optional[float] = None, window: Optional[tuple[int, int]] = None,
           review: Union[str, Sequence[Optional[Union[int, str]]], None] = None,
           paths: Optional[int] = None, seed: Optional[int] = None,
           horizon: Optional[int] = None, jobs: Optional[int] = 0, backend: str = "threads",
           scheduler: Optional[str] = None, progress: Progress = None) -> StressResult:
    """Stress a plan beside its base case on common random numbers: ``simrisk stress``
    (exported as ``simcore.stress_test``).

    ``spike``: correlation spike weights in [0, 1] (one row each); ``adverse``: spike toward
    the strategies' direction pattern; ``vol_mult``: volatility multipliers in (0, 20]
    (one row each); ``tails``: a row of Student-t shocks with that many degrees of freedom
    (> 2); ``window``: ``(first_day, last_day)``, 1-based inclusive, for spikes and
    volatility (default the whole horizon). Without any of these: the plan's ``stress:``
    rows, else spikes 0.5 and 1 (adverse) and volatility x2. ``review``: compare
    correlation-review cadences, e.g. ``"off,21,63"`` or ``[None, 21, 63]`` (None/"off" = the
    rule removed, N = every N days): each setting calm and under each row, paired against the
    first setting (without stress options: calm only). Other options as :func:`run`.
    """
    reviews = check_reviews(review)
    spec, paths, seed = _prepare(plan, paths, seed, horizon)
    _check_backend(backend, scheduler)
    rows = stress_rows(spec, spike=_list(spike), adverse=adverse, vol_mult=_list(vol_mult),
                       tails=tails, window=window, reviews=reviews)
    return run_stress_rows(spec, rows, paths, seed, reviews=reviews, jobs=jobs,
                           backend=backend, scheduler=scheduler, progress=progress)


def size_targets(spec: PlanSpec, *, max_ruin: Optional[float] = None,
                 reach: Sequence[Any] = (), max_margin_call: Optional[float] = None,
                 min_capital: Optional[float] = None, max_capital: Optional[float] = None,
                 tolerance: float = 0.01) -> list[Any]:
    """The targets of a capital search, with every option checked before any work (errors
    name the command line's options, ``--max-ruin``)."""
    from .sizing import check_search, make_targets

    if spec.compiled.hist_mode == HIST_REPLAY:
        raise ScenarioError("history.mode", "replay has a fixed set of paths (one per start "
                                            "date); size capital on mode: bootstrap")
    targets = make_targets(spec.compiled, max_ruin=max_ruin, reach=reach,
                           max_margin_call=max_margin_call)
    check_search(spec.scenario, targets, min_capital=min_capital, max_capital=max_capital,
                 tolerance=tolerance)
    return targets


def run_size(spec: PlanSpec, targets: Sequence[Any], paths: int, seed: int, *,
             min_capital: Optional[float] = None, max_capital: Optional[float] = None,
             tolerance: float = 0.01, jobs: Optional[int] = 0, backend: str = "threads",
             scheduler: Optional[str] = None, progress: Progress = None,
             stage: Optional[Callable[[str], None]] = None) -> SizeResult:
    """Search checked targets (:func:`size_targets`)."""
    from .sizing import size_capital
    return SizeResult(spec, size_capital(spec.scenario, targets, paths=paths, seed=seed,
                                         min_capital=min_capital, max_capital=max_capital,
                                         jobs=jobs, tolerance=tolerance, progress=progress,
                                         stage=stage, backend=backend, scheduler=scheduler))


@_python_names
def size(plan: PlanSource, *, max_ruin: Optional[float] = None,
         reach: Union[str, Sequence[Any]] = (), max_margin_call: Optional[float] = None,
         min_capital: Optional[float] = None, max_capital: Optional[float] = None,
         tolerance: float = 0.01, paths: Optional[int] = None, seed: Optional[int] = None,
         horizon: Optional[int] = None, jobs: Optional[int] = 0, backend: str = "threads",
         scheduler: Optional[str] = None, progress: Progress = None,
         stage: Optional[Callable[[str], None]] = None) -> SizeResult:
    """The least starting capital for which the plan meets its targets: ``simrisk size``.

    Targets: ``max_ruin`` (P(ruin) at most this), ``reach`` (``"AT:Q[:DAYS]"`` strings or
    ``(at, q, days_or_None)`` tuples: reach the tier at ``at`` with probability at least
    ``q``, within ``days``), ``max_margin_call``; none at all means ``max_ruin=0.05``.
    ``min_capital``/``max_capital``: the search range (defaults as the command line's);
    ``tolerance``: relative resolution of the answers. ``stage(text)`` is called at each
    stage of the search. Other options as :func:`run`.
    """
    spec, paths, seed = _prepare(plan, paths, seed, horizon)
    _check_backend(backend, scheduler)
    # one target ("AT:Q" or (at, q, days)) or a sequence of them
    if isinstance(reach, str) or (isinstance(reach, tuple) and reach
                                  and not isinstance(reach[0], (str, tuple, list))):
        reach = [reach]
    targets = size_targets(spec, max_ruin=max_ruin, reach=list(reach),
                           max_margin_call=max_margin_call, min_capital=min_capital,
                           max_capital=max_capital, tolerance=tolerance)
    return run_size(spec, targets, paths, seed, min_capital=min_capital,
                    max_capital=max_capital, tolerance=tolerance, jobs=jobs, backend=backend,
                    scheduler=scheduler, progress=progress, stage=stage)


# ---------------------------------------------------------------------------------------------
# calibrate
# ---------------------------------------------------------------------------------------------
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
#: ``recent`` when none is given: a quarter of daily returns, clipped to a shorter sample
RECENT_DAYS = 63
#: how calibrate's option names (the command line's) read from Python
_CALIBRATE_NAMES = {"--window": "windows", "-o": "output", "--recent": "recent",
                    "--gap": "gap", "--max-bad-rows": "max_bad_rows"}


class CalibrateResult(_Result):
    """A calibration (:func:`calibrate`): the figures of ``simrisk calibrate --json`` as
    attributes -- ``markets["CRUDE"].vol``, ``markets["SP500"].atr.last``, ``correlation``
    (``whole``, ``recent``, ``windows``, ``periods``), ``regimes``, ``first``, ``last``,
    ``days`` -- :meth:`to_frame` (one row per market), :meth:`corr` (a correlation matrix)
    and :meth:`fragment` / :meth:`write_fragment` (the plan fragment of ``-o``). There is no
    plan (``plan`` is None) and no figure or report. ``warnings``: what the command line
    prints as ``warning:`` lines (dropped rows, a column taken as the close, ``recent``
    clipped to the sample)."""

    __slots__ = ("_fig", "warnings")

    def __init__(self, fig: dict[str, Any], warnings: Sequence[str] = ()) -> None:
        from .calibrate import public
        # no version or warnings keys: to_dict() is exactly `simrisk calibrate --json`
        self.plan = None              # type: ignore[assignment]
        self.summary = public(fig)
        self._fig = fig
        self.warnings = list(warnings)

    def table(self) -> str:
        from .text import format_calibration
        return str(format_calibration(self._fig))

    def __repr__(self) -> str:
        return self.table().rstrip("\n")

    def figures(self) -> dict[str, Any]:
        raise NotImplementedError("calibrate draws no figures")

    def report(self, path: Union[str, "os.PathLike[str]"], *, force: bool = False) -> str:
        raise NotImplementedError("calibrate writes no report (write_fragment writes its "
                                  "plan fragment)")

    def dates_used(self) -> str:
        """The ``dates used:`` line the command line prints on stderr."""
        s = self.summary
        return (f"dates used: {s['first']} to {s['last']} ({s['days']} shared dates)"
                + "".join(f"; {n}: {m['rows_not_shared']} rows outside them"
                          for n, m in s["markets"].items() if m["rows_not_shared"]))

    def to_frame(self) -> "pd.DataFrame":
        """One row per market, indexed by its name: ``file, price, vol, atr_last, atr_mean,
        atr_fraction_last, atr_fraction_mean, excess_kurtosis, student_t_nu,
        gap_frequency, gap_mean, gap_days, days, returns, first, last, rows_not_shared``
        (ATR and gaps missing where the file has no Open/High/Low)."""
        pd = _pandas()
        recs = []
        for name, m in self.summary["markets"].items():
            rec: dict[str, Any] = {"market": name}
            for key, v in m.items():
                if key in ("atr", "atr_fraction"):
                    rec[f"{key}_last"] = None if v is None else v["last"]
                    rec[f"{key}_mean"] = None if v is None else v["mean"]
                elif key != "vol_by_year":
                    rec[key] = v
            recs.append(rec)
        return pd.DataFrame.from_records(recs).set_index("market")

    def corr(self, period: str = "whole") -> "pd.DataFrame":
        """The correlation matrix of daily log returns over ``period``: ``"whole"``,
        ``"recent"`` or a window's name (a DataFrame indexed by market both ways)."""
        mats = self._fig["_mats"]
        if period not in mats:
            raise KeyError(f"no period {period!r} (there are: {', '.join(mats)})")
        names = self._fig["markets_order"]
        return _pandas().DataFrame(mats[period], index=names, columns=names)

    def fragment(self, command: str = "") -> str:
        """The plan fragment (YAML text, for a plan's ``include:``) that ``-o`` writes;
        ``command`` goes into its header comment."""
        from .calibrate import fragment_yaml
        return str(fragment_yaml(self._fig, command=command, version=__version__))

    def write_fragment(self, path: Union[str, "os.PathLike[str]"], *, force: bool = False,
                       command: str = "simcore.calibrate_markets(...) from Python") -> str:
        """Write :meth:`fragment` to ``path`` (``.yaml``/``.yml``; atomically; an existing
        file only with ``force``) and add its name to the figures (``fragment``, as in
        ``--json``); return the path."""
        from ._files import atomic_path, check_destination
        dest = check_destination(path, force=force, suffixes=(".yaml", ".yml"), option="-o")
        text = self.fragment(command)
        with atomic_path(dest) as tmp:
            tmp.write_text(text, encoding="utf-8")
        self.summary["fragment"] = os.fspath(path)
        return os.fspath(path)


def calibrate_market(arg: Union[str, "os.PathLike[str]"]) -> tuple[str, str]:
    """``"NAME=FILE.csv"`` or ``"FILE.csv"`` (the name is the file's stem) -> (name, file);
    a name is letters, digits, ``_`` and ``-``."""
    from pathlib import Path
    arg = os.fspath(arg)
    name, sep, path = arg.partition("=")
    if not sep:
        name, path = Path(arg).stem, arg
        how = f"from the file name of {arg}; name it with NAME={arg}"
    else:
        how = f"in {arg}"
    if not _NAME_RE.match(name or ""):
        raise ScenarioError("", f"market name {name!r} ({how}): use only letters, digits, "
                                "'_' and '-'")
    return name, path


def calibrate_window(text: str) -> tuple[str, tuple[str, str]]:
    """``"NAME=START:END"`` (ISO dates, inclusive) -> (name, (start, end)); errors name
    ``--window``."""
    import datetime as dt
    name, sep, span = text.partition("=")
    start, sep2, end = span.partition(":")
    if not (sep and sep2) or not _NAME_RE.match(name):
        raise ScenarioError(f"--window {text}", "must be NAME=START:END, e.g. "
                            "gfc=2008-09-15:2008-12-31 (NAME: letters, digits, '_', '-')")
    try:
        a, b = dt.date.fromisoformat(start.strip()), dt.date.fromisoformat(end.strip())
    except ValueError:
        raise ScenarioError(f"--window {text}", "START and END must be dates YYYY-MM-DD") \
            from None
    if a > b:
        raise ScenarioError(f"--window {text}", "START is after END")
    return name, (a.isoformat(), b.isoformat())


def _texts(v: Any, pair: Callable[[Any, Any], str]) -> list[str]:
    """One text, a sequence of texts, or a mapping {name: value} (each item as ``pair``)."""
    if v is None:
        return []
    if isinstance(v, (str, os.PathLike)):
        return [os.fspath(v)]
    if isinstance(v, Mapping):
        return [pair(k, x) for k, x in v.items()]
    return [os.fspath(x) for x in v]


def _window_text(name: Any, span: Any) -> str:
    if isinstance(span, str):
        return f"{name}={span}"
    try:
        a, b = span
    except (TypeError, ValueError):
        return f"{name}={span}"
    return f"{name}={getattr(a, 'isoformat', lambda: a)()}:{getattr(b, 'isoformat', lambda: b)()}"


def check_calibrate(files: Any, *, windows: Any = None, gap: float = 0.01,
                    recent: Optional[int] = None, max_bad_rows: int = 5,
                    output: Optional[Union[str, "os.PathLike[str]"]] = None,
                    force: bool = False) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Every argument of a calibration checked before any file is read (errors name the
    command line's options, ``--window``): ``({market: file}, {window: (start, end)})``.

    ``files``: ``"NAME=FILE.csv"`` / ``"FILE.csv"`` texts (or paths), or ``{name: file}``;
    ``windows``: ``"NAME=START:END"`` texts or ``{name: (start, end)}``; ``output``: the
    fragment's destination (``.yaml``/``.yml``; an existing file only with ``force``)."""
    from ._files import check_destination

    for v, lo, opt in ((max_bad_rows, 0, "--max-bad-rows"),
                       (RECENT_DAYS if recent is None else recent, 3, "--recent")):
        _whole(opt, v, lo)
    check_values("--gap", [gap], 0.0, 1.0, lo_open=True)
    texts = _texts(files, lambda k, p: f"{k}={os.fspath(p)}")
    if not texts:
        raise ScenarioError("files", "give at least one CSV file of daily bars")
    markets: dict[str, str] = {}
    for text in texts:
        name, path = calibrate_market(text)
        if name in markets:
            raise ScenarioError("", f"market {name} given twice ({markets[name]} and {path}); "
                                    "name them with NAME=FILE.csv")
        markets[name] = path
    wins: dict[str, tuple[str, str]] = {}
    for w in _texts(windows, _window_text):
        name, span = calibrate_window(w)
        if name in wins or name in ("whole", "recent"):
            raise ScenarioError(f"--window {w}", "the name " + name + " is "
                                + ("given twice" if name in wins else "reserved"))
        wins[name] = span
    if output is not None:
        check_destination(output, force=force, suffixes=(".yaml", ".yml"), option="-o")
    return markets, wins


def run_calibrate(markets: Mapping[str, str], windows: Mapping[str, tuple[str, str]], *,
                  gap: float = 0.01, recent: Optional[int] = None, max_bad_rows: int = 5,
                  warn: Optional[Callable[[str], None]] = None,
                  _recent_option: str = "--recent") -> CalibrateResult:
    """Calibrate checked arguments (:func:`check_calibrate`): read each file (``warn(text)``
    is called with each warning as it arises), align them on their shared dates, measure.
    ``recent=None`` is 63 returns, or the whole sample when it has fewer (with a warning);
    a ``recent`` given that the sample cannot hold is an error."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        raise ScenarioError("", "calibrate needs pandas (install the calibrate extra: pip "
                                "install '.[calibrate]' in the source tree)") from None
    from .calibrate import align, calibrate as fit, read_bars

    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        if warn is not None:
            warn(text)

    bars = {}
    for name, path in markets.items():
        b = read_bars(path, max_bad_rows=max_bad_rows)
        for text in b.notes:
            note(text)
        bars[name] = b
    data = align(bars)
    n_returns = len(data.index) - 1
    if recent is None:
        recent = RECENT_DAYS
        if recent > n_returns:
            note(f"{_recent_option}: {n_returns} daily returns in all, fewer than {recent}; "
                 "the recent correlation is the whole sample's")
            recent = n_returns
    elif recent > n_returns:
        raise ScenarioError("--recent", f"{recent} days asked for, but the shared dates give "
                                        f"{n_returns} daily returns")
    return CalibrateResult(fit(data, gap=gap, recent=recent, windows=dict(windows)), notes)


def calibrate(files: Any, *, windows: Any = None, gap: float = 0.01,
              recent: Optional[int] = None, max_bad_rows: int = 5,
              output: Optional[Union[str, "os.PathLike[str]"]] = None, force: bool = False,
              warn: Optional[Callable[[str], None]] = None) -> CalibrateResult:
    """A plan's market figures from daily bars: ``simrisk calibrate`` (exported as
    ``simcore.calibrate_markets``; ``simcore.calibrate`` is the engine's module).

    ``files``: one CSV per market, as ``"NAME=FILE.csv"`` or ``"FILE.csv"`` texts (the name
    is then the file's stem) or a dict ``{name: file}``; ``windows``: named date windows
    for correlations and a stress row, ``"NAME=START:END"`` texts or ``{name: (start,
    end)}`` (ISO dates or ``datetime.date``, inclusive); ``gap``: the gap threshold (0, 1];
    ``recent``: correlation over the last N >= 3 daily returns too (None: 63, or the whole
    sample when shorter, with a warning); ``max_bad_rows``: bad rows dropped per file before
    it is an error; ``output``: also write the plan fragment there (``.yaml``, checked before
    any file is read; an existing file only with ``force``); ``warn(text)`` is called with
    each warning as it arises (they are also in ``result.warnings``). Needs pandas (the
    calibrate extra). Raises :class:`ScenarioError` with the command line's messages, the
    option named as the argument (``recent: ...``, ``windows gfc: ...``).
    """
    try:
        markets, wins = check_calibrate(files, windows=windows, gap=gap, recent=recent,
                                        max_bad_rows=max_bad_rows, output=output, force=force)
        res = run_calibrate(markets, wins, gap=gap, recent=recent, max_bad_rows=max_bad_rows,
                            warn=warn, _recent_option="recent")
        if output is not None:
            res.write_fragment(output, force=force)
        return res
    except ScenarioError as e:
        head, sep, rest = e.field.partition(" ")
        if head not in _CALIBRATE_NAMES:
            raise
        raise ScenarioError(_CALIBRATE_NAMES[head] + sep + rest, e.problem) from None
