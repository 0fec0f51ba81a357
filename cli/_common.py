"""What every command shares: exit-status conventions, scenario loading, progress, options."""
from __future__ import annotations

import functools
import os
import sys

import click


class BadInput(click.ClickException):
    """A scenario or an option the user can fix: exit status 2 (SPEC 10)."""

    exit_code = 2


class Progress:
    """A progress bar on stderr for long runs; silent when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool, label: str = "simulating"):
        self.total, self.enabled, self.label = total, enabled, label
        self.bar = None

    def __enter__(self):
        if self.enabled:
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr,
                                         show_pos=True, show_eta=True)
            self.bar.__enter__()
        return self

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


def progress_wanted(as_json: bool) -> bool:
    return not as_json and sys.stderr.isatty()


def load(file: str):
    """Load and compile a scenario, turning every user error into exit status 2.

    Returns ``(scenario, plan)``; warnings about the plan go to stderr."""
    from simcore.build import build_plan
    from simcore.errors import ScenarioError
    from simcore.scenario import load_scenario

    try:
        scenario = load_scenario(file)
        plan = build_plan(scenario)
    except ScenarioError as e:
        raise BadInput(str(e)) from None
    for w in plan.extras.get("warnings", ()):
        click.echo(f"warning: {w}", err=True)
    return scenario, plan


def guard(fn):
    """Run a command body: user errors keep their exit status; anything else is exit 1 with
    a one-line message (set SIMRISK_DEBUG=1 to see the traceback)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as e:  # noqa: BLE001 - the CLI's last line of defence
            from simcore.errors import ScenarioError
            if isinstance(e, ScenarioError):
                raise BadInput(str(e)) from None
            if os.environ.get("SIMRISK_DEBUG"):
                raise
            raise click.ClickException(f"{type(e).__name__}: {e}") from None
    return wrapper


scenario_arg = click.argument("file", type=click.Path(exists=True, dir_okay=False))
paths_opt = click.option("--paths", type=click.IntRange(min=1),
                         help="Number of simulated paths [default: the scenario's `paths`].")
seed_opt = click.option("--seed", type=click.IntRange(min=0),
                        help="Random seed [default: the scenario's `seed`].")
jobs_opt = click.option("--jobs", "-j", type=int, default=0, show_default=True,
                        help="Worker threads; 0 = every core, -1 = all but one. Results do not depend on it.")
json_opt = click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON object on stdout and nothing else there.")


def backend_opts(fn):
    """``--backend threads|dask`` and ``--scheduler ADDRESS`` (results do not depend on them)."""
    fn = click.option("--scheduler", metavar="ADDRESS",
                      help="dask.distributed scheduler, e.g. tcp://10.0.0.5:8786 (with "
                           "--backend dask) [default: start a local cluster].")(fn)
    fn = click.option("--backend", type=click.Choice(["threads", "dask"]), default="threads",
                      show_default=True,
                      help="Where blocks of paths run: local threads, or a dask cluster "
                           "(the dask extra: pip install '.[dask]'). Results are identical.")(fn)
    return fn


def check_backend(backend: str, scheduler) -> None:
    if scheduler is not None and backend != "dask":
        raise BadInput("--scheduler: only with --backend dask")
    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise BadInput("--backend: dask needs the dask extra "
                           "(install the dask extra: pip install '.[dask]' in the source tree)") from None


def dump_json(obj) -> None:
    import json
    click.echo(json.dumps(obj, allow_nan=False))
