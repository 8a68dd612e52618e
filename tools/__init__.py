"""Exporters, trainers and data generators (these may import torch; the runtime never does).

One subpackage per job, imported one way (tests/test_tools_imports.py):
models <- export <- train, and data, evaluate <- train. `cli.py` is the front door: the `vpipe`
commands of every tool, mounted through the `vpipe.commands` entry points.
"""
