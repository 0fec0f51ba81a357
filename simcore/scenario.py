"""Scenario files (SPEC 9): YAML -> a validated, immutable :class:`Scenario`.

Two entry points::

    load_scenario("scenarios/5k_four_asset.yaml")   # read + parse a file
    parse_scenario(data_dict, source="<dict>")      # validate an already-loaded mapping

Both raise :class:`~simcore.errors.ScenarioError` -- and only that -- for anything the user
can fix: unreadable file, invalid YAML, duplicate key, unknown key, wrong type, value out of
range, or an inconsistency between sections. The message is one line, ``field: problem``,
with ``field`` the dotted path of the offending key (list items as ``[i]``, 0-based)::

    markets.MCL.vol: must be > 0
    captial: unknown key (did you mean capital?)
    tiers[2].contracts.ES: trades SP500, which is not listed under markets
    correlation: not positive semi-definite (smallest eigenvalue -0.41): no markets can ...

Validation happens in two stages:

1. **Shape** -- pydantic v2 models mirroring SPEC 9 (``extra="forbid"``, strict types: a
   quoted ``"756"`` or ``756.5`` is not an integer, ``yes`` is not a number). The first
   pydantic error is translated into our one-line format; pydantic's own text never leaks.
2. **Consistency** -- cross-field checks that need more than one key (correlation matrix,
   contract table, tiers, strategies vs markets), in :func:`_cross_check`.

Extending the format (as ``regimes:``, ``tails:``, ``gaps:`` and ``stress:`` were): add a
model and an optional field to :class:`Scenario`, and, if it needs cross-field checks, a
function to ``_CHECKS``. Errors from either stage come out in the same format automatically.
"""
from __future__ import annotations

import dataclasses
import datetime
import difflib
import math
import re
import typing
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Mapping, Optional, Union

import warnings

import numpy as np
import ruamel.yaml
import ruamel.yaml.constructor
import ruamel.yaml.resolver
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag,
                      ValidationError, field_validator, model_validator)
from pydantic_core import PydanticCustomError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .catalog import (ASSET_CLASSES, CATALOG, CONTRACT_FIELDS, ContractSpec,
                      default_asset_class)
from .errors import ScenarioError

__all__ = [
    "Scenario", "MarketSpec", "StrategySpec", "StopSpec", "TargetSpec", "RulesSpec",
    "RuinSpec", "TierSpec", "ContractOverride", "CorrelationMatrixSpec", "RegimesSpec",
    "RegimeStateSpec", "TailsSpec", "GapSpec", "StressSpec",
    "load_scenario", "parse_scenario", "load_yaml", "with_overrides", "TRADING_DAYS", "ATR_FACTOR",
    "DEFAULT_SEED", "DEFAULT_PATHS",
]

TRADING_DAYS = 252
#: ATR = ATR_FACTOR * price * daily volatility: the expected high-low range of a Brownian
#: path over one day (SPEC 4).
ATR_FACTOR = math.sqrt(8.0 / math.pi)
DEFAULT_SEED = 7          # SPEC 9's example value; any fixed value gives reproducible runs
DEFAULT_PATHS = 10_000
_MAX_STEPS = 2**31 - 1    # the kernel counts steps in int32
MAX_CONTRACTS = 100_000   # sanity bound on a tier's contract count (int32 in the plan)

# ------------------------------------------------------------------------------------------
# YAML
# ------------------------------------------------------------------------------------------
# Plans are read with YAML 1.2 syntax (ruamel.yaml, pure-Python safe loader) and a strict
# scalar schema: YAML 1.2's core schema restricted to plain decimal numbers. So `8000`,
# `8000.0`, `8e3` and `1e-4` are numbers; `true`/`false` are booleans; `null`, `~` and an
# empty value are null; and everything else is a string -- the YAML 1.1 forms PyYAML reads
# as numbers or booleans (`2:13:20` sexagesimal, `0x1F40`, `0o17`, `8_000`, `yes`, `on`) stay
# strings, which the strict types then refuse ("must be a number"). Duplicate keys are errors.
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_FLOAT_RE = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")


class _PlanResolver(ruamel.yaml.resolver.BaseResolver):
    """Implicit tags of the strict schema (above); nothing else is resolved."""

    def __init__(self, version=None, loader=None, loadumper=None):
        super().__init__(loadumper=loader if loader is not None else loadumper)

    @property
    def processing_version(self):
        return (1, 2)           # YAML 1.2 syntax, whatever a %YAML directive says


_PlanResolver.yaml_implicit_resolvers = {}
for _tag, _re, _first in (
        ("tag:yaml.org,2002:bool", _BOOL_RE, list("tTfF")),
        ("tag:yaml.org,2002:int", _INT_RE, list("-+0123456789")),
        ("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789.")),
        ("tag:yaml.org,2002:null", _NULL_RE, ["~", "n", "N", ""]),
        (_MERGE_TAG, re.compile(r"^(?:<<)$"), ["<"])):
    _PlanResolver.add_implicit_resolver_base(_tag, _re, _first)


class _PlanConstructor(ruamel.yaml.constructor.SafeConstructor):
    """ruamel's safe constructor with duplicate keys reported by field path (before
    construction), and the numbers of the strict schema built directly."""

    def construct_document(self, node):
        _check_duplicate_keys(node, "", set())
        return super().construct_document(node)

    def construct_yaml_int(self, node):
        value = self.construct_scalar(node)
        try:
            return int(value)
        except ValueError:          # more digits than Python converts (int_max_str_digits)
            raise ScenarioError("", f"invalid YAML at line {node.start_mark.line + 1}, column "
                                    f"{node.start_mark.column + 1}: {value[:20]}... is not a "
                                    "usable number") from None

    def construct_yaml_float(self, node):
        value = str(self.construct_scalar(node))
        low = value.lower()
        if low.endswith(".inf"):
            return -math.inf if low.startswith("-") else math.inf
        if low == ".nan":
            return math.nan
        return float(value)

    def construct_yaml_bool(self, node):
        return self.construct_scalar(node).lower() == "true"


