"""``simrisk``: the command line. Thin by design: parse options, call ``simcore``, print.

Exit status (SPEC 10): 0 on success; 2 for a bad scenario or bad options (one line on
stderr naming the field or option, nothing on stdout); 1 for anything else.
"""
from __future__ import annotations

import functools
import json
import os
import sys

import click

from simcore._version import __version__


class BadInput(click.ClickException):
    """A scenario or an option the user can fix: exit status 2."""

    exit_code = 2


class _Reporter:
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


def _progress_wanted(as_json: bool) -> bool:
    return not as_json and sys.stderr.isatty()


def _load(file: str):
    """Load and compile a scenario, turning every user error into exit status 2."""
    from simcore.errors import ScenarioError
    from simcore.scenario import load_scenario
    from simcore.build import build_plan

    try:
        scenario = load_scenario(file)
        return scenario, build_plan(scenario)
    except ScenarioError as e:
        raise BadInput(str(e)) from None


def _guard(fn):
    """Run a command body: user errors keep their exit status, anything else is exit 1 with
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="simrisk")
def main():
    """simrisk: Monte Carlo risk of a small futures account's scaling plan.

    How likely is ruin, how long until each equity tier, how often a margin call --
    simulated over correlated multi-asset paths under the plan's own rules.
    """


_scenario_arg = click.argument("file", type=click.Path(exists=True, dir_okay=False))
_paths_opt = click.option("--paths", type=click.IntRange(min=1),
                          help="Number of simulated paths [default: the scenario's `paths`].")
_seed_opt = click.option("--seed", type=click.IntRange(min=0),
                         help="Random seed [default: the scenario's `seed`].")
_jobs_opt = click.option("--jobs", "-j", type=int, default=0, show_default=True,
                         help="Worker threads; 0 = every core. Results do not depend on it.")
_json_opt = click.option("--json", "as_json", is_flag=True,
                         help="Print one JSON object on stdout and nothing else there.")


@main.command()
@_scenario_arg
@_paths_opt
@_seed_opt
@_jobs_opt
@_json_opt
@_guard
def run(file, paths, seed, jobs, as_json):
    """Simulate FILE's plan: ruin, tier times, margin calls, drawdown, final equity."""
    from simcore.metrics import format_table, summarize
    from simcore.runner import simulate

    scenario, plan = _load(file)
    paths = scenario.paths if paths is None else paths
    seed = scenario.seed if seed is None else seed
    with _Reporter(paths, _progress_wanted(as_json)) as progress:
        out = simulate(plan, paths, seed, jobs=jobs, progress=progress)
    summary = summarize(plan, out, paths, seed)
    if as_json:
        click.echo(json.dumps(summary, allow_nan=False))
    else:
        click.echo(format_table(summary))


if __name__ == "__main__":  # pragma: no cover
    main()
