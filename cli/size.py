"""``simrisk size``: the least starting capital for which the plan meets its targets."""
import click

from ._common import (backend_opts, check_backend, dump_json, guard, horizon_opt, jobs_opt,
                      json_opt, load, paths_opt, preflight, progress_wanted, scenario_arg,
                      seed_opt, show_warnings)
from ._common import check_report_opts, command_line, report_opts

#: a sizing search costs about this many plain runs of --paths (docs/sizing.md)
SIZING_RUNS = 12


@click.command()
@scenario_arg
@click.option("--max-ruin", type=float, metavar="P",
              help="Target: probability of ruin at most P (0.05 = 5%). The default target "
                   "when none is given is --max-ruin 0.05.")
@click.option("--reach", multiple=True, metavar="AT:Q[:DAYS]",
              help="Target: reach the tier whose `at` is AT with probability at least Q, "
                   "within DAYS trading days (default: the horizon). Repeatable.")
@click.option("--max-margin-call", type=float, metavar="M",
              help="Target: probability of at least one margin call at most M.")
@click.option("--min-capital", type=float, metavar="USD",
              help="Bottom of the search range [default: the plan's trading floor -- the "
                   "least equity at which it can open a contract -- capped at 95% of capital, "
                   "and at least capital / 10].")
@click.option("--max-capital", type=float, metavar="USD",
              help="Top of the search range [default: 10 x capital].")
@click.option("--tolerance", type=float, default=0.01, show_default=True,
              help="Relative resolution of the answers (0.01 = 1%); a target whose 95% "
                   "range is wide is resolved to a quarter of that range instead (<= 5%).")
@paths_opt
@seed_opt
@horizon_opt
@jobs_opt
@backend_opts
@json_opt
@click.option("--force", is_flag=True, help="Let --plot and --report overwrite existing files.")
@report_opts
@guard
def size(file, max_ruin, reach, max_margin_call, min_capital, max_capital, tolerance, paths,
         seed, horizon, jobs, backend, scheduler, as_json, force, report_file, plot_dir):
    """Least starting capital for FILE's plan to meet its targets (ruin, tier reach, margin
    calls), searched on common random numbers; point estimate and 95%-conservative capital."""
    from simcore import api
    from simcore._files import note_input
    from simcore.text import format_sizing

    check_backend(backend, scheduler)
    note_input(file)                  # never a destination, even with --force
    # every option and the output file before any work, so that an error is one line
    outputs = check_report_opts(report_file, plot_dir, None, force=force, kind="size")
    spec = load(file, horizon)
    targets = api.size_targets(spec, max_ruin=max_ruin, reach=reach,
                               max_margin_call=max_margin_call, min_capital=min_capital,
                               max_capital=max_capital, tolerance=tolerance)
    given = paths is not None
    paths = spec.paths if paths is None else paths
    seed = spec.seed if seed is None else seed
    preflight(spec.compiled, paths, jobs, runs=SIZING_RUNS, paths_given=given,
              what="a sizing search")
    show_warnings(spec)

    show = progress_wanted(as_json)

    def stage(text):
        if show:
            click.echo(text, err=True)

    res = api.run_size(spec, targets, paths, seed, min_capital=min_capital,
                       max_capital=max_capital, jobs=jobs, tolerance=tolerance, stage=stage,
                       backend=backend, scheduler=scheduler)
    res.summary.update(outputs.write_size(res.summary, spec.compiled, command_line(),
                                          spec.scenario))
    if as_json:
        dump_json(res.summary)
    else:
        click.echo(format_sizing(res.summary), nl=False)
        click.echo(outputs.written(res.summary), nl=False)
