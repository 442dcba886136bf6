"""The same full-volume mean on a 2-worker ``dask.distributed.LocalCluster`` vs the threaded scheduler.

The cluster (2 worker processes, 1 thread each) is started in the untimed preparation; its start-up
is measured as a case of its own. Memory figures for the cluster runs are the client process only
(the workers are separate processes).
"""

from __future__ import annotations

from typing import Any

from .. import data
from ..harness import Context, Measure
from . import gzindex, nifti
from .tools import Work

GROUP = "distributed"
M = "benchmarks.cases.distributed"
T = "benchmarks.cases.tools"


def cluster_mean(path: str, workers: int = 2) -> Work:
    """Prepare a LocalCluster + Client; the work is ``lazyvol.open(path).data.mean().compute()``.
    dask.array (``.data``) is imported in the preparation, as for the threaded row
    (:func:`tools.lazyvol_mean`)."""
    import dask.array  # noqa: F401  (imported by the user's code: .data is a dask array)
    from distributed import Client, LocalCluster

    import lazyvol as lv

    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)

    def work() -> float:
        return float(lv.open(path).data.mean().compute())

    # Keep the cluster alive until the process exits (the worker exits right after the work).
    work.cluster = (cluster, client)  # type: ignore[attr-defined]
    return work


def cluster_start(workers: int = 2) -> Work:
    """Start and stop a LocalCluster with a client: the fixed cost of going distributed."""
    from distributed import Client, LocalCluster

    def work() -> dict[str, Any]:
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            n = len(client.scheduler_info()["workers"])
        return {"workers": n}

    return work


def plan(ctx: Context) -> list[Measure]:
    if ctx.input is not None:
        return []
    shape = nifti.shape_for(ctx)
    out: list[Measure] = []
    for gz in (False, True):
        path = str(ctx.data_dir / "nifti" / data.nifti_name(shape, "int16", gz))
        case = "mean .nii.gz int16, saved index" if gz else "mean .nii int16"
        c: dict[str, Any] = {"group": GROUP, "case": case, "files": [path]}
        a = {"path": path}
        out += [
            Measure(tool="lazyvol, threads", module=T, func="lazyvol_mean", args=a, ref=True, **c),
            Measure(
                tool="lazyvol, LocalCluster 2 workers", module=M, func="cluster_mean", args=a, **c
            ),
        ]
    out.append(
        Measure(
            group=GROUP,
            case="LocalCluster start-up",
            tool="LocalCluster(2) + Client, start and close",
            module=M,
            func="cluster_start",
            ref=True,
        )
    )
    return out


def prepare(ctx: Context, measures: list[Measure]) -> None:
    shape = nifti.shape_for(ctx)
    for m in measures:
        if not m.files:
            continue
        path = m.files[0]
        gz = path.endswith(".gz")
        data.nifti(ctx.data_dir, shape, "int16", gz)
        m.nbytes = data.nifti_info(path)["nbytes"]
        if gz:
            # Rebuilt (once per suite run): a folder left by an earlier run may hold only a
            # stale index (another lazyvol, a regenerated file) or a warm-up file's, and the
            # "saved index" rows would then time a first pass.
            folder, _ = gzindex.build_index(ctx, path)
            m.cache = str(folder)
