"""One module per resource of the API; each command is a thin client of it (`controller.cli.client`).

A new resource: a module here with its click group, added to the tree in `controller/cli/root.py`.
"""
