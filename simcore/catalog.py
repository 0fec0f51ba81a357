"""Built-in contract catalog (SPEC 2): CME Micro futures and their full-size siblings.

Point values and tick sizes are the exchange's contract specifications, exactly as in the
SPEC table. **Margins and commissions are not**: they are approximate, dated defaults, so
that a scenario runs out of the box. They are CME-style figures:

* ``maintenance_margin`` -- roughly CME's published maintenance (performance bond) level
  for an outright position, as of :data:`MARGINS_AS_OF`;
* ``initial_margin`` -- 110% of maintenance, CME's convention for speculative accounts;
* ``commission`` -- a typical all-in retail figure per contract **per side** (broker
  commission + exchange + NFA fees) at a low-cost futures broker.

Exchange margins move with volatility (CME changes them several times a year), brokers
often require more than the exchange minimum, and "day-trade" margins offered by some
brokers apply only to positions closed before the session ends. Override every figure
with your broker's in the scenario's ``contracts:`` section, e.g.::

    contracts:
      MES: {initial_margin: 2600, maintenance_margin: 2360, commission: 0.85}

Contract names and default market names are the keys a scenario uses. A contract trades a
*market* (the underlying): MES and ES both trade ``SP500``; a scenario that names its
S&P market differently must say so (``contracts: {MES: {market: SPX}}``).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

__all__ = [
    "MARGINS_AS_OF", "CONTRACT_FIELDS", "ASSET_CLASSES", "ContractSpec", "CATALOG",
    "DEFAULT_ASSET_CLASS", "MICRO_OF", "default_asset_class",
]

#: Year-month the default margins and commissions below were last reviewed.
MARGINS_AS_OF = "2026-11"

#: The six fields of a contract, in the order the scenario reference documents them.
CONTRACT_FIELDS = ("market", "point_value", "tick_size", "initial_margin",
                   "maintenance_margin", "commission")

#: Asset classes a market may declare (``markets.NAME.asset_class``). Reporting only.
ASSET_CLASSES = ("equity", "metal", "energy", "currency", "rates", "agriculture", "crypto",
                 "other")


@dataclass(frozen=True)
class ContractSpec:
    """One futures contract. Money in USD; prices in the market's quote units."""
    market: str                 # the underlying it trades (a key of the scenario's ``markets``)
    point_value: float          # USD per 1.0 of price
    tick_size: float            # minimum price increment
    initial_margin: float       # USD per contract, to open
    maintenance_margin: float   # USD per contract, to keep open (<= initial)
    commission: float           # USD per contract per side, all-in


def _pair(market: str, micro: str, full: str, pv_micro: float, pv_full: float,
          tick_micro: float, tick_full: float, mm_micro: float, mm_full: float,
          comm_micro: float, comm_full: float) -> dict[str, ContractSpec]:
    # initial = 110% of maintenance (CME's speculator convention), rounded to the dollar
    return {
        micro: ContractSpec(market, pv_micro, tick_micro, float(round(1.1 * mm_micro)), mm_micro,
                            comm_micro),
        full: ContractSpec(market, pv_full, tick_full, float(round(1.1 * mm_full)), mm_full,
                           comm_full),
    }


# market, micro, full, point values, ticks, maintenance margins (micro, full), commissions
_ROWS = (
    ("SP500",       "MES", "ES",  5.0,    50.0,     0.25,   0.25,    2_200.0, 22_000.0, 0.62, 2.25),
    ("NASDAQ100",   "MNQ", "NQ",  2.0,    20.0,     0.25,   0.25,    3_200.0, 32_000.0, 0.62, 2.25),
    ("DOW",         "MYM", "YM",  0.5,    5.0,      1.0,    1.0,     1_500.0, 15_000.0, 0.62, 2.25),
    ("RUSSELL2000", "M2K", "RTY", 5.0,    50.0,     0.1,    0.1,       850.0,  8_500.0, 0.62, 2.25),
    ("GOLD",        "MGC", "GC",  10.0,   100.0,    0.1,    0.1,     1_150.0, 11_500.0, 0.82, 2.37),
    ("SILVER",      "SIL", "SI",  1000.0, 5000.0,   0.005,  0.005,   3_200.0, 16_000.0, 1.02, 2.37),
    ("CRUDE",       "MCL", "CL",  100.0,  1000.0,   0.01,   0.01,      600.0,  6_000.0, 0.82, 2.37),
    ("EURUSD",      "M6E", "6E",  12500.0, 125000.0, 0.0001, 0.00005,  260.0,  2_600.0, 0.52, 2.52),
    ("GBPUSD",      "M6B", "6B",  6250.0, 62500.0,  0.0001, 0.0001,    230.0,  2_300.0, 0.52, 2.52),
)

_catalog: dict[str, ContractSpec] = {}
_micro_of: dict[str, str] = {}
for _row in _ROWS:
    _catalog.update(_pair(*_row))
    _micro_of[_row[2]] = _row[1]

#: Contract name -> spec. Read-only; a scenario's ``contracts:`` overrides are merged on top
#: (see :attr:`simcore.scenario.Scenario.contract_table`).
CATALOG: Mapping[str, ContractSpec] = MappingProxyType(_catalog)

#: Full-size contract -> its micro sibling (ES -> MES ...).
MICRO_OF: Mapping[str, str] = MappingProxyType(_micro_of)

#: Default asset class of each default market name (used when a market omits ``asset_class``).
DEFAULT_ASSET_CLASS: Mapping[str, str] = MappingProxyType({
    "SP500": "equity", "NASDAQ100": "equity", "DOW": "equity", "RUSSELL2000": "equity",
    "GOLD": "metal", "SILVER": "metal",
    "CRUDE": "energy",
    "EURUSD": "currency", "GBPUSD": "currency",
})


def default_asset_class(market: str) -> str:
    """The asset class of a default market name, ``"other"`` for any other name."""
    return DEFAULT_ASSET_CLASS.get(market, "other")


del _row
