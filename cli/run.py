"""``simrisk run``: the main job."""
import click

from ._common import (BadInput, Progress, backend_opts, check_backend, check_output, dump_json, guard,
                      history_paths, horizon_opt, jobs_opt, json_opt, load, paths_opt, preflight,
                      progress_wanted, scenario_arg, seed_opt, show_warnings)


@click.command()
@scenario_arg
@paths_opt
@seed_opt
@horizon_opt
@jobs_opt
@backend_opts
@json_opt
@click.option("--save-equity", "equity_file", type=click.Path(dir_okay=False), metavar="FILE.npy",
              help="Also keep every path's day-end equity and save it as a NumPy array of "
                   "shape (paths, horizon_days + 1) (column 0 = capital). Memory grows with "
                   "paths x horizon; never overwrites an existing file unless --force.")
@click.option("--force", is_flag=True, help="Let --save-equity overwrite an existing file.")
@click.option("--model", "models", metavar="gbm,bootstrap,replay",
              help="A plan with history: only. Run it under each price model listed and print "
                   "the answers side by side (gbm with vol and correlation calibrated from "
                   "the same history). docs/history.md.")
@guard
def run(file, paths, seed, horizon, jobs, backend, scheduler, as_json, equity_file, force,
        models=None):
    """Simulate FILE's plan: ruin, tier times, margin calls, drawdown, final equity."""
    from simcore._files import atomic_path
    from simcore.metrics import format_table, summarize
    from simcore.runner import simulate

    check_backend(backend, scheduler)
    dest = None
    if equity_file is not None:       # before any work: a bad destination is a bad option
        dest = check_output(equity_file, force=force, suffixes=(".npy",),
                            option="--save-equity")
    if models is not None:
        from simcore.models import parse_models
        try:
            model_list = parse_models(models)
        except ValueError as e:
            raise BadInput(f"--model: {e}") from None
        if equity_file is not None:
            raise BadInput("--save-equity: not with --model (one run per model)")
    scenario, plan = load(file, horizon)
    if models is not None:
        return _run_models(scenario, plan, model_list, paths, seed, jobs, as_json)
    given = paths is not None
    paths = history_paths(plan, scenario.paths if paths is None else paths, given)
    seed = scenario.seed if seed is None else seed
    preflight(plan, paths, jobs, runs=1, record_equity=dest is not None,
              paths_given=given)
    show_warnings(plan)
    with Progress(paths, progress_wanted(as_json)) as progress:
        out = simulate(plan, paths, seed, jobs=jobs, progress=progress, backend=backend,
                       scheduler=scheduler, record_equity=dest is not None)
    summary = summarize(plan, out, paths, seed)
    if dest is not None:
        import numpy as np
        with atomic_path(dest) as tmp:   # complete or absent, never a truncated file
            np.save(tmp, out.equity)
        summary["equity_file"] = equity_file
    if as_json:
        dump_json(summary)
    else:
        click.echo(format_table(summary))
        if dest is not None:
            click.echo(f"\nday-end equity of every path: {equity_file} "
                       f"(shape {out.equity.shape[0]} x {out.equity.shape[1]})")


def _run_models(scenario, plan, model_list, paths, seed, jobs, as_json):
    """``--model``: the plan under each price model, side by side (simcore.models)."""
    from simcore.errors import ScenarioError
    from simcore.models import format_models, run_models

    if scenario.history is None:
        raise BadInput("--model: needs a plan with a history: key (docs/history.md)")
    paths = scenario.paths if paths is None else paths
    seed = scenario.seed if seed is None else seed
    if "replay" in model_list and plan.hist_mode != 1:
        from simcore.models import scenario_for
        rp = scenario_for(scenario, "replay")
        from simcore.build import build_plan
        try:
            build_plan(rp)
        except ScenarioError as e:
            raise BadInput(str(e)) from None
    show_warnings(plan)
    try:
        res = run_models(scenario, model_list, paths=paths, seed=seed, jobs=jobs)
    except ScenarioError as e:
        raise BadInput(f"--model: {e}") from None
    if as_json:
        dump_json({"models": res})
    else:
        click.echo(format_models(res))