_PlanConstructor.add_constructor("tag:yaml.org,2002:int", _PlanConstructor.construct_yaml_int)
_PlanConstructor.add_constructor("tag:yaml.org,2002:float",
                                 _PlanConstructor.construct_yaml_float)
_PlanConstructor.add_constructor("tag:yaml.org,2002:bool", _PlanConstructor.construct_yaml_bool)


def _yaml() -> "ruamel.yaml.YAML":
    y = ruamel.yaml.YAML(typ="safe", pure=True)
    y.Resolver = _PlanResolver
    y.Constructor = _PlanConstructor
    y.allow_duplicate_keys = True          # reported by _check_duplicate_keys, with the path
    return y


def _join(path: str, key: Any) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _check_duplicate_keys(node, path: str, seen: set) -> None:
    if id(node) in seen:          # anchors/aliases can make the graph cyclic
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        first: dict = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.tag != _MERGE_TAG:
                ident = (key.tag, key.value)
                here = _join(path, key.value)
                if ident in first:
                    a, b = first[ident] + 1, key.start_mark.line + 1
                    raise ScenarioError(here, "duplicate key " + (f"(line {a})" if a == b
                                                                  else f"(lines {a} and {b})"))
                first[ident] = key.start_mark.line
            else:
                here = path
            _check_duplicate_keys(value, here, seen)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(item, _join(path, i), seen)


