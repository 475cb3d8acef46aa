"""Performance harness: ntkfix's empirical NTK against neural-tangents, in one run.

``python -m benchmarks.run [--quick | --full]`` (or ``make bench``) times every method
on every cell of a grid, each (cell, method) in a fresh subprocess, and writes
``results.csv``, ``summary.md`` and ``bench.png`` into the output folder. Modules:

- ``machine``: CPU/GPU description, versions, contention sampling, memory probes.
- ``methods``: the methods, how to build each, and their cost models (for skipping).
- ``cell``: the child process: one method on one cell (or the matmul roofline).
- ``report``: CSV, markdown table and plot (matplotlib optional).
- ``run``: the command line and the grids.

Only jax and numpy are required (matplotlib, pandas and neural-tangents are optional),
so the harness runs as it is on a bare GPU machine (``benchmarks/gpu.sh``). It uses a few
pieces of ``ntkfix`` and ``analysis`` that import without pandas: the memory reader
(``ntkfix._core.host``), package versions (``analysis.provenance``) and the Markdown
table writer (``analysis.tables``).
"""
