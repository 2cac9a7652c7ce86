"""`dockyard`, the command line: `root.py` builds the command tree.

Layout (pyproject's import contracts hold it):
- `commands/`: one module per resource (apps, deploys, config, domains, certs, keys, ps,
  system, git source); each is a thin client of the API through `client.py`.
- `client.py`: the one HTTP client (token lookup, one-line HTTP errors); `output.py`: the one
  error printer, JSON and table printing, and the options every command shares.
- Run on the server only: `serve.py` (the controller itself), `service.py` (start/stop it)
  and `git_user.py` (what the git user runs: `git-shell` and the pre-receive hook).
"""

import sys
from typing import Any

__all__ = ["main", "run"]


def run() -> None:
    """The `dockyard` executable. `dockyard tui` starts the console without loading the CLI's
    commands and the controller's settings first (a quarter to half a second of imports
    before its first frame); anything else is the command tree."""
    if sys.argv[1:] == ["tui"]:
        from tui.start import main as console

        console()
        return
    from controller.cli.root import main

    main()


def __getattr__(name: str) -> Any:
    """`controller.cli.main`, the command tree, imported when asked for (tests, `run`)."""
    if name == "main":
        from controller.cli.root import main

        return main
    raise AttributeError(name)
