"""lazyvol's benchmark suite: ``python -m benchmarks`` from the repository root (``--help``).

Modules: :mod:`.cli` (command line and orchestration), :mod:`.harness` (plan, fresh-process runs,
memory priming, machine facts), :mod:`.worker` (the measured process), :mod:`.memory` (peak
``RssAnon``/``VmHWM``), :mod:`.data` (generated data), :mod:`.cases` (one module per case group),
:mod:`.targets` (PASS/MISS), :mod:`.report` (table, Markdown, plots).
"""
