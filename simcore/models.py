"""Side by side (SPEC 11, docs/history.md): one plan under GBM, the stationary bootstrap and
replay of the same history (``simrisk run PLAN --model gbm,bootstrap,replay``).

``gbm``: the plan without ``history:``, its markets' ``vol`` and the correlation calibrated from
the history's pool (the dates ``from``..``to`` the other models use) by :mod:`simcore.calibrate`
(annual vol = sd of daily log closes' returns x sqrt(252); Pearson correlation of the returns);
price, drift and everything else as the plan gives them. ``bootstrap`` / ``replay``: the plan
with ``history.mode`` set (``block_days`` as the plan gives it). Every model runs with the same
seed; replay has one path per start date.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import ScenarioError

MODELS = ("gbm", "bootstrap", "replay")


def parse_models(text: str) -> list:
    names = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    if not names:
        raise ValueError("give one or more of gbm, bootstrap, replay")
    for n in names:
        if n not in MODELS:
            raise ValueError(f"unknown model {n!r} (gbm, bootstrap, replay)")
    if len(set(names)) != len(names):
        raise ValueError("a model is listed twice")
    return names


def gbm_figures(scn) -> dict:
    """Annual vol per market and the correlation pairs, from the history's pool closes."""
    from .calibrate import annual_vol
    pool = scn._history
    r = pool.lrel[:, :, 3]                           # ln(C_t / C_t-1) on the pool dates
    vols = {m: annual_vol(r[:, i]) for i, m in enumerate(pool.names)}
    pairs = {}
    M = len(pool.names)
    if M > 1:
        R = np.corrcoef(r, rowvar=False)
        for i in range(M):
            for j in range(i + 1, M):
                pairs[f"{pool.names[i]}/{pool.names[j]}"] = float(np.clip(R[i, j], -1, 1))
    return {"vol": vols, "correlation": pairs}


def scenario_for(scn, model: str):
    """``scn`` (a plan with ``history:``) under ``model``."""
    from .scenario import parse_scenario
    if scn.history is None:
        raise ScenarioError("history", "--model needs a plan with a history: key")
    data = scn.model_dump(mode="python", exclude_unset=True, by_alias=True, warnings=False)
    if model == "gbm":
        fig = gbm_figures(scn)
        data.pop("history", None)
        for m, v in fig["vol"].items():
            data["markets"][m] = {**data["markets"][m], "vol": round(float(v), 6)}
        if fig["correlation"]:
            data["correlation"] = {k: round(v, 6) for k, v in fig["correlation"].items()}
    else:
        data["history"] = {**data["history"], "mode": model}
    return parse_scenario(data, source=scn.source)


def run_models(scn, models, *, paths: int, seed: int, jobs: Optional[int] = None,
               backend: str = "threads", scheduler=None, progress=None) -> dict:
    """{model: summary} (the SPEC 10 JSON of each run; no wall-clock figure, so that the same
    seed gives the same output)."""
    from .build import build_plan
    from .metrics import summarize
    from .runner import history_paths, simulate
    out = {}
    for model in models:
        s = scenario_for(scn, model)
        plan = build_plan(s)
        n = history_paths(plan, paths)
        res = simulate(plan, n, seed, jobs=jobs, backend=backend, scheduler=scheduler,
                       progress=progress)
        summ = summarize(plan, res, n, seed)
        summ["model"] = model
        if model == "gbm":
            summ["gbm_calibration"] = {m: {"vol": float(plan.sigma[i])}
                                       for i, m in enumerate(plan.market_names)}
        out[model] = summ
    return out
