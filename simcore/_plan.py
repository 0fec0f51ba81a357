"""The compiled plan: the flat, typed arrays the kernel (and its Python twin) read.

A validated :class:`~simcore.scenario.Scenario` is turned into a :class:`Plan` once,
before any path is simulated (:func:`simcore.build.build_plan`). The kernel never sees
YAML, names or dictionaries: only these arrays. Every array is C-contiguous and is
treated as read-only by both implementations.

Index conventions
-----------------
M markets (the order of ``market_names``), C contracts (``contract_names``), K tiers
(ascending), G regimes. Time: ``n_days`` trading days of ``spd`` steps each;
step ``t`` (0-based) belongs to day ``t // spd + 1`` (1-based, as reported).

Stress layer (SPEC 6) -- ``chol`` and ``volmult`` carry a leading axis of length 2:
index 0 applies outside the stress window, index 1 on days ``win_lo..win_hi``
(1-based, inclusive). A plain run has identical halves and an empty window
(``win_lo = 1, win_hi = 0``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

# direction modes
LONG, SHORT, BOTH = 1, -1, 0
# stop kinds
STOP_NONE, STOP_ATR, STOP_FIXED = 0, 1, 2
# target kinds
TARGET_NONE, TARGET_R, TARGET_FIXED = 0, 1, 2
# skip reasons (columns of m_skip)
SKIP_RISK, SKIP_MARGIN_CAP, SKIP_FUNDS = 0, 1, 2
SKIP_REASONS = ("risk", "margin_cap", "funds")
# the correlation review's skip reason (rules.correlation_review; its own per-market counter,
# BlockOutput.m_corr_skip, so m_skip keeps its three columns)
SKIP_CORRELATION = "correlation"
SKIP_CORR = 3               # its code in the twin's event stream (on_event("skip", reason=3))
# correlation review actions (Plan.corr_action)
CORR_OFF, CORR_SCALE, CORR_ONE_PER_PAIR = 0, 1, 2
# real history as the price model (`history:`, SPEC 11; Plan.hist_mode)
HIST_OFF, HIST_REPLAY, HIST_BOOTSTRAP = 0, 1, 2
# history's intraday order (Plan.hist_order): both levels inside a day's range
ORDER_BRIDGE, ORDER_STOP_FIRST = 0, 1

# Random streams of a block, one BitGenerator each, spawned in this order from the block's
# SeedSequence. One stream per purpose keeps the random numbers of one purpose identical
# whatever the others do: a stress row that adds gaps, regimes or fat tails still sees the
# base row's normal shocks and exit uniforms (common random numbers, SPEC 6 / issue 4).
# "dates" (the 7th, added with `history:`) draws the stationary bootstrap's date choices; being
# the last child, it leaves the first six streams, hence every GBM result, unchanged.
STREAMS = ("shocks", "exits", "directions", "regimes", "gaps", "tails", "dates")


def block_streams(seed_seq):
    """The block's BitGenerators (PCG64), one per entry of ``STREAMS``: the children
    ``seed_seq.spawn(len(STREAMS))`` of a fresh ``seed_seq``, made without advancing its spawn
    counter, so the same SeedSequence always gives the same streams."""
    import numpy as _np
    key = tuple(seed_seq.spawn_key)
    return tuple(_np.random.PCG64(_np.random.SeedSequence(seed_seq.entropy, spawn_key=key + (k,),
                                                          pool_size=seed_seq.pool_size))
                 for k in range(len(STREAMS)))


# Paths per block. Part of the reproducibility contract (SPEC 8): changing it changes
# which random numbers each path sees, so it is a constant, not a tuning knob.
BLOCK_SIZE = 1024


@dataclass(frozen=True, eq=False)
class Plan:
    # --- time and money -------------------------------------------------------------
    n_days: int                 # horizon_days
    spd: int                    # steps_per_day
    dt: float                   # 1 / (252 * spd), years
    capital: float              # starting equity, USD

    # --- markets (M) ----------------------------------------------------------------
    market_names: tuple         # names, in kernel order
    logp0: np.ndarray           # f8[M] log start price
    mu: np.ndarray              # f8[M] annual drift
    sigma: np.ndarray           # f8[M] annual volatility (base, before multipliers)

    # --- correlation / regimes / stress (G regimes) ----------------------------------
    chol: np.ndarray            # f8[2, G, M, M] lower Cholesky factors
    volmult: np.ndarray         # f8[2, G] volatility multipliers
    trans_cum: np.ndarray       # f8[G, G] cumulative daily transition probabilities (rows end at 1)
    regime0: int                # starting regime
    win_lo: int                 # stress window, days (1-based, inclusive); empty if win_lo > win_hi
    win_hi: int
    student_nu: float           # 0 = normal shocks; > 2 = standardized multivariate Student-t
    gap_p: np.ndarray           # f8[M] probability of a gap at each day boundary (0 = none)
    gap_mu: np.ndarray          # f8[M] mean log jump
    gap_sd: np.ndarray          # f8[M] sd of log jump
    gap_common: int             # 1 = one jump event shared by all markets (uses market 0's draws)

    # --- strategies (M) -------------------------------------------------------------
    dir_mode: np.ndarray        # i4[M] LONG, SHORT or BOTH
    stop_kind: np.ndarray       # i4[M] STOP_*
    stop_val: np.ndarray        # f8[M] ATR multiple (STOP_ATR) or price distance (STOP_FIXED)
    target_kind: np.ndarray     # i4[M] TARGET_*
    target_val: np.ndarray      # f8[M] R multiple (TARGET_R) or price distance (TARGET_FIXED)
    alpha: np.ndarray           # f8[M] edge: annual log drift added in the trade's direction while open
    max_hold: np.ndarray        # i4[M] time stop in steps (0 = none)
    cooldown: np.ndarray        # i4[M] steps to wait after an exit before the next entry

    # --- contracts (C) --------------------------------------------------------------
    contract_names: tuple
    pv: np.ndarray              # f8[C] point value, USD per 1.0 of price
    tick: np.ndarray            # f8[C] tick size, price units
    im: np.ndarray              # f8[C] initial margin, USD per contract
    mm: np.ndarray              # f8[C] maintenance margin, USD per contract
    comm: np.ndarray            # f8[C] commission per contract per side, USD

    # --- tiers (K) ------------------------------------------------------------------
    tier_thr: np.ndarray        # f8[K] threshold for the current-tier rule; tier_thr[0] = -inf
    tier_buf: np.ndarray        # f8[K] demotion buffer (0 = none)
    tier_reach: np.ndarray      # f8[K] threshold for "reached" reporting (-inf: reached at day 0)
    tier_contract: np.ndarray   # i4[K, M] contract index traded per market, -1 = not traded
    tier_max: np.ndarray        # i4[K, M] most contracts held per market

    # --- rules ----------------------------------------------------------------------
    risk_per_trade: float       # fraction of equity risked per trade
    margin_cap: float           # fraction of equity in initial margin per market (inf = no cap)
    slip_ticks: float           # slippage in ticks per side
    ruin_level: float           # ruin when equity < this (USD; -inf = no such rule)
    ruin_dd: float              # ruin when drawdown from peak >= this (inf = no such rule)

    # --- correlation review (rules.correlation_review; SPEC 12) -----------------------
    # On days d (1-based) with d % corr_every == 0 and d >= corr_window, each pair's Pearson
    # correlation of the last corr_window daily close-to-close log returns of the path; a pair
    # at or above corr_limit is flagged until the next review. CORR_OFF: no review at all
    # (the kernel then does exactly what it did before the rule existed).
    corr_action: int = CORR_OFF # CORR_OFF, CORR_SCALE or CORR_ONE_PER_PAIR
    corr_every: int = 0         # days between reviews
    corr_window: int = 0        # daily log returns per estimate (>= 3)
    corr_limit: float = 0.8     # flag when r >= corr_limit
    corr_scale: float = 1.0     # CORR_SCALE: risk per trade x this for a flagged pair's markets

    # --- real history as the price model (`history:`; SPEC 11) -------------------------
    # N pool dates (the aligned history's dates that have a previous close and a Wilder ATR,
    # within from/to). Per date d and market i, relative to the previous real close Cp:
    # hist_lrel[d, i] = (ln O/Cp, ln H/Cp, ln L/Cp, ln C/Cp); hist_tr[d, i] = TR_d / Cp;
    # hist_atr[d, i] = ATR(14) known before d's open / Cp (the seed when a path starts at d);
    # hist_pvar[d, i] = ln(H/L)^2 / (4 ln 2) (Parkinson); hist_lc0[d, i] = ln Cp (scale actual).
    # HIST_OFF: none of it is read (the GBM loop runs exactly as before).
    hist_mode: int = HIST_OFF   # HIST_OFF, HIST_REPLAY or HIST_BOOTSTRAP
    hist_lrel: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 4)))
    hist_tr: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    hist_atr: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    hist_pvar: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    hist_lc0: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    hist_block: float = 1.0     # bootstrap: mean block length L (1 = iid dates)
    hist_scale: int = 0         # 0 plan (start at logp0), 1 actual (start at the real close)
    hist_order: int = ORDER_BRIDGE
    hist_first: int = 0         # replay: the run's path index of the block's first path
                                # (path p of the block starts at pool date hist_first + p)

    # --- reporting extras (not read by the kernel) -----------------------------------
    tier_labels: tuple = ()     # the scenario's `at` per tier (None where omitted)
    alpha_source: tuple = ()    # per market: "alpha", "win_rate" or "none"
    target_win_rate: tuple = () # per market: the stated win_rate or None
    extras: dict = field(default_factory=dict)

    @property
    def M(self) -> int:
        return len(self.market_names)

    @property
    def K(self) -> int:
        return int(self.tier_thr.shape[0])

    @property
    def G(self) -> int:
        return int(self.trans_cum.shape[0])

    @property
    def hist_n(self) -> int:
        """Pool dates of the history (0 without one)."""
        return int(self.hist_lrel.shape[0]) if self.hist_mode != HIST_OFF else 0

    @property
    def hist_nstart(self) -> int:
        """Dates a path can start at: replay, those whose horizon fits; bootstrap, every one."""
        if self.hist_mode == HIST_REPLAY:
            return max(0, self.hist_n - self.n_days + 1)
        return self.hist_n

    @property
    def n_steps(self) -> int:
        return self.n_days * self.spd

    def with_(self, **changes) -> "Plan":
        """A copy with some fields replaced (used by stress rows and capital sizing)."""
        return replace(self, **changes)

    def validate_arrays(self) -> None:
        """Cheap structural checks (shapes, dtypes, contiguity) before handing to the kernel."""
        M, C, K, G = self.M, len(self.contract_names), self.K, self.G
        want = {
            "logp0": ("f8", (M,)), "mu": ("f8", (M,)), "sigma": ("f8", (M,)),
            "chol": ("f8", (2, G, M, M)), "volmult": ("f8", (2, G)), "trans_cum": ("f8", (G, G)),
            "gap_p": ("f8", (M,)), "gap_mu": ("f8", (M,)), "gap_sd": ("f8", (M,)),
            "dir_mode": ("i4", (M,)), "stop_kind": ("i4", (M,)), "stop_val": ("f8", (M,)),
            "target_kind": ("i4", (M,)), "target_val": ("f8", (M,)), "alpha": ("f8", (M,)),
            "max_hold": ("i4", (M,)), "cooldown": ("i4", (M,)),
            "pv": ("f8", (C,)), "tick": ("f8", (C,)), "im": ("f8", (C,)), "mm": ("f8", (C,)),
            "comm": ("f8", (C,)),
            "tier_thr": ("f8", (K,)), "tier_buf": ("f8", (K,)), "tier_reach": ("f8", (K,)),
            "tier_contract": ("i4", (K, M)), "tier_max": ("i4", (K, M)),
        }
        if self.hist_mode != HIST_OFF:
            N = self.hist_n
            want.update({"hist_lrel": ("f8", (N, M, 4)), "hist_tr": ("f8", (N, M)),
                         "hist_atr": ("f8", (N, M)), "hist_pvar": ("f8", (N, M)),
                         "hist_lc0": ("f8", (N, M))})
            if self.spd != 1 or N < 1 or self.hist_nstart < 1 or self.hist_block < 1.0:
                raise ValueError("plan.hist_*: history needs spd 1, dates for the horizon and "
                                 "a block length >= 1")
        for name, (dt, shape) in want.items():
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.dtype != np.dtype(dt) or a.shape != shape \
                    or not a.flags.c_contiguous:
                raise ValueError(f"plan.{name}: expected {dt}{shape} C-contiguous, got "
                                 f"{getattr(a, 'dtype', type(a))}{getattr(a, 'shape', '')}")


def plan_field_names() -> list[str]:
    return [f.name for f in fields(Plan)]


@dataclass
class BlockOutput:
    """Caller-owned output buffers for one block of ``n`` paths (filled by the kernel).

    Per path (length n): summaries only, never whole paths -- except ``equity`` which is
    allocated only when the caller asks for daily equity paths (shape (n, n_days + 1),
    column 0 = starting capital); otherwise it has shape (0, 0) and is not written.

    Per market (length M): sums over the block's paths, so memory does not grow with M x paths.
    """
    ruined: np.ndarray          # i1[n] 1 if ruined (absorbing)
    ruin_day: np.ndarray        # i4[n] day of ruin (1-based), -1 if never
    stop_day: np.ndarray        # i4[n] day the path stopped before the horizon (1-based): ruined,
                                #       blown (equity <= 0, with or without a ruin rule) or
                                #       void (nonfinite); -1 if it ran to the horizon
    blown: np.ndarray           # i1[n] 1 if equity reached <= 0
    margin_calls: np.ndarray    # i4[n]
    trades: np.ndarray          # i4[n] closed trades, all markets
    wins: np.ndarray            # i4[n]
    skipped: np.ndarray         # i4[n] skipped entries, all reasons and markets
    final_equity: np.ndarray    # f8[n]
    peak_equity: np.ndarray     # f8[n]
    max_dd: np.ndarray          # f8[n] maximum drawdown, fraction of peak
    tier_day: np.ndarray        # i4[n, K] first day at/above tier_reach[k], -1 never
    m_trades: np.ndarray        # i8[M]
    m_wins: np.ndarray          # i8[M]
    m_win_r: np.ndarray         # f8[M] sum of R over winning trades that had a stop
    m_win_rn: np.ndarray        # i8[M] number of those
    m_loss_r: np.ndarray        # f8[M] sum of R over losing trades that had a stop
    m_loss_rn: np.ndarray       # i8[M]
    m_skip: np.ndarray          # i8[M, 3] skipped entries by reason (SKIP_REASONS)
    m_gap_fills: np.ndarray     # i8[M] stops filled at a post-gap price
    m_beyond_1r: np.ndarray     # i8[M] of those, losses worse than -1R
    m_corr_skip: np.ndarray     # i8[M] entries skipped by the correlation review (reason
                                #       `correlation`): one_per_pair, or scale_risk leaving no
                                #       contract where the unscaled risk allowed one
    m_corr_reduced: np.ndarray  # i8[M] entries opened with fewer contracts than without the
                                #       review's scale_risk
    regime_days: np.ndarray     # i8[G] path-days spent in each regime (alive paths)
    regime_spells: np.ndarray   # i8[G] spells started in each regime (alive paths)
    corr_reviews: np.ndarray    # i4[n] correlation reviews held (0 when the rule is off)
    corr_flagged: np.ndarray    # i4[n] of those, reviews that flagged at least one pair
    corr_days: np.ndarray       # i4[n] days traded under a flag (a flag set at a review
                                #       counts from the next day to the next review)
    nonfinite: np.ndarray       # i1[n] 1 if the path's state became non-finite (NaN/inf):
                                #       the path stopped there and its figures are void
    equity: np.ndarray          # f8[n, n_days + 1] or f8[0, 0]

    @classmethod
    def allocate(cls, plan: Plan, n: int, record_equity: bool = False) -> "BlockOutput":
        M, K, G = plan.M, plan.K, plan.G
        return cls(
            ruined=np.zeros(n, np.int8), ruin_day=np.full(n, -1, np.int32),
            stop_day=np.full(n, -1, np.int32),
            blown=np.zeros(n, np.int8), margin_calls=np.zeros(n, np.int32),
            trades=np.zeros(n, np.int32), wins=np.zeros(n, np.int32),
            skipped=np.zeros(n, np.int32), final_equity=np.zeros(n),
            peak_equity=np.zeros(n), max_dd=np.zeros(n),
            tier_day=np.full((n, K), -1, np.int32),
            m_trades=np.zeros(M, np.int64), m_wins=np.zeros(M, np.int64),
            m_win_r=np.zeros(M), m_win_rn=np.zeros(M, np.int64),
            m_loss_r=np.zeros(M), m_loss_rn=np.zeros(M, np.int64),
            m_skip=np.zeros((M, 3), np.int64), m_gap_fills=np.zeros(M, np.int64),
            m_beyond_1r=np.zeros(M, np.int64),
            m_corr_skip=np.zeros(M, np.int64), m_corr_reduced=np.zeros(M, np.int64),
            regime_days=np.zeros(G, np.int64), regime_spells=np.zeros(G, np.int64),
            corr_reviews=np.zeros(n, np.int32), corr_flagged=np.zeros(n, np.int32),
            corr_days=np.zeros(n, np.int32),
            nonfinite=np.zeros(n, np.int8),
            equity=np.zeros((n, plan.n_days + 1)) if record_equity else np.zeros((0, 0)),
        )

    PER_PATH = ("ruined", "ruin_day", "stop_day", "blown", "margin_calls", "trades", "wins", "skipped",
                "final_equity", "peak_equity", "max_dd", "tier_day", "nonfinite", "equity",
                "corr_reviews", "corr_flagged", "corr_days")
    PER_BLOCK = ("m_trades", "m_wins", "m_win_r", "m_win_rn", "m_loss_r", "m_loss_rn",
                 "m_skip", "m_gap_fills", "m_beyond_1r", "regime_days", "regime_spells",
                 "m_corr_skip", "m_corr_reduced")
