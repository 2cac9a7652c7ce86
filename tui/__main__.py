"""`python -m tui`: what `dockyard tui` runs."""

from tui.app import main

main()
