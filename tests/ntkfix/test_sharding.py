"""Kernel tiles dealt to several devices give the one-device kernel exactly.

Runs in a subprocess: ``--xla_force_host_platform_device_count`` must be set before
jax initializes, so 4 CPU devices stand in for 4 accelerators.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import ntkfix
from ntkfix._kernels.tiling import resolve_devices

ROOT = Path(__file__).resolve().parents[2]


def cpu_devices_env(count: int) -> dict:
    """The environment of a child python that sees ``count`` CPU devices and this checkout."""
    env = dict(os.environ)
    flag = f"--xla_force_host_platform_device_count={count}"
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flag}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [v for v in [env.get("PYTHONPATH")] if v])
    return env


SCRIPT = textwrap.dedent(
    """
    import sys, tempfile, os
    import jax, numpy as np, ntkfix
    from ntkfix import empirical_ntk_to_disk

    devs = jax.devices()
    assert len(devs) == 4, devs
    spec = ntkfix.MLP(3, 16, 2, out_dim=2, b_std=0.1)
    p0 = spec.init(jax.random.PRNGKey(0))
    p = jax.tree_util.tree_map(lambda a: a * 1.01, p0)
    x = np.random.default_rng(0).normal(size=(37, 3)).astype(np.float32)
    z = np.random.default_rng(1).normal(size=(11, 3)).astype(np.float32)
    for model, params in ((spec, p0), (ntkfix.FixedPattern(spec, p0), p)):
        for args, kw in (((x,), {}), ((x, z), {}), ((x,), {"trace": False})):
            one = ntkfix.empirical_ntk(model, params, *args, block_size=8, devices=1, **kw)
            many = ntkfix.empirical_ntk(model, params, *args, block_size=8, **kw)
            assert many.devices() == {devs[0]}, many.devices()
            assert np.array_equal(np.asarray(one), np.asarray(many)), (type(model), kw)
    path = os.path.join(tempfile.mkdtemp(), "K.npy")
    K = empirical_ntk_to_disk(spec, p0, x, path, block_size=8, progress=False)
    ref = ntkfix.empirical_ntk(spec, p0, x, block_size=8, devices=1)
    assert np.array_equal(np.asarray(K), np.asarray(ref))

    # sharded=True: one jax.Array, rows split over the 4 devices, equal to one device
    from jax.sharding import NamedSharding
    from ntkfix._kernels.tiling import TileRunner, sharded_slabs
    for model, params in ((spec, p0), (ntkfix.FixedPattern(spec, p0), p)):
        xs = np.concatenate([x, x[:3]])  # 40 rows: slabs of 10
        for args, kw in (((xs,), {}), ((xs, z), {}), ((xs,), {"trace": False})):
            one = np.asarray(ntkfix.empirical_ntk(model, params, *args, devices=1, **kw))
            K = ntkfix.empirical_ntk(model, params, *args, block_size=5, sharded=True, **kw)
            assert isinstance(K.sharding, NamedSharding), K.sharding
            assert K.sharding.mesh.devices.tolist() == devs
            shards = sorted(K.addressable_shards, key=lambda sh: sh.index[0].start)
            assert [sh.device for sh in shards] == devs
            assert all(sh.data.shape[0] == 10 for sh in shards)
            same = ntkfix.empirical_ntk(model, params, *args, block_size=5, devices=1, **kw)
            assert np.array_equal(np.asarray(K), np.asarray(same)), kw  # same tiles: same bits
            assert np.allclose(np.asarray(K), one, rtol=1e-5, atol=1e-6), kw
            K4 = ntkfix.empirical_ntk(model, params, *args, block_size=4, sharded=True, **kw)
            assert np.allclose(np.asarray(K4), one, rtol=1e-5, atol=1e-6), kw  # tiles cut at slabs
        # two "hosts" of two devices each: every slab is computed by its own side
        source = model.kernel_plan(params, xs, None).source
        runner = TileRunner(source, jax.numpy.asarray(xs), None)
        got = {}
        for local in (devs[:2], devs[2:]):
            got.update(sharded_slabs(runner, 40, 40, 4, local=set(local)))
        full = np.concatenate([np.asarray(got[d]) for d in devs])
        ref = np.asarray(ntkfix.empirical_ntk(model, params, xs, devices=1))
        assert np.allclose(full, ref, rtol=1e-5, atol=1e-6)
        assert not np.array_equal(full[:10, 10:], 0) and not np.array_equal(full[30:, :30], 0)
    # any network (a function and its FAP twin), both implementations, dealt and sharded
    relu = jax.nn.relu
    fn = lambda q, v: spec.layer(q, 2, relu(spec.layer(q, 1, relu(spec.layer(q, 0, v)))))
    xs = np.concatenate([x, x[:3]])
    fap = ntkfix.FixedPattern(fn, p0)
    cases = (
        (fn, p0, "jacobian", False),
        (fn, p0, "ntk_vector", False),
        (fap, p, "ntk_vector", True),
    )
    for model, params, impl, trace in cases:
        kw = dict(implementation=impl, trace=trace, block_size=8)
        one = np.asarray(ntkfix.empirical_ntk(model, params, xs, devices=1, **kw))
        many = ntkfix.empirical_ntk(model, params, xs, **kw)
        assert np.array_equal(np.asarray(many), one), (impl, trace)
        K = ntkfix.empirical_ntk(model, params, xs, sharded=True, **dict(kw, block_size=5))
        assert len(K.addressable_shards) == 4
        assert np.allclose(np.asarray(K), one, rtol=1e-5, atol=1e-6), (impl, trace)
    try:
        ntkfix.empirical_ntk(spec, p0, x, sharded=True)
    except ValueError as e:
        assert "divisible by 4" in str(e), e
    else:
        raise AssertionError("37 rows on 4 devices accepted")
    print("SHARDING OK")
    """
)


def test_four_devices_give_the_one_device_kernel():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=cpu_devices_env(4),
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SHARDING OK" in proc.stdout


def test_device_argument_is_checked():
    local = jax.local_devices()
    assert resolve_devices(None, tracing=False) == list(local)
    assert resolve_devices(1, tracing=False) == local[:1]
    assert resolve_devices(local[0], tracing=False) == [local[0]]
    assert resolve_devices(None, tracing=True) == [None]
    with pytest.raises(ValueError, match="devices=99 but"):
        resolve_devices(99, tracing=False)
    with pytest.raises(TypeError, match="devices must be"):
        resolve_devices("gpu", tracing=False)
    with pytest.raises(ValueError, match="more than once"):
        resolve_devices([local[0], local[0]], tracing=False)
    spec = ntkfix.MLP(2, 4, 1)
    with pytest.raises(TypeError, match="devices must be"):
        ntkfix.empirical_ntk(spec, spec.init(jax.random.PRNGKey(0)), np.ones((3, 2)), devices=[1])


def test_sharded_on_one_device_and_refused_under_jit():
    spec = ntkfix.MLP(3, 8, 2)
    p = spec.init(jax.random.PRNGKey(0))
    x = np.random.default_rng(0).normal(size=(9, 3))
    K = ntkfix.empirical_ntk(spec, p, x, sharded=True, block_size=4)
    assert len(K.sharding.device_set) == 1
    np.testing.assert_array_equal(
        np.asarray(K), np.asarray(ntkfix.empirical_ntk(spec, p, x, block_size=4))
    )
    with pytest.raises(TypeError, match="sharded must be True or False"):
        ntkfix.empirical_ntk(spec, p, x, sharded="no")
    with pytest.raises(ValueError, match="sharded=True .* cannot run inside"):
        jax.jit(lambda q: ntkfix.empirical_ntk(spec, q, x, sharded=True))(p)


MULTIHOST = textwrap.dedent(
    """
    import sys
    import jax
    pid, port = int(sys.argv[1]), sys.argv[2]
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    import numpy as np, ntkfix

    assert len(jax.devices()) == 4 and len(jax.local_devices()) == 2
    spec = ntkfix.MLP(3, 16, 2, out_dim=2, b_std=0.1)
    p0 = spec.init(jax.random.PRNGKey(0))
    p = jax.tree_util.tree_map(lambda a: a * 1.01, p0)
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    z = np.random.default_rng(1).normal(size=(11, 3)).astype(np.float32)
    one = jax.local_devices()[:1]
    for model, params in ((spec, p0), (ntkfix.FixedPattern(spec, p0), p)):
        for args, kw in (((x,), {}), ((x, z), {}), ((x,), {"trace": False})):
            K = ntkfix.empirical_ntk(
                model, params, *args, devices=jax.devices(), sharded=True, block_size=5, **kw
            )
            assert K.shape[0] == 40 and not K.is_fully_addressable
            ref = np.asarray(ntkfix.empirical_ntk(model, params, *args, devices=one, **kw))
            shards = K.addressable_shards
            assert sorted(sh.index[0].start for sh in shards) == [20 * pid, 20 * pid + 10]
            for sh in shards:
                got = np.asarray(sh.data)
                assert np.allclose(got, ref[sh.index[0]], rtol=1e-5, atol=1e-6), kw
    print("PROCESS", pid, "OK")
    """
)


def test_two_processes_with_jax_distributed():
    """Two processes of 2 CPU devices each (jax.distributed on loopback) build one
    row-sharded kernel; each checks its own slabs against a local one-device kernel."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = cpu_devices_env(2)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MULTIHOST, str(i), port],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for i in range(2)
    ]
    outs = []
    for proc in procs:
        try:
            outs.append(proc.communicate(timeout=300))
        finally:
            proc.kill()
    for i, (proc, (out, err)) in enumerate(zip(procs, outs, strict=True)):
        assert proc.returncode == 0, err[-3000:]
        assert f"PROCESS {i} OK" in out
