"""``simrisk stress``: the plan under correlation spikes, volatility shocks and fat tails,
side by side with the base case on common random numbers."""
import click

from ._common import (BadInput, Progress, backend_opts, check_backend, dump_json, guard,
                      history_paths, horizon_opt, jobs_opt, json_opt, load, paths_opt, preflight,
                      refuse_gbm_stress,
                      progress_wanted, scenario_arg, seed_opt, show_warnings)


def _floats(option: str, text: str, lo: float, hi: float, lo_open: bool = False) -> list:
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            x = float(part)
        except ValueError:
            raise BadInput(f"{option}: {part!r} is not a number (give a comma-separated "
                           "list, e.g. 0,0.5,1)") from None
        if not (lo < x if lo_open else lo <= x) or not x <= hi:
            raise BadInput(f"{option}: {part} is out of range ({'(' if lo_open else '['}"
                           f"{lo:g}, {hi:g}])")
        out.append(x)
    return out


def _reviews(text: str) -> list:
    """--review off,21,63 -> [None, 21, 63] (off = the rule removed)."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if part == "off":
            out.append(None)
            continue
        try:
            n = int(part)
        except ValueError:
            n = 0
        if not 1 <= n <= 100_000:
            raise BadInput(f"--review: {part!r} is neither off nor a number of days >= 1 "
                           "(e.g. --review off,21,63)")
        out.append(n)
    return out


def _window(text: str, horizon: int):
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise BadInput("--window: must be START:END in days, e.g. 100:160") from None
    if not 1 <= a <= b <= horizon:
        raise BadInput(f"--window: need 1 <= START <= END <= horizon_days ({horizon})")
    return (a, b)


def _rows_from_scenario(scenario, horizon: int) -> list:
    """The scenario's ``stress:`` rows, each window checked against the horizon of this run
    (which ``--horizon`` may have shortened; ``simrisk run`` never looks at these rows)."""
    from simcore.stress import stresses_from_scenario

    rows = stresses_from_scenario(scenario)
    for i, r in enumerate(rows):
        if r.window is not None and not r.window[1] <= horizon:
            raise BadInput(f"stress[{i}].window: ends on day {r.window[1]}, after the horizon "
                           f"({horizon} days)")
    return rows


@click.command()
@scenario_arg
@click.option("--spike", metavar="W[,W...]",
              help="Correlation spike weights in [0, 1]: R -> (1-w) R + w J, one row each.")
@click.option("--adverse", is_flag=True,
              help="Spike toward the sign pattern of the strategies' directions (long +1, "
                   "short -1), so every position loses together.")
@click.option("--vol-mult", metavar="V[,V...]",
              help="Volatility multipliers (> 0), one row each.")
@click.option("--tails", type=float, metavar="NU",
              help="Add a row with Student-t shocks of NU degrees of freedom (> 2).")
@click.option("--review", metavar="off|N[,...]",
              help="Compare correlation-review cadences (rules.correlation_review): off = "
                   "the rule removed, N = a review every N days (the plan's other review "
                   "settings, or window 63, limit 0.8, scale_risk 0.5). One row per setting, "
                   "calm and under each stress row; differences are from the first setting.")
@click.option("--window", metavar="START:END",
              help="Apply spikes and volatility multipliers only on these days (1-based, "
                   "inclusive) [default: the whole horizon].")
@paths_opt
@seed_opt
@horizon_opt
@jobs_opt
@backend_opts
@json_opt
@guard
def stress(file, spike, adverse, vol_mult, tails, review, window, paths, seed, horizon, jobs,
           backend, scheduler, as_json):
    """Stress FILE's plan: ruin, margin calls, tier reach and p5 equity under each stress,
    with paired 95% intervals for the difference from the base case.

    The rows come from the options, or else from the scenario's `stress:` section, or
    else a default sweep (--spike 0.5,1 --adverse --vol-mult 2).
    """
    from simcore.stress import check_stressed, format_stress_table, run_stress, sweep

    check_backend(backend, scheduler)
    # options first (they need no plan), so that an option error is one line
    spikes = _floats("--spike", spike, 0.0, 1.0) if spike is not None else []
    vols = _floats("--vol-mult", vol_mult, 0.0, 20.0, lo_open=True) if vol_mult is not None \
        else []
    if tails is not None and not 2.0 < tails <= 1000.0:
        raise BadInput("--tails: must be > 2 (degrees of freedom of the Student-t)")
    reviews = _reviews(review) if review is not None else None
    scenario, plan = load(file, horizon)
    win = _window(window, plan.n_days) if window is not None else None
    if spikes or vols or tails is not None:
        refuse_gbm_stress(plan, "--spike" if spikes else "--vol-mult" if vols else "--tails")
        rows = sweep(spikes, vols, tails, adverse=adverse, window=win)
        where = {id(r): ("--spike" if r.spike else "--vol-mult" if r.vol_mult != 1.0
                         else "--tails") for r in rows}
    elif scenario.stress:
        if adverse or win:
            raise BadInput("--adverse/--window: only with --spike/--vol-mult (the scenario's "
                           "stress rows carry their own)")
        rows = _rows_from_scenario(scenario, plan.n_days)
        where = {id(r): f"stress[{i}].vol_mult" for i, r in enumerate(rows)}
    elif reviews is not None:
        rows, where = [], {}                             # --review alone: calm rows only
    else:
        refuse_gbm_stress(plan, "stress")           # the default sweep is GBM's
        rows = sweep([0.5, 1.0], [2.0], None, adverse=True, window=win)
        where = {id(r): "stress" for r in rows}          # the default sweep
    for r in rows:                      # a stress that would overflow is refused up front
        check_stressed(plan, r, where[id(r)])
    paths_asked = paths
    paths = history_paths(plan, scenario.paths if paths is None else paths, paths is not None)
    seed = scenario.seed if seed is None else seed
    n_runs = 1 + sum(not r.is_base() for r in rows)
    if reviews is not None:
        if len(plan.market_names) < 2:
            raise BadInput("--review: the correlation review needs at least two markets")
        n_runs *= len(reviews)
    preflight(plan, paths, jobs, runs=n_runs, paths_given=paths_asked is not None)
    show_warnings(plan)
    with Progress(paths * n_runs, progress_wanted(as_json), "stress rows") as progress:
        if reviews is not None:
            from simcore.stress import run_review_stress
            result = run_review_stress(plan, reviews, rows, paths, seed, jobs=jobs,
                                       progress=progress, backend=backend, scheduler=scheduler)
        else:
            result = run_stress(plan, rows, paths, seed, jobs=jobs, progress=progress,
                                backend=backend, scheduler=scheduler)
    if as_json:
        dump_json(result)
    else:
        click.echo(format_stress_table(result))
