"""``simrisk stress``: the plan under correlation spikes, volatility shocks and fat tails,
side by side with the base case on common random numbers."""
import click

from ._common import (BadInput, Progress, backend_opts, check_backend, dump_json, guard,
                      history_paths, horizon_opt, jobs_opt, json_opt, load, paths_opt, preflight,
                      progress_wanted, scenario_arg, seed_opt, show_warnings)
from ._common import check_report_opts, command_line, report_opts


def _floats(option: str, text: str, lo: float, hi: float, lo_open: bool = False) -> list:
    from simcore.api import check_values
    from simcore.errors import ScenarioError

    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            x = float(part)
        except ValueError:
            raise BadInput(f"{option}: {part!r} is not a number (give a comma-separated "
                           "list, e.g. 0,0.5,1)") from None
        try:
            check_values(option, [part], lo, hi, lo_open)
        except ScenarioError as e:
            raise BadInput(str(e)) from None
        out.append(x)
    return out


def _window(text: str):
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise BadInput("--window: must be START:END in days, e.g. 100:160") from None
    return (a, b)


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
@report_opts
@click.option("--force", is_flag=True, help="Let --report and --plot overwrite existing files.")
@guard
def stress(file, spike, adverse, vol_mult, tails, review, window, paths, seed, horizon, jobs,
           backend, scheduler, as_json, report_file, plot_dir, force):
    """Stress FILE's plan: ruin, margin calls, tier reach and p5 equity under each stress,
    with paired 95% intervals for the difference from the base case.

    The rows come from the options, or else from the scenario's `stress:` section, or
    else a default sweep (--spike 0.5,1 --adverse --vol-mult 2).
    """
    from simcore import api
    from simcore._files import note_input
    from simcore.errors import ScenarioError

    check_backend(backend, scheduler)
    note_input(file)                  # never a destination, even with --force
    # options first (they need no plan), so that an option error is one line
    spikes = _floats("--spike", spike, 0.0, 1.0) if spike is not None else []
    vols = _floats("--vol-mult", vol_mult, 0.0, 20.0, lo_open=True) if vol_mult is not None \
        else []
    try:
        api.check_tails(tails)
        reviews = api.check_reviews(review)
    except ScenarioError as e:
        raise BadInput(str(e)) from None
    outputs = check_report_opts(report_file, plot_dir, None, force=force, kind="stress")
    spec = load(file, horizon)
    win = _window(window) if window is not None else None
    try:                                # rows checked against the plan, before any work
        rows = api.stress_rows(spec, spike=spikes, adverse=adverse, vol_mult=vols,
                               tails=tails, window=win, reviews=reviews)
    except ScenarioError as e:
        raise BadInput(str(e)) from None
    given = paths is not None
    paths = history_paths(spec.compiled, spec.paths if paths is None else paths, given)
    seed = spec.seed if seed is None else seed
    n_runs = api.stress_runs(rows, reviews)
    preflight(spec.compiled, paths, jobs, runs=n_runs, paths_given=given)
    show_warnings(spec)
    with Progress(paths * n_runs, progress_wanted(as_json), "stress rows") as progress:
        res = api.run_stress_rows(spec, rows, paths, seed, reviews=reviews, jobs=jobs,
                                  progress=progress, backend=backend, scheduler=scheduler)
    from simcore._files import output_set
    with output_set():                   # the figures and the page: all of them or none
        res.summary.update(outputs.write_stress(res.summary, spec.compiled, command_line(),
                                                spec.scenario))
    if as_json:
        dump_json(res.summary)
    else:
        click.echo(res.table())
        click.echo(outputs.written(res.summary), nl=False)
