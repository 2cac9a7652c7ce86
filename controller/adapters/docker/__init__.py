"""The Docker adapter: the only package that imports docker (docker-py).

Its modules: `runtime` (the `Runtime` port), `connection` and `errors` (one client, SDK
errors mapped to domain errors), `build` (streaming builds and their watchdog), `layers`
(the journal of dangling build layers), `images`, `networks`, `events` (container deaths),
`logs` (merged log streams), `stats` (CPU and memory samples), `inspection` (inspect answers
to domain records) and `context` (build contexts: packing for upload and labelling for the engine).

Nothing is imported here: the CLI packs uploads with `context` without loading docker-py.
"""
