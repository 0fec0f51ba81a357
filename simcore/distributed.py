"""Scale-out on a dask.distributed cluster, through joblib's dask backend.

``simulate(..., backend="dask", scheduler=ADDRESS)`` runs the very same tasks as a local
run -- one per fixed-size block, each with its own ``SeedSequence`` child (``runner.py``) --
on the workers of a dask cluster instead of local threads. Nothing about a block depends on
where or when it runs, and the runner merges the blocks in block order, so the results are
bit-identical to a local run (tests/test_dask.py), provided every worker runs the same build
of simcore against the same numpy and C math library (``exp``/``log`` come from the
platform's libm: use one environment image for the whole cluster).

Needs the ``dask`` extra: ``pip install '.[dask]'`` in the source tree (``dask[distributed]``).

Usage::

    from simcore.runner import simulate
    out = simulate(plan, 1_000_000, seed=7, backend="dask", scheduler="tcp://10.0.0.5:8786")

or, around any joblib-based code::

    with dask_config("tcp://10.0.0.5:8786"):
        ...
"""
from __future__ import annotations

import contextlib
from typing import Optional


def _import_distributed():
    try:
        import distributed
    except ImportError as e:   # pragma: no cover - depends on the environment
        raise ImportError(
            'backend="dask" needs dask.distributed: pip install "dask[distributed]" '
            "(or the dask extra: pip install '.[dask]' in the source tree)") from e
    return distributed


@contextlib.contextmanager
def dask_config(scheduler: Optional[str] = None, n_jobs: Optional[int] = None,
                **cluster_kwargs):
    """Connect to a dask cluster and make it joblib's backend for the ``with`` block.

    ``scheduler``: the scheduler's address (``"tcp://host:8786"``), or None to start a
    ``distributed.LocalCluster`` for the duration of the block (``cluster_kwargs`` go to it;
    by default one worker process per core, HTTP routes on a random loopback port). ``n_jobs``: how many tasks joblib keeps
    in flight (None or -1: as many as the cluster has worker threads).

    Yields the ``distributed.Client``. The client, and a cluster started here, are closed on
    exit.
    """
    distributed = _import_distributed()
    import joblib

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            # loopback, random port: even without a dashboard the scheduler serves its HTTP
            # routes (health, metrics), by default on 0.0.0.0:8787
            kw = {"dashboard_address": "127.0.0.1:0"}
            kw.update(cluster_kwargs)
            cluster = stack.enter_context(distributed.LocalCluster(**kw))
            address = cluster.scheduler_address
        else:
            if cluster_kwargs:
                raise TypeError("cluster options apply only when no scheduler address is given")
            address = scheduler
        client = stack.enter_context(distributed.Client(address, set_as_default=False))
        jobs = -1 if n_jobs is None else int(n_jobs)
        stack.enter_context(joblib.parallel_config(backend="dask", n_jobs=jobs, client=client))
        yield client
