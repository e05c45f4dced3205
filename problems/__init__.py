"""The studies run by `sciml run PROBLEM`.

Each problem is a module implementing the protocol checked by `sciml.study.check_problem`:
a module docstring (equations, reference, default budget and its accuracy, names in
`predictions.npz`), a frozen dataclass `Config` (a trailing `# comment` on a field is its
one-line meaning in `sciml run PROBLEM --help`), a dict `QUICK`, a one-line `DESCRIPTION`,
`run(config, ctx)`, `main(argv=None)` and, optionally, `replot(ctx)` (redraw the plots of a
finished run from its files, for `sciml replot DIR`).

To add a problem, write `problems/<name>.py` and register it under the `sciml.problems`
entry-point group in `pyproject.toml` (then reinstall). This package keeps no registry and
imports nothing, so listing the problems never imports the library.
"""
