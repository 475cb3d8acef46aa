"""The teaching notebooks executed beside the test session (``conftest.notebook_runs``;
``test_notebooks.py`` checks each one).

Each notebook runs as ``make docs`` runs it: ``jupyter nbconvert --to notebook --execute``
with matplotlib's inline backend, in its own process and kernel. A kernel keeps about one
core busy and pytest about one other, so the notebooks start in the background at the
first analysis test, one at a time, while the session runs its other tests; once a test
waits for a notebook that has not finished, a second one runs beside it. Under
pytest-xdist (``make test``) every worker collects every test but only one runs the
notebook tests: there they start at the first of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import NamedTuple

INLINE = "module://matplotlib_inline.backend_inline"  # the MPLBACKEND of `make docs`
TEST = "test_runs_top_to_bottom_with_inline_figures"  # the test that checks each one


class Run(NamedTuple):
    returncode: int
    stderr: str
    written: Path  # the executed notebook, as nbconvert wrote it
    seconds: float


class NotebookRuns:
    """Executes ``paths`` into ``out_dir``, one at a time (two once ``result`` waits)."""

    def __init__(self, paths, out_dir: Path, start: bool = True):
        self._out = Path(out_dir)
        self._lock = threading.Lock()
        self._todo = deque(paths)
        self._futures = {p: Future() for p in paths}
        self._procs: list[subprocess.Popen] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        # the session's environment and folder now, whatever a test changes later
        self._env = {**os.environ, "MPLBACKEND": INLINE}
        self._cwd = os.getcwd()
        if start:  # else at the first ``result`` (a pytest-xdist worker: the one that asks)
            self._add_worker()

    def _add_worker(self):
        t = threading.Thread(target=self._work, daemon=True, name="notebook-runs")
        self._threads.append(t)
        t.start()

    def _work(self):
        while True:
            with self._lock:
                if self._closed or not self._todo:
                    return
                path = self._todo.popleft()
                fut = self._futures[path]
                fut.set_running_or_notify_cancel()
                try:
                    proc = self._start(path)
                except BaseException as e:  # noqa: BLE001 - delivered to the waiting test
                    fut.set_exception(e)
                    continue
                self._procs.append(proc)
            t0 = time.perf_counter()
            _, err = proc.communicate()
            fut.set_result(
                Run(proc.returncode, err, self._out / path.name, time.perf_counter() - t0)
            )

    def _start(self, path) -> subprocess.Popen:
        argv = ["--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=300"]
        argv += ["--ExecutePreprocessor.kernel_name=python3", "--output-dir", str(self._out)]
        return subprocess.Popen(
            [sys.executable, "-m", "nbconvert", *argv, str(path), "--log-level=WARN"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env,
            cwd=self._cwd,
        )

    def result(self, path) -> Run:
        """The run of ``path``, waiting for it (with a second notebook running meanwhile)."""
        fut = self._futures[path]
        with self._lock:
            if not fut.done() and len(self._threads) < 2 and self._todo:
                self._add_worker()
        return fut.result()

    def close(self):
        """Stop: no further notebook starts, running ones are killed."""
        with self._lock:
            self._closed = True
            for proc in self._procs:
                if proc.poll() is None:
                    proc.kill()
        for t in self._threads:
            t.join()
