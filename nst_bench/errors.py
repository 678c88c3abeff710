"""The one exception type the CLI (and the experiment scripts, through ``run_script``) turns into a one-line
message instead of a traceback."""

import sys
from collections.abc import Callable
from pathlib import Path


class UserError(Exception):
    """A mistake the user can fix: bad path, unknown key, missing weights. The message says what to do."""


def run_script(main: Callable[[], None]) -> None:
    """Run an experiment script's ``main``: a UserError becomes one line on stderr and exit status 2, as in the CLI."""
    try:
        main()
    except UserError as e:
        print(f"{Path(sys.argv[0]).name}: error: {e}", file=sys.stderr)
        sys.exit(2)
