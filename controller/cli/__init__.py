"""`dockyard`, the command line: `root.py` builds the command tree.

Layout (pyproject's import contracts hold it):
- `commands/`: one module per resource (apps, deploys, config, domains, certs, keys, ps,
  system, git source); each is a thin client of the API through `client.py`.
- `client.py`: the one HTTP client (token lookup, one-line HTTP errors); `output.py`: the one
  error printer, JSON and table printing, and the options every command shares.
- Run on the server only: `serve.py` (the controller itself), `service.py` (start/stop it)
  and `git_user.py` (what the git user runs: `git-shell` and the pre-receive hook).
"""

from controller.cli.root import main

__all__ = ["main"]