def load_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text (YAML 1.2, the strict schema above); duplicate keys and syntax errors
    raise ScenarioError with the line and column."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # e.g. ruamel's ReusedAnchorWarning
            return _yaml().load(text)
    except ScenarioError as e:
        raise ScenarioError(e.field or source, e.problem) from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = e.problem or e.context or "syntax error"
        raise ScenarioError(source, f"invalid YAML{where}: {what}") from None
    except (YAMLError, RecursionError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ScenarioError(source, f"invalid YAML: {first}") from None


def with_overrides(scn: "Scenario", **fields) -> "Scenario":
    """``scn`` with top-level fields replaced (``horizon_days=...`` for ``--horizon``),
    checked again like a loaded scenario. Raises ScenarioError."""
    data = scn.model_dump(mode="python", exclude_unset=True, by_alias=True, warnings=False)
    data.update(fields)
    return parse_scenario(data, source=scn.source)


def load_scenario(path) -> "Scenario":
    """Read, parse and validate a scenario file. Raises ScenarioError only."""
    from ._files import note_input
    src = str(path)
    note_input(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(src, "no such file") from None
    except IsADirectoryError:
        raise ScenarioError(src, "is a directory, not a scenario file") from None
    except UnicodeDecodeError:
        raise ScenarioError(src, "is not UTF-8 text") from None
    except OSError as e:
        raise ScenarioError(src, f"cannot read ({e.strerror or e})") from None
    return parse_scenario(load_yaml(text, src), source=src)


# ------------------------------------------------------------------------------------------
# Models (shape). Field names are the scenario's key names (SPEC 9).
# ------------------------------------------------------------------------------------------
_NAME_RE = r"^[A-Za-z0-9_-]+$"
Name = Annotated[str, Field(pattern=_NAME_RE)]
Fraction01 = Annotated[float, Field(gt=0, lt=1)]
AssetClass = Literal[ASSET_CLASSES]  # type: ignore[valid-type]


def _is_none(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip().lower() == "none")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False,
                              hide_input_in_errors=True)


class MarketSpec(_Model):
    """An underlying. ``vol`` and ``drift`` are annual fractions (0.18 = 18%)."""
    price: float = Field(gt=0)
    vol: float = Field(gt=0, le=2)
    drift: float = Field(0.0, ge=-1, le=1)
    asset_class: Optional[AssetClass] = None


class StopSpec(_Model):
    """Exactly one of ``atr`` (ATR multiple), ``points`` (price units), ``ticks``."""
    atr: Optional[float] = Field(None, gt=0)
    points: Optional[float] = Field(None, gt=0)
    ticks: Optional[int] = Field(None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self):
        if sum(v is not None for v in (self.atr, self.points, self.ticks)) != 1:
            raise PydanticCustomError("one_of", "give exactly one of atr, points, ticks "
                                                "(or write `stop: none`)")
        return self

    @property
    def kind(self) -> str:
        return "atr" if self.atr is not None else "points" if self.points is not None else "ticks"

    @property
    def value(self) -> float:
        return float(getattr(self, self.kind))


class TargetSpec(_Model):
    """Exactly one of ``r`` (multiple of the stop distance) or ``points`` (price units)."""
    r: Optional[float] = Field(None, gt=0)
    points: Optional[float] = Field(None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.r is None) == (self.points is None):
            raise PydanticCustomError("one_of", "give exactly one of r, points "
                                                "(or write `target: none`)")
        return self

    @property
    def kind(self) -> str:
        return "r" if self.r is not None else "points"

    @property
    def value(self) -> float:
        return float(getattr(self, self.kind))


class StrategySpec(_Model):
    """How one market is traded (SPEC 4). ``stop`` and ``target`` are required (may be none)."""
    direction: Literal["long", "short", "both"]
    stop: Optional[StopSpec]
    target: Optional[TargetSpec]
    alpha: Optional[float] = None
    win_rate: Optional[Fraction01] = None
    max_hold_days: int = Field(0, ge=0)
    cooldown_days: int = Field(0, ge=0)

    @field_validator("stop", "target", mode="before")
    @classmethod
    def _none_or_mapping(cls, v, info):
        if _is_none(v):
            return None
        if not isinstance(v, dict):
            forms = ("{atr: k}, {points: x}, {ticks: n}" if info.field_name == "stop"
                     else "{r: m}, {points: x}")
            raise PydanticCustomError("spec_form", f"must be {forms} or none")
        return v

    @field_validator("max_hold_days", "cooldown_days", mode="before")
    @classmethod
    def _none_is_zero(cls, v):
        return 0 if _is_none(v) else v


class RuinSpec(_Model):
    """Any of the three; ruin when any is met. ``{}`` = never ruined."""
    below: Optional[float] = Field(None, ge=0)
    below_fraction: Optional[Fraction01] = None
    max_drawdown: Optional[Fraction01] = None


class ScaleRiskSpec(_Model):
    """``action: {scale_risk: f}`` -- risk per trade x f for each market of a flagged pair
    (0 <= f <= 1; 0 = no entries in those markets while flagged)."""
    scale_risk: float = Field(ge=0, le=1)


def _review_action_form(v: Any) -> Optional[str]:
    if v == "one_per_pair":
        return "<one_per_pair>"
    if isinstance(v, dict):
        return "<scale_risk>"
    return None


ReviewActionSpec = Annotated[
    Union[
        Annotated[Literal["one_per_pair"], Tag("<one_per_pair>")],
        Annotated[ScaleRiskSpec, Tag("<scale_risk>")],
    ],
    Discriminator(_review_action_form, custom_error_type="action_form",
                  custom_error_message="must be one_per_pair or {scale_risk: f}"),
]


class CorrelationReviewSpec(_Model):
    """``rules.correlation_review`` (SPEC 12): every ``every_days`` days (the first review once
    ``window_days`` daily returns exist) each pair's correlation is estimated from the path's
    last ``window_days`` daily log returns; pairs at or above ``limit`` are flagged until the
    next review and ``action`` applies to them."""
    every_days: int = Field(21, ge=1)
    window_days: int = Field(63, ge=3, le=2520)
    limit: float = Field(0.8, ge=-1)
    action: ReviewActionSpec


class RulesSpec(_Model):
    risk_per_trade: float = Field(gt=0, le=1)
    margin_cap: Optional[float] = Field(None, gt=0, le=1)
    slippage_ticks: float = Field(1.0, ge=0)
    ruin: RuinSpec = Field(default_factory=RuinSpec)
    correlation_review: Optional[CorrelationReviewSpec] = None

    @field_validator("correlation_review", mode="before")
    @classmethod
    def _review_none(cls, v):
        return None if _is_none(v) else v

    @field_validator("ruin", mode="before")
    @classmethod
    def _never(cls, v):
        return {} if _is_none(v) else v

    @field_validator("margin_cap", mode="before")
    @classmethod
    def _none(cls, v):
        if _is_none(v):
            return None
        if isinstance(v, str):
            raise PydanticCustomError("number_or_none", "must be a number or none")
        return v


class TierSpec(_Model):
    """One scaling tier: from equity ``at`` on, trade ``contracts`` (name -> most held)."""
    at: Optional[float] = Field(None, gt=0)
    contracts: dict[Name, Annotated[int, Field(ge=1, le=MAX_CONTRACTS)]]
    demote_buffer: float = Field(0.0, ge=0, lt=1)


class ContractOverride(_Model):
    """Catalog override (any subset of fields) or a new contract (all six fields)."""
    market: Optional[Name] = None
    point_value: Optional[float] = Field(None, gt=0)
    tick_size: Optional[float] = Field(None, gt=0)
    initial_margin: Optional[float] = Field(None, gt=0)
    maintenance_margin: Optional[float] = Field(None, gt=0)
    commission: Optional[float] = Field(None, ge=0)


class CorrelationMatrixSpec(_Model):
    """Full-matrix form: ``matrix`` rows/columns in the order of ``order``."""
    matrix: list[list[float]]
    order: list[Name]


def _correlation_form(v: Any) -> str:
    return "<matrix>" if isinstance(v, dict) and ("matrix" in v or "order" in v) else "<pairs>"


CorrelationSpec = Annotated[
    Union[
        Annotated[dict[str, Annotated[float, Field(ge=-1, le=1)]], Tag("<pairs>")],
        Annotated[CorrelationMatrixSpec, Tag("<matrix>")],
    ],
    Discriminator(_correlation_form),
]


class RegimeStateSpec(_Model):
    """One market regime (SPEC 6): its own correlation (default: the top-level one), a
    volatility multiplier, and (unless ``regimes.transitions`` is given) its expected length."""
    correlation: Optional[CorrelationSpec] = None
    vol_mult: float = Field(1.0, gt=0, le=20)
    expected_days: Optional[float] = Field(None, ge=1)


class RegimesSpec(_Model):
    """``regimes:`` -- a daily Markov chain over ``states`` (switches between days)."""
    states: dict[Name, RegimeStateSpec] = Field(min_length=1)
    transitions: Optional[list[list[Annotated[float, Field(ge=0, le=1)]]]] = None
    start: Optional[Name] = None


class TailsSpec(_Model):
    """``tails:`` -- standardized multivariate Student-t shocks (one shared chi-square)."""
    student_t: float = Field(gt=2, le=1000)


class GapSpec(_Model):
    """A jump of the log price at a day boundary: occurs with ``probability`` each day, size
    normal with ``mean`` and ``sd`` (log units: -0.05 is about a 5% gap down)."""
    probability: float = Field(ge=0, le=1)
    mean: float = Field(0.0, ge=-1, le=1)
    sd: float = Field(0.0, ge=0, le=1)


class HistorySpec(_Model):
    """``history:`` -- real daily bars as the price model (SPEC 11; docs/history.md).
    ``files``: market -> CSV (read like ``simrisk calibrate``; relative to the plan file);
    ``mode``: replay (every start date once) or bootstrap (stationary, mean block
    ``block_days``); ``from``/``to``: dates bounding the pool; ``scale``: plan (start at the
    plan's prices) or actual (real price levels); ``intraday_order``: bridge or stop_first."""
    model_config = ConfigDict(populate_by_name=True)
    files: dict[Name, str] = Field(min_length=1)
    mode: Literal["replay", "bootstrap"] = "bootstrap"
    block_days: float = Field(1.0, ge=1, le=100000)
    from_: Optional[Union[str, datetime.date]] = Field(None, alias="from")
    to: Optional[Union[str, datetime.date]] = None
    scale: Literal["plan", "actual"] = "plan"
    intraday_order: Literal["bridge", "stop_first"] = "bridge"


class StressSpec(_Model):
    """One row of ``stress:`` (run by ``simrisk stress``)."""
    name: str = Field(min_length=1)
    spike: float = Field(0.0, ge=0, le=1)
    adverse: bool = False
    vol_mult: float = Field(1.0, gt=0, le=20)
    student_t: Optional[float] = Field(None, gt=2, le=1000)
    window: Optional[Annotated[list[Annotated[int, Field(ge=1)]],
                               Field(min_length=2, max_length=2)]] = None


class Scenario(_Model):
    """A validated scenario. Build it with :func:`load_scenario` / :func:`parse_scenario`
    (``Scenario.model_validate`` alone skips the cross-field checks and the resolved tables).

    Fields are the YAML keys (``name, capital, horizon_days, steps_per_day, paths, seed,
    markets, correlation, contracts, strategies, rules, tiers``); dictionaries keep the
    file's order. Derived, read-only views: :attr:`source`, :attr:`market_names`,
    :attr:`contract_table`, :attr:`correlation_matrix`, :attr:`asset_classes`,
    :attr:`traded_markets`, :attr:`tier_contract_names`, and the per-market helpers
    :meth:`first_contract`, :meth:`start_atr`, :meth:`stop_distance0`,
    :meth:`target_distance0`.
    """
    name: Optional[str] = Field(None, min_length=1)
    capital: float = Field(gt=0)
    horizon_days: int = Field(ge=1)
    steps_per_day: int = Field(1, ge=1)
    paths: int = Field(DEFAULT_PATHS, ge=1)
    seed: int = Field(DEFAULT_SEED, ge=0)
    markets: dict[Name, MarketSpec] = Field(min_length=1)
    correlation: Optional[CorrelationSpec] = None
    contracts: dict[Name, ContractOverride] = Field(default_factory=dict)
    strategies: dict[Name, StrategySpec]
    rules: RulesSpec
    tiers: list[TierSpec] = Field(min_length=1)
    regimes: Optional[RegimesSpec] = None
    tails: Optional[TailsSpec] = None
    gaps: Optional[dict[Name, GapSpec]] = None
    stress: Optional[list[StressSpec]] = None
    history: Optional[HistorySpec] = None

    _source: str = PrivateAttr("<dict>")
    _contracts: dict[str, ContractSpec] = PrivateAttr(default_factory=dict)
    _corr: Optional[np.ndarray] = PrivateAttr(None)
    _regime_corr: list = PrivateAttr(default_factory=list)
    _transitions: Optional[np.ndarray] = PrivateAttr(None)
    _history: Any = PrivateAttr(None)         # simcore.history.HistoryData of `history:`

    @field_validator("contracts", mode="before")
    @classmethod
    def _empty_contracts(cls, v):
        return {} if v is None else v

    # --- derived views ------------------------------------------------------------------
    @property
    def source(self) -> str:
        """Where the scenario came from (file path, or ``<dict>``)."""
        return self._source

    @property
    def market_names(self) -> tuple[str, ...]:
        """Markets in file order (the kernel's market order)."""
        return tuple(self.markets)

    @property
    def contract_table(self) -> Mapping[str, ContractSpec]:
        """Resolved contracts: the built-in catalog with the scenario's overrides and new
        contracts applied (read-only)."""
        self._resolved()
        return MappingProxyType(self._contracts)

    def _resolved(self) -> None:
        if self._corr is None:
            raise RuntimeError("Scenario was not built by parse_scenario/load_scenario: "
                               "cross-field checks and resolved tables are missing")

    @property
    def correlation_matrix(self) -> np.ndarray:
        """The (M, M) correlation matrix in :attr:`market_names` order (read-only view)."""
        self._resolved()
        v = self._corr.view()
        v.flags.writeable = False
        return v

    @property
    def regime_names(self) -> tuple[str, ...]:
        """Regime names in file order (``("base",)`` without ``regimes:``)."""
        return tuple(self.regimes.states) if self.regimes else ("base",)

    @property
    def regime_correlations(self) -> list:
        """One (M, M) correlation matrix per regime, in :attr:`regime_names` order."""
        self._resolved()
        return list(self._regime_corr) if self._regime_corr else [self._corr]

    @property
    def regime_transitions(self) -> np.ndarray:
        """The daily transition matrix (G, G), rows summing to 1."""
        self._resolved()
        return self._transitions.copy() if self._transitions is not None else np.ones((1, 1))

    @property
    def asset_classes(self) -> dict[str, str]:
        """Market -> asset class (the stated one, else the catalog default, else "other")."""
        return {m: spec.asset_class or default_asset_class(m) for m, spec in self.markets.items()}

    @property
    def tier_contract_names(self) -> tuple[str, ...]:
        """Every contract named in a tier, in order of first appearance."""
        seen: dict[str, None] = {}
        for tier in self.tiers:
            for c in tier.contracts:
                seen.setdefault(c, None)
        return tuple(seen)

    @property
    def traded_markets(self) -> tuple[str, ...]:
        """Markets some tier trades, in market order."""
        traded = {self._contracts[c].market for c in self.tier_contract_names}
        return tuple(m for m in self.markets if m in traded)

    def first_contract(self, market: str) -> Optional[str]:
        """The contract of the first tier that trades ``market`` (None if none does)."""
        for tier in self.tiers:
            for c in tier.contracts:
                if self._contracts[c].market == market:
                    return c
        return None

    def start_atr(self, market: str) -> float:
        """ATR at the start, price units: sqrt(8/pi) * price * vol / sqrt(252)."""
        m = self.markets[market]
        return ATR_FACTOR * m.price * m.vol / math.sqrt(TRADING_DAYS)

    def stop_distance0(self, market: str) -> Optional[float]:
        """Stop distance in price units at the start (ATR stops at the starting ATR;
        ticks x the tick size of :meth:`first_contract`); None without a stop/strategy."""
        strat = self.strategies.get(market)
        if strat is None or strat.stop is None:
            return None
        stop = strat.stop
        if stop.kind == "atr":
            return stop.value * self.start_atr(market)
        if stop.kind == "points":
            return stop.value
        return stop.value * self._contracts[self.first_contract(market)].tick_size

    def target_distance0(self, market: str) -> Optional[float]:
        """Target distance in price units at the start (r x the start stop distance)."""
        strat = self.strategies.get(market)
        if strat is None or strat.target is None:
            return None
        if strat.target.kind == "points":
            return strat.target.value
        stop = self.stop_distance0(market)
        return None if stop is None else strat.target.value * stop


# ------------------------------------------------------------------------------------------
# Parsing: shape errors -> ScenarioError
# ------------------------------------------------------------------------------------------
def parse_scenario(data: Any, source: str = "<dict>") -> Scenario:
    """Validate a loaded mapping (e.g. ``yaml.safe_load`` output) into a :class:`Scenario`.

    Raises :class:`ScenarioError` (first problem only, one line) and nothing else for bad input.
    """
    if data is None:
        raise ScenarioError(source, "is empty")
    if not isinstance(data, dict):
        raise ScenarioError(source, f"must be a mapping of keys, not a {_kind(data)}")
    data, ref, from_fragment = _resolve_include(data, source)
    try:
        try:
            scn = Scenario.model_validate(data)
        except ValidationError as e:
            raise _to_scenario_error(e) from None
        if scn.name is None:
            stem = Path(source).stem if not source.startswith("<") else ""
            scn = scn.model_copy(update={"name": stem or "unnamed"})
        scn._source = source
        for check in _CHECKS:
            check(scn)
    except ScenarioError as e:
        if ref is not None and _from_fragment(e.field, from_fragment):
            raise ScenarioError(e.field, f"{e.problem} (from include {ref})") from None
        raise
    return scn


# ------------------------------------------------------------------------------------------
# include: a plan fragment (e.g. from `simrisk calibrate -o`) under the plan's own keys
# ------------------------------------------------------------------------------------------
def _resolve_include(data: dict, source: str):
    """``include: FRAGMENT.yaml`` (relative to the plan's folder; to the working folder for
    a plan given as a dict): the fragment's keys with the plan's on top. Mappings merge key by
    key at every depth, the plan's value winning; anything else (numbers, lists such as
    ``stress`` or ``tiers``, null) from the plan replaces the fragment's, and a correlation
    given as a full matrix replaces the other side's correlation whole. A fragment cannot
    include another. Returns ``(merged, ref, paths)``, ``paths`` the dotted fields whose
    values came from the fragment alone (to name it in errors)."""
    if "include" not in data:
        return data, None, set()
    ref = data["include"]
    if not isinstance(ref, str) or not ref.strip():
        raise ScenarioError("include", "must be the path of a plan fragment (a YAML file)")
    base = Path(source).parent if not source.startswith("<") else Path.cwd()
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = base / path
    from ._files import note_input
    note_input(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("include", f"{ref}: no such file ({path})") from None
    except IsADirectoryError:
        raise ScenarioError("include", f"{ref}: is a directory, not a YAML file") from None
    except UnicodeDecodeError:
        raise ScenarioError("include", f"{ref}: is not UTF-8 text") from None
    except OSError as e:
        raise ScenarioError("include", f"{ref}: cannot read ({e.strerror or e})") from None
    frag = load_yaml(text, str(path))
    if frag is None:
        raise ScenarioError("include", f"{ref}: is empty")
    if not isinstance(frag, dict):
        raise ScenarioError("include", f"{ref}: must be a mapping of plan keys, not a "
                                       f"{_kind(frag)}")
    if "include" in frag:
        raise ScenarioError("include", f"{ref}: a fragment cannot include another")
    plan = {k: v for k, v in data.items() if k != "include"}
    paths: set = set()
    return _merge(frag, plan, "", paths), ref, paths


def _merge(base: dict, over: dict, path: str, from_base: set) -> dict:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if (isinstance(old, dict) and isinstance(value, dict)
                and not (key == "correlation" and "<matrix>" in (_correlation_form(old),
                                                                 _correlation_form(value)))):
            out[key] = _merge(old, value, _join(path, key), from_base)
        else:
            out[key] = value
    for key in base:
        if key not in over:
            from_base.add(_join(path, key))
    return out


def _from_fragment(field: str, from_base: set) -> bool:
    """Whether the dotted ``field`` (or a key above it) came from the fragment alone."""
    for m in re.finditer(r"[.\[]", field + "."):
        if field[:m.start()] in from_base:
            return True
    return False


def _kind(v: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number",
            bool: "boolean"}.get(type(v), type(v).__name__)


def _fmt(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return str(x)


def _field_of(loc: tuple) -> tuple[str, bool]:
    """Dotted field from a pydantic loc; also whether the error is about a mapping key."""
    path, is_key = "", False
    for i, x in enumerate(loc):
        if x == "[key]":
            is_key = True
        elif isinstance(x, str) and x.startswith("<") and x.endswith(">"):
            continue                    # tag of a tagged union (correlation form)
        elif isinstance(x, int) and not isinstance(x, bool) and loc[i + 1:i + 2] != ("[key]",):
            path = f"{path}[{x}]"       # a list index
        else:
            path = _join(path, str(x))  # a field or a mapping key
    return path, is_key


_HINTS = {
    "vol": " (annual, as a fraction: 0.18 means 18%)",
    "drift": " (annual, as a fraction: 0.05 means 5%)",
    "win_rate": " (a probability: 0.4 means 40%)",
}


def _to_scenario_error(exc: ValidationError) -> ScenarioError:
    errors = exc.errors(include_url=False)
    # An unknown key is usually a typo that also causes a "missing" error: report it first.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(err["loc"])
    field, is_key = _field_of(loc)
    typ, ctx = err["type"], err.get("ctx") or {}
    last = next((x for x in reversed(loc) if isinstance(x, str) and x != "[key]"), "")

    if is_key:
        problem = ("name must be a string" if typ == "string_type"
                   else "invalid name: use only letters, digits, '_' and '-'")
    elif typ == "missing":
        problem = "missing"
    elif typ == "extra_forbidden":
        problem = "unknown key" + _did_you_mean(str(loc[-1]), _known_keys(loc[:-1]))
    elif typ in ("int_type", "int_parsing", "int_from_float"):
        problem = "must be an integer"
    elif typ in ("float_type", "float_parsing"):
        problem = "must be a number"
    elif typ == "finite_number":
        problem = "must be a finite number"
    elif typ in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op, key = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
                   "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}[typ]
        problem = f"must be {op} {_fmt(ctx[key])}"
        if last in _HINTS:
            problem += _HINTS[last]
        elif typ.startswith("less") and ctx[key] == 1:
            problem += " (a fraction: 0.02 means 2%)"
    elif typ == "literal_error":
        problem = "must be one of " + ", ".join(re.findall(r"'([^']*)'", ctx.get("expected", "")))
    elif typ in ("dict_type", "model_type", "model_attributes_type"):
        problem = "must be a mapping"
    elif typ == "list_type":
        problem = "must be a list"
    elif typ == "string_type":
        problem = "must be a string"
    elif typ == "bool_type":
        problem = "must be true or false"
    elif typ in ("too_short", "string_too_short"):
        problem = "must not be empty"
    elif typ == "string_pattern_mismatch":
        problem = "invalid name: use only letters, digits, '_' and '-'"
    elif typ == "value_error":
        problem = str(ctx.get("error", err["msg"]))
    else:                               # our PydanticCustomError messages, or anything else
        msg = str(err["msg"]).splitlines()[0]
        problem = msg[:1].lower() + msg[1:]
    return ScenarioError(field, problem)


def _unwrap(t: Any, tag: Optional[str] = None) -> Any:
    """Strip Annotated/Optional/tagged-Union wrappers from a type annotation."""
    while True:
        origin = typing.get_origin(t)
        if origin is Annotated:
            t = typing.get_args(t)[0]
        elif origin is Union:
            members = [a for a in typing.get_args(t) if a is not type(None)]
            pick = members[0]
            if tag is not None:
                for a in members:
                    meta = typing.get_args(a)[1:] if typing.get_origin(a) is Annotated else ()
                    if any(isinstance(m, Tag) and m.tag == tag for m in meta):
                        pick = a
            t = pick
        else:
            return t


def _known_keys(parent_loc: tuple) -> list[str]:
    """Field names of the model at ``parent_loc`` (for did-you-mean hints)."""
    t: Any = Scenario
    for x in parent_loc:
        tag = x if isinstance(x, str) and x.startswith("<") else None
        t = _unwrap(t, tag)
        if tag is not None:
            continue
        if isinstance(t, type) and issubclass(t, BaseModel):
            f = t.model_fields.get(x)
            if f is None:
                return []
            t = f.annotation
        elif typing.get_origin(t) in (dict, list):
            t = typing.get_args(t)[-1]
        else:
            return []
    t = _unwrap(t)
    return list(t.model_fields) if isinstance(t, type) and issubclass(t, BaseModel) else []


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


# ------------------------------------------------------------------------------------------
# Cross-field checks. Each takes the shape-valid Scenario, raises ScenarioError, and may
# fill private derived state. They run in order; the first problem wins.
# ------------------------------------------------------------------------------------------
MIN_VOL = 1e-4    # below this a volatility is a typo, and ATR stops shrink to nothing
PSD_TOLERANCE = 1e-9    # eigenvalues above -this are rounding of a semi-definite matrix


def _check_sizes(s: Scenario) -> None:
    for m, spec in s.markets.items():
        if spec.vol < MIN_VOL:
            raise ScenarioError(f"markets.{m}.vol", f"must be at least {MIN_VOL:g} (a fraction "
                                                    "a year: 0.18 means 18%)")
    if s.horizon_days * s.steps_per_day > _MAX_STEPS:
        raise ScenarioError("steps_per_day", "horizon_days x steps_per_day is too large")
    for m, st in s.strategies.items():
        for key in ("max_hold_days", "cooldown_days"):
            if getattr(st, key) * s.steps_per_day > _MAX_STEPS:
                raise ScenarioError(f"strategies.{m}.{key}", "too large")


def _unknown_market(s: Scenario, name: str) -> str:
    return f"unknown market {name}" + _did_you_mean(name, s.markets)


def _check_correlation(s: Scenario) -> None:
    s._corr = _correlation_from(s, s.correlation, "correlation")


def _correlation_from(s: Scenario, spec, where: str) -> np.ndarray:
    """The (M, M) matrix of a correlation spec (pairs or full matrix), checked per SPEC 3;
    errors are reported under the dotted prefix ``where``."""
    names = list(s.markets)
    M = len(names)
    pos = {n: i for i, n in enumerate(names)}
    R = np.eye(M)
    if isinstance(spec, CorrelationMatrixSpec):
        seen: set = set()
        for i, n in enumerate(spec.order):
            if n not in pos:
                raise ScenarioError(f"{where}.order[{i}]", _unknown_market(s, n))
            if n in seen:
                raise ScenarioError(f"{where}.order[{i}]", f"{n} listed twice")
            seen.add(n)
        missing = [n for n in names if n not in seen]
        if missing:
            raise ScenarioError(f"{where}.order", f"missing market {missing[0]} "
                                                     "(list every market once)")
        rows = spec.matrix
        if len(rows) != M or any(len(r) != M for r in rows):
            raise ScenarioError(f"{where}.matrix", f"must be {M} x {M} (one row and one "
                                                      "column per market in order)")
        A = np.array(rows, dtype=float)
        for i in range(M):
            for j in range(M):
                if not -1.0 <= A[i, j] <= 1.0:
                    raise ScenarioError(f"{where}.matrix[{i}][{j}]",
                                        "must be between -1 and 1")
        for i in range(M):
            if A[i, i] != 1.0:
                raise ScenarioError(f"{where}.matrix", f"diagonal must be 1 (row {i}, "
                                                          f"{spec.order[i]}, is {_fmt(A[i, i])})")
        for i in range(M):
            for j in range(i + 1, M):
                if abs(A[i, j] - A[j, i]) > 1e-12:
                    raise ScenarioError(
                        f"{where}.matrix",
                        f"not symmetric ({spec.order[i]}/{spec.order[j]} is {_fmt(A[i, j])} "
                        f"but {spec.order[j]}/{spec.order[i]} is {_fmt(A[j, i])})")
        perm = [pos[n] for n in spec.order]
        R[np.ix_(perm, perm)] = (A + A.T) / 2.0
    elif spec:
        given: dict = {}
        for key, value in spec.items():
            field = f"{where}.{key}"
            parts = key.split("/")
            if len(parts) != 2 or not all(parts):
                raise ScenarioError(field, "a pair must be written A/B (two market names)")
            a, b = (p.strip() for p in parts)
            for n in (a, b):
                if n not in pos:
                    raise ScenarioError(field, _unknown_market(s, n))
            if a == b:
                raise ScenarioError(field, "a market's correlation with itself is 1; "
                                           "list pairs of two markets")
            pair = frozenset((a, b))
            if pair in given:
                raise ScenarioError(field, f"pair listed twice (also as {given[pair]})")
            given[pair] = key
            R[pos[a], pos[b]] = R[pos[b], pos[a]] = value
    # Positive semi-definite is a valid correlation matrix (SPEC 3): a pair at +1 or -1 (two
    # markets on one underlying) makes it singular, and the build factors it with zero pivots.
    # Only an indefinite matrix -- no set of markets can have these correlations -- is refused.
    lam = float(np.linalg.eigvalsh(R)[0]) if M > 1 else 1.0
    if lam < -PSD_TOLERANCE:
        raise ScenarioError(where, f"not positive semi-definite (smallest eigenvalue "
                                           f"{lam:.2g}): no markets can have these "
                                           "correlations together")
    return R


def _check_contracts(s: Scenario) -> None:
    table = dict(CATALOG)
    for name, ov in s.contracts.items():
        given = {k: v for k, v in ov.model_dump().items() if v is not None}
        if name in table:
            spec = dataclasses.replace(table[name], **given)
        else:
            for k in CONTRACT_FIELDS:
                if k not in given:
                    raise ScenarioError(f"contracts.{name}.{k}",
                                        "missing (a contract not in the built-in catalog "
                                        "needs all of " + ", ".join(CONTRACT_FIELDS) + ")")
            spec = ContractSpec(**given)
        if spec.maintenance_margin > spec.initial_margin:
            raise ScenarioError(f"contracts.{name}.maintenance_margin",
                                f"must be <= initial_margin ({_fmt(spec.maintenance_margin)}"
                                f" > {_fmt(spec.initial_margin)})")
        table[name] = spec
    s._contracts = table


def _check_tiers(s: Scenario) -> None:
    table = s._contracts
    prev = None
    for k, tier in enumerate(s.tiers):
        here = f"tiers[{k}]"
        if tier.at is None and k > 0:
            raise ScenarioError(f"{here}.at", "missing (only the first tier may omit it)")
        if tier.at is not None and prev is not None and not tier.at > prev:
            raise ScenarioError(f"{here}.at", f"must be above the previous tier's "
                                              f"({_fmt(prev)}): tiers ascend")
        prev = tier.at if tier.at is not None else prev
        if k == 0 and tier.demote_buffer > 0:
            raise ScenarioError(f"{here}.demote_buffer", "the first tier is never left, so "
                                                         "it takes no demotion buffer")
        by_market: dict[str, str] = {}
        for c in tier.contracts:
            if c not in table:
                raise ScenarioError(f"{here}.contracts.{c}",
                                    "unknown contract" + (_did_you_mean(c, table) or
                                    ": not in the built-in catalog or under contracts"))
            m = table[c].market
            if m not in s.markets:
                raise ScenarioError(f"{here}.contracts.{c}", f"trades {m}, which is not "
                                                             "listed under markets")
            if m in by_market:
                raise ScenarioError(f"{here}.contracts", f"{by_market[m]} and {c} both trade "
                                                         f"{m} (one contract per market)")
            by_market[m] = c


def _check_strategies(s: Scenario) -> None:
    traded: dict[str, str] = {}          # market -> "tiers[k] with C" (first)
    for k, tier in enumerate(s.tiers):
        for c in tier.contracts:
            traded.setdefault(s._contracts[c].market, f"tiers[{k}] trades it with {c}")
    for m in s.strategies:
        if m not in s.markets:
            raise ScenarioError(f"strategies.{m}", _unknown_market(s, m))
    for m in s.markets:
        if m in traded and m not in s.strategies:
            raise ScenarioError(f"strategies.{m}", f"missing ({traded[m]})")
    for m, st in s.strategies.items():
        here = f"strategies.{m}"
        if m not in traded:
            raise ScenarioError(here, f"{m} is not traded in any tier (add its contract to "
                                      "tiers, or remove this strategy)")
        if st.alpha is not None and st.win_rate is not None:
            raise ScenarioError(f"{here}.win_rate", "give alpha or win_rate, not both")
        if st.target is not None and st.target.kind == "r" and st.stop is None:
            raise ScenarioError(f"{here}.target", "{r: m} is a multiple of the stop "
                                                  "distance, so it needs a stop")
        if st.win_rate is not None and (st.stop is None or st.target is None):
            raise ScenarioError(f"{here}.win_rate", "needs both a stop and a target "
                                                    "(use alpha otherwise)")
        price = s.markets[m].price
        stop, target = s.stop_distance0(m), s.target_distance0(m)
        if stop is not None and st.direction in ("long", "both") and not stop < price:
            raise ScenarioError(f"{here}.stop", f"distance {stop:.6g} at the start is not "
                                                f"below the price {_fmt(price)}")
        if target is not None and st.direction in ("short", "both") and not target < price:
            raise ScenarioError(f"{here}.target", f"distance {target:.6g} at the start is "
                                                  f"not below the price {_fmt(price)}")


def _check_rules(s: Scenario) -> None:
    below = s.rules.ruin.below
    if below is not None and below >= s.capital:
        raise ScenarioError("rules.ruin.below", f"must be below capital ({_fmt(s.capital)})")
    review = s.rules.correlation_review
    if review is not None and len(s.markets) < 2:
        raise ScenarioError("rules.correlation_review", "needs at least two markets (it "
                                                        "reviews pairs)")


def _check_regimes(s: Scenario) -> None:
    if s.regimes is None:
        return
    states = list(s.regimes.states)
    G = len(states)
    s._regime_corr = [
        _correlation_from(s, st.correlation, f"regimes.states.{g}.correlation")
        if st.correlation is not None else s._corr
        for g, st in s.regimes.states.items()]
    if s.regimes.start is not None and s.regimes.start not in s.regimes.states:
        raise ScenarioError("regimes.start", f"unknown regime {s.regimes.start}"
                            + _did_you_mean(s.regimes.start, states))
    P = s.regimes.transitions
    if P is not None:
        if len(P) != G or any(len(row) != G for row in P):
            raise ScenarioError("regimes.transitions", f"must be {G} x {G} (rows and columns "
                                                       "in the order of regimes.states)")
        for i, row in enumerate(P):
            if abs(sum(row) - 1.0) > 1e-9:
                raise ScenarioError(f"regimes.transitions[{i}]",
                                    f"must sum to 1 (sums to {sum(row):.6g})")
        for g, st in s.regimes.states.items():
            if st.expected_days is not None:
                raise ScenarioError(f"regimes.states.{g}.expected_days",
                                    "give transitions or expected_days, not both")
        s._transitions = np.array(P, dtype=float)
    else:
        A = np.zeros((G, G))
        for i, (g, st) in enumerate(s.regimes.states.items()):
            if G == 1:
                A[0, 0] = 1.0
                continue
            if st.expected_days is None:
                raise ScenarioError(f"regimes.states.{g}.expected_days",
                                    "missing (or give regimes.transitions)")
            leave = 1.0 / st.expected_days
            A[i, :] = leave / (G - 1)
            A[i, i] = 1.0 - leave
        s._transitions = A


def _check_gaps(s: Scenario) -> None:
    if not s.gaps:
        return
    for key in s.gaps:
        if key != "common" and key not in s.markets:
            raise ScenarioError(f"gaps.{key}", _unknown_market(s, key) +
                                " (keys are market names, or common)")
    if "common" in s.gaps and len(s.gaps) > 1:
        other = next(k for k in s.gaps if k != "common")
        raise ScenarioError(f"gaps.{other}", "give per-market gaps or common, not both")


def _check_stress(s: Scenario) -> None:
    seen: set = set()
    for i, row in enumerate(s.stress or ()):
        if row.name in seen:
            raise ScenarioError(f"stress[{i}].name", f"{row.name} listed twice")
        seen.add(row.name)
        if row.spike == 0 and row.vol_mult == 1 and row.student_t is None:
            raise ScenarioError(f"stress[{i}]", "changes nothing (give spike, vol_mult or "
                                                "student_t)")
        if row.window is not None:
            # against the horizon only when the row is run (`simrisk stress`, whose --horizon
            # may shorten it): `simrisk run` never uses these rows
            lo, hi = row.window
            if not lo <= hi:
                raise ScenarioError(f"stress[{i}].window",
                                    "must be [first day, last day] with 1 <= first <= last")


def _history_date(v, where: str):
    import pandas as pd
    try:
        ts = pd.Timestamp(str(v))
    except (ValueError, TypeError):
        raise ScenarioError(where, f"{v!r} is not a date (YYYY-MM-DD)") from None
    if ts is pd.NaT:
        raise ScenarioError(where, f"{v!r} is not a date (YYYY-MM-DD)")
    return ts.normalize()


def _check_history(s: Scenario) -> None:
    """``history:`` (SPEC 11): daily bars drive the prices, so the GBM-only keys go; every
    market has a file; the files share enough dates for the horizon (loaded here, once)."""
    h = s.history
    if h is None:
        return
    if s.steps_per_day != 1:
        raise ScenarioError("steps_per_day", "must be 1 with history: (one step a day: daily "
                                             "bars)")
    for key in ("regimes", "tails", "gaps"):
        if getattr(s, key) is not None:
            raise ScenarioError(key, "the history is the price model: regimes, tails and gaps "
                                     "belong to GBM (remove the key, or history:)")
    for m, st in s.strategies.items():
        for key in ("alpha", "win_rate"):
            if getattr(st, key) is not None:
                raise ScenarioError(f"strategies.{m}.{key}", "an edge cannot move real prices "
                                                             "(history:); remove it")
    for i, row in enumerate(s.stress or ()):
        raise ScenarioError(f"stress[{i}]", "spike, vol_mult and student_t stress the GBM "
                                            "model; this plan's prices are real history")
    frm = _history_date(h.from_, "history.from") if h.from_ is not None else None
    to = _history_date(h.to, "history.to") if h.to is not None else None
    if frm is not None and to is not None and frm > to:
        raise ScenarioError("history.to", f"{to.date()} is before from ({frm.date()})")
    from .history import load_history
    h2 = h.model_copy(update={"from_": frm, "to": to})
    s._history = load_history(h2, s.market_names, s.source, s.horizon_days)


_CHECKS = [_check_sizes, _check_correlation, _check_contracts, _check_tiers,
           _check_strategies, _check_rules, _check_regimes, _check_gaps, _check_stress, _check_history]
