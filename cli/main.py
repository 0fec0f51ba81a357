"""``simrisk``: the command line. Thin by design: each command parses its options, calls
``simcore`` and prints; no engine logic lives here.

Exit status (SPEC 10): 0 on success; 2 for a bad scenario or bad options (one line on
stderr naming the field or option, nothing on stdout); 1 for anything else.
"""
import click

from simcore._version import __version__

from .run import run
from .size import size
from .stress import stress


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="simrisk")
def main():
    """simrisk: Monte Carlo risk of a small futures account's scaling plan.

    How likely is ruin, how long until each equity tier, how often a margin call --
    simulated over correlated multi-asset paths under the plan's own rules.
    """


main.add_command(run)
main.add_command(stress)
main.add_command(size)

if __name__ == "__main__":  # pragma: no cover
    main()
