"""Executors that run experiment cells on other machines.

``ntkfix run CONFIG --executor dask://HOST:PORT`` sends every cell to a
dask.distributed scheduler at HOST:PORT::

    dask scheduler --host 0.0.0.0 --port 8786            # on one machine
    dask worker tcp://SCHEDULER:8786 --nthreads 1        # on each worker machine
    ntkfix run kernel_distance --out results --executor dask://SCHEDULER:8786

Workers need ntkfix (with ``analysis``) installed in the same versions as the client:
a cell travels as a reference to ``analysis.runner.run_cell`` and its knobs, and comes
back as rows; the client writes every finished cell at once, so an interrupted sweep
resumes like an in-process one. ``--nthreads 1`` per worker lets JAX use all of a
machine's cores for one cell. Needs ``distributed`` (``pip install 'ntkfix[dask]'``).
"""

from __future__ import annotations

import concurrent.futures as cf
import re

from analysis.errors import ExecutorError

_SPEC = re.compile(r"^dask://(?P<host>\[[^\]]+\]|[^:/\s]+):(?P<port>\d{1,5})/?$")


def parse_dask_spec(spec: str) -> str:
    """``dask://HOST:PORT`` -> the scheduler address ``tcp://HOST:PORT``."""
    m = _SPEC.match(spec.strip()) if isinstance(spec, str) else None
    if m is None or not 0 < int(m["port"]) < 65536:
        raise ExecutorError(
            f"executor must look like dask://HOST:PORT (e.g. dask://10.0.0.5:8786), got {spec!r}"
        )
    return f"tcp://{m['host']}:{int(m['port'])}"


class DaskExecutor(cf.Executor):
    """A ``concurrent.futures.Executor`` on a dask.distributed cluster.

    ``submit`` returns ``concurrent.futures.Future`` objects (``Client.get_executor()``);
    ``shutdown`` also closes the client connection.
    """

    def __init__(self, client):
        self.client = client
        self._executor = client.get_executor()

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        try:
            self._executor.shutdown(wait=wait)
        finally:
            self.client.close()


def dask_executor(spec: str, *, timeout: float = 30.0) -> DaskExecutor:
    """An Executor on the dask.distributed scheduler named by ``spec`` (``dask://HOST:PORT``).

    Args:
      spec: ``dask://HOST:PORT`` of a running scheduler.
      timeout: seconds to wait for the connection.
    Raises:
      ExecutorError (a ValueError): bad ``spec``, ``distributed`` not installed, or no
        scheduler answering at that address.
    """
    address = parse_dask_spec(spec)
    try:
        import distributed
    except ImportError:
        raise ExecutorError(
            "--executor dask://... needs the 'distributed' package: pip install 'ntkfix[dask]'"
        ) from None
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise ExecutorError(
            f"no dask scheduler answered at {address} within {timeout:g} s ({e})"
        ) from None
    return DaskExecutor(client)
