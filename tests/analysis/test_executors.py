"""Experiment sweeps on a dask.distributed cluster give the in-process results."""

import pandas as pd
import pytest

from analysis import experiments
from analysis.executors import ExecutorError, dask_executor, parse_dask_spec
from analysis.runner import run_experiment

TINY = """
experiment = "kernel_distance"
[grid]
width = [8, 16]
seed = [0, 1]
[params]
depth = 1
n = 6
d = 3
metrics = ["fro", "alignment"]
"""
VOLATILE = ["wall_time_s"]


@pytest.mark.parametrize(
    "spec", ["dask://", "dask://host", "tcp://h:1", "dask://h:0", "dask://h:99999", 3]
)
def test_bad_specs_are_refused_with_the_expected_form(spec):
    with pytest.raises(ExecutorError, match="dask://HOST:PORT"):
        parse_dask_spec(spec)


def test_spec_becomes_a_tcp_address():
    assert parse_dask_spec("dask://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    assert parse_dask_spec("dask://[::1]:8786/") == "tcp://[::1]:8786"


def test_dask_cluster_gives_the_in_process_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    cfg = experiments.config_from_text(TINY)
    inline = run_experiment(cfg, tmp_path / "inline", progress=False)
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
    ) as cluster:
        ex = dask_executor("dask://" + cluster.scheduler_address.removeprefix("tcp://"))
        try:
            remote = run_experiment(cfg, tmp_path / "dask", executor=ex, progress=False)
        finally:
            ex.shutdown()
    assert len(remote) == len(inline) == 4
    pd.testing.assert_frame_equal(
        remote.drop(columns=VOLATILE), inline.drop(columns=VOLATILE), check_exact=True
    )


def test_unreachable_scheduler_is_one_clear_error():
    pytest.importorskip("distributed")
    with pytest.raises(ExecutorError, match="no dask scheduler answered at tcp://127.0.0.1:9"):
        dask_executor("dask://127.0.0.1:9", timeout=1)
