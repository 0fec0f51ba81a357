"""``simrisk run``: the main job."""
import click

from ._common import (Progress, backend_opts, check_backend, dump_json, guard, jobs_opt,
                      json_opt, load, paths_opt, progress_wanted, scenario_arg, seed_opt)


@click.command()
@scenario_arg
@paths_opt
@seed_opt
@jobs_opt
@backend_opts
@json_opt
@guard
def run(file, paths, seed, jobs, backend, scheduler, as_json):
    """Simulate FILE's plan: ruin, tier times, margin calls, drawdown, final equity."""
    from simcore.metrics import format_table, summarize
    from simcore.runner import simulate

    check_backend(backend, scheduler)
    scenario, plan = load(file)
    paths = scenario.paths if paths is None else paths
    seed = scenario.seed if seed is None else seed
    with Progress(paths, progress_wanted(as_json)) as progress:
        out = simulate(plan, paths, seed, jobs=jobs, progress=progress, backend=backend,
                       scheduler=scheduler)
    summary = summarize(plan, out, paths, seed)
    if as_json:
        dump_json(summary)
    else:
        click.echo(format_table(summary))
