"""Front doors: the `kim` command line and the worker entry point. Thin: parse, call, render."""
