"""Case groups. Each module defines ``GROUP`` (its name), ``plan(ctx) -> list[Measure]`` (the cases
with their data paths), ``prepare(ctx, measures)`` (generate data, build indexes: may raise
``ImportError``/``AttributeError`` when a capability is missing, which marks its cases "n/a"), and
the tool functions the worker runs (``tool(**args) -> callable``, see :mod:`benchmarks.worker`).
"""

from __future__ import annotations

#: Module names under ``benchmarks.cases``, in report order.
GROUPS = ["startup", "nifti", "gzindex", "scaling", "dicom", "zarr", "distributed", "remote"]
