"""``simrisk``: the command line. Thin by design: each command parses its options, calls
``simcore`` and prints; no engine logic lives here.

Exit status (SPEC 10): 0 on success; 2 for a bad scenario or bad options (one line on
stderr naming the field or option, nothing on stdout); 1 for anything else (one line);
130 when interrupted (Ctrl-C, one line); 141, quietly, when stdout is closed early.
"""
import sys

import click

from simcore._version import __version__

from ._common import (EXIT_INTERRUPTED, Interrupted, PipeClosed, after_interrupt, is_broken_pipe,
                      one_line)
from .calibrate import calibrate
from .run import run
from .size import size
from .stress import stress


class _Group(click.Group):
    """Click's group, with usage errors (bad option values, a missing FILE) reported in one
    line on stderr like every other bad input -- ``Error: Invalid value for '--paths': ...`` --
    with exit status 2 and without the usage block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
            sys.stdout.flush()
        except click.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":    # bare `simrisk`: show the help
                e.show()
            else:
                click.echo(f"Error: {one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt):
            after_interrupt()
            click.echo(f"Error: {Interrupted().message}", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except OSError as e:
            if not is_broken_pipe(e):
                raise
            PipeClosed().show()
            sys.exit(PipeClosed.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="simrisk")
def main():
    """simrisk: Monte Carlo risk of a small futures account's scaling plan.

    How likely is ruin, how long until each equity tier, how often a margin call --
    simulated over correlated multi-asset paths under the plan's own rules.
    """


main.add_command(run)
main.add_command(stress)
main.add_command(size)
main.add_command(calibrate)

if __name__ == "__main__":  # pragma: no cover
    main()
