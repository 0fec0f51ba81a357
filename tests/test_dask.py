"""Scale-out on dask.distributed (simcore/distributed.py): the same fixed blocks and seeds as a
local run, so the same results to the bit (SPEC 8: whatever the backend).

A two-worker LocalCluster on loopback, worker processes (so plans, seeds and block outputs
really cross process boundaries by pickling). Skipped when dask.distributed is not installed
(the `dask` extra).
"""
import os

import numpy as np
import pytest

import distributed  # noqa: E402,F401  (in the test extra: an ImportError must fail, not skip)

from plan_factory import random_plan, assert_identical
from simcore import runner
from simcore._plan import BLOCK_SIZE
from simcore.distributed import dask_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def cluster():
    # the worker processes must import simcore from this tree, as the test process does
    path = os.environ.get("PYTHONPATH", "")
    if ROOT not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = ROOT + (os.pathsep + path if path else "")
    # loopback only: dashboard_address=None would still bind the scheduler's HTTP routes
    # (health, metrics) to 0.0.0.0:8787 in recent distributed; a random loopback port instead
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as c:
        yield c
    if path:
        os.environ["PYTHONPATH"] = path
    else:
        os.environ.pop("PYTHONPATH", None)


@pytest.mark.parametrize("seed", [3, 8])
def test_dask_equals_local_threads(cluster, seed):
    """Every rule switched on (regimes, stress window, fat tails, gaps, tiers...), several
    blocks with a partial last one: local 1 thread == local 2 threads == dask, bit for bit."""
    plan = random_plan(seed)
    paths = 3 * BLOCK_SIZE + 123
    one = runner.simulate(plan, paths, 77, jobs=1, record_equity=True)
    two = runner.simulate(plan, paths, 77, jobs=2, record_equity=True)
    far = runner.simulate(plan, paths, 77, backend="dask", scheduler=cluster.scheduler_address,
                          record_equity=True)
    assert_identical(one, two)
    assert_identical(one, far)
    assert one.trades.sum() > 0


def test_dask_example_scenario_summary(cluster):
    """The example scenario (short horizon): the reported summary is identical too."""
    from simcore.build import build_plan
    from simcore.metrics import summarize
    from simcore.scenario import load_scenario

    sc = load_scenario(os.path.join(ROOT, "scenarios", "5k_four_asset.yaml"))
    plan = build_plan(sc).with_(n_days=30)
    paths = 2 * BLOCK_SIZE + 7
    local = runner.simulate(plan, paths, 7, jobs=2)
    done = []
    far = runner.simulate(plan, paths, 7, backend="dask", scheduler=cluster.scheduler_address,
                          progress=done.append)
    assert_identical(local, far)
    assert sorted(done) == sorted(runner.block_sizes(paths))
    assert summarize(plan, local, paths, 7) == summarize(plan, far, paths, 7)


def test_dask_config_local_cluster():
    """scheduler=None starts (and stops) a LocalCluster of its own."""
    plan = random_plan(5)
    ref = runner.simulate(plan, BLOCK_SIZE + 50, 1, jobs=1)
    with dask_config(None, 2, n_workers=1, threads_per_worker=2, processes=False) as client:
        assert client.status == "running"
        import joblib
        outs = joblib.Parallel()(
            joblib.delayed(runner._run_block)(plan, ss, n, False)
            for ss, n in zip(np.random.SeedSequence(1).spawn(2), runner.block_sizes(BLOCK_SIZE + 50)))
    assert client.status == "closed"
    assert_identical(ref, runner.merge(outs))


def test_dask_config_rejects_cluster_options_with_an_address(cluster):
    with pytest.raises(TypeError):
        with dask_config(cluster.scheduler_address, 2, n_workers=3):
            pass


def test_a_scheduler_address_nothing_answers_at_is_a_bad_option_found_at_once():
    """`--scheduler tcp://HOST:PORT` with no scheduler there: exit 2 naming the option, before
    any work (a probe of the port, not dask's client with its 30 s connect timeout)."""
    import socket
    from click.testing import CliRunner
    from simcore.cli.main import main
    with socket.socket() as s:          # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scen = os.path.join(os.path.dirname(__file__), "..", "scenarios", "5k_four_asset.yaml")
    for address, text in ((f"tcp://127.0.0.1:{port}", f"no dask scheduler at tcp://127.0.0.1:{port}"),
                          ("foo bar", "not a dask address")):
        r = CliRunner().invoke(main, ["run", scen, "--paths", "10", "--backend", "dask",
                                      "--scheduler", address])
        assert r.exit_code == 2, r.output
        assert f"Error: --scheduler: {text}" in r.output and "Traceback" not in r.output
