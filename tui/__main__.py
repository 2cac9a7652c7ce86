"""`python -m tui`: what `dockyard tui` runs."""

from tui.start import main

main()
