"""The documentation is tested: every ```python block of README.md and docs/**/*.md runs.

Each page's blocks run in order in one namespace (as a reader pasting them into one session would),
in a fresh temporary working directory, with a temporary ``LAZYVOL_CACHE_DIR`` (conftest.py). A
```text block titled "Output" right after a python block is that block's expected standard output,
compared like a doctest (``...`` matches anything, whitespace is normalised).

A ```console block holds shell sessions of the ``lazyvol`` command: each ``$ lazyvol ...`` line is
run (in-process, through ``lazyvol.cli.main``, in the same working directory) and the lines after
it, up to the next ``$``, are its expected output (stdout then stderr), compared the same way.

A block preceded by ``<!-- docs-test: skip REASON -->`` is not run; the page must say why in prose
(e.g. it connects to a remote cluster). ``<!-- docs-test: reset -->`` starts a fresh namespace.

The site itself must build with ``mkdocs build --strict`` (broken links, missing pages, bad
docstring references fail it).
"""

from __future__ import annotations

import contextlib
import doctest
import gc
import io
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(
    [ROOT / "README.md", *(p for p in DOCS.rglob("*.md") if "_tools" not in p.parts)],
    key=lambda p: str(p),
)

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+#.-]*)(?P<rest>.*)$"
)
_MARK = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<what>skip|reset)\b(?P<why>.*?)-->\s*$")
_OUTPUT_TITLE = re.compile(r"""title\s*=\s*["']Output["']""")
_PY_LANGS = {"python", "py", "python3"}


@dataclass
class Block:
    """One fenced code block of a Markdown page."""

    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    skip: str | None = None  # reason, when marked skip
    reset: bool = False
    is_output: bool = False
    expected: str | None = None  # for python blocks: the Output block that follows


def parse_blocks(text: str) -> list[Block]:
    """Fenced code blocks in order, with docs-test markers and Output blocks attached."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: dict[str, str | bool] = {}
    last_python: Block | None = None
    between_only_blank = False
    i = 0
    while i < len(lines):
        line = lines[i]
        mark = _MARK.match(line)
        if mark:
            if mark["what"] == "skip":
                reason = mark["why"].strip(" :-")
                pending["skip"] = reason
            else:
                pending["reset"] = True
            i += 1
            continue
        m = _FENCE.match(line)
        if not m:
            if line.strip():
                between_only_blank = False
                if not line.strip().startswith("<!--"):
                    pending.clear()
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            close = lines[j].strip()
            if close.startswith(fence[0] * len(fence)) and not close.strip(fence[0]):
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        if j >= len(lines):
            raise ValueError(f"line {i + 1}: code fence {fence!r} is never closed")
        lang = m["lang"].lower()
        block = Block(lang=lang, code=textwrap.dedent("\n".join(body)) + "\n", line=i + 1)
        if "skip" in pending:
            block.skip = str(pending["skip"])
        block.reset = bool(pending.get("reset", False))
        pending.clear()
        if lang == "text" and _OUTPUT_TITLE.search(m["rest"]):
            block.is_output = True
            if last_python is None or not between_only_blank or last_python.expected is not None:
                raise ValueError(
                    f"line {i + 1}: an Output block must directly follow a python block"
                )
            last_python.expected = block.code
        blocks.append(block)
        if lang in _PY_LANGS:
            last_python = block
            between_only_blank = True
        else:
            last_python = None
            between_only_blank = False
        i = j + 1
    return blocks


_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def run_page(path: Path, workdir: Path) -> int:
    """Run every python block of ``path`` in ``workdir``; returns how many ran."""
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    blocks = parse_blocks(path.read_text(encoding="utf-8"))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    old = Path.cwd()
    os.chdir(workdir)
    try:
        for block in blocks:
            if block.lang not in _PY_LANGS and block.lang != "console":
                continue
            if block.skip is not None:
                assert block.skip, f"{rel}:{block.line}: a skipped block must give its reason"
                continue
            if block.lang == "console":
                ran += run_console(block, f"{rel}:{block.line}")
                continue
            if block.reset:
                namespace = {"__name__": "__docs__"}
            out = io.StringIO()
            code = compile(block.code, f"{rel}:{block.line}", "exec")
            try:
                with contextlib.redirect_stdout(out):
                    exec(code, namespace)
            except Exception as exc:
                raise AssertionError(
                    f"{rel}: the python block at line {block.line} raised "
                    f"{type(exc).__name__}: {exc}\n--- block ---\n{block.code}"
                ) from exc
            ran += 1
            if block.expected is not None and not _CHECKER.check_output(
                block.expected, out.getvalue(), _FLAGS
            ):
                raise AssertionError(
                    f"{rel}: the output of the python block at line {block.line} differs from "
                    f"the page\n--- page says ---\n{block.expected}--- code printed ---\n"
                    f"{out.getvalue()}"
                )
    finally:
        os.chdir(old)
        namespace.clear()
        _release_resources()
    return ran


def run_console(block: Block, where: str) -> int:
    """Run the ``$ lazyvol ...`` commands of a console block; returns 1."""
    import shlex

    from lazyvol.cli import main

    sessions: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            sessions.append((line[2:], []))
        elif sessions:
            sessions[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"{where}: console blocks start with a '$ ' command line")
    for command, expected_lines in sessions:
        argv = shlex.split(command, comments=True)
        assert argv[:1] == ["lazyvol"], f"{where}: only lazyvol commands can run: {command}"
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv[1:])
            except SystemExit as exc:  # argparse --help / usage errors
                status = exc.code if isinstance(exc.code, int) else 1
        printed = out.getvalue() + err.getvalue()
        expected = "\n".join(expected_lines).strip() + "\n"
        if expected.strip() and not _CHECKER.check_output(expected, printed, _FLAGS):
            raise AssertionError(
                f"{where}: `{command}` printed something else than the page says\n"
                f"--- page says ---\n{expected}--- command printed ---\n{printed}"
            )
        if status != 0 and "lazyvol: error:" not in expected:
            raise AssertionError(f"{where}: `{command}` exited with {status}:\n{printed}")
    return 1


def _release_resources() -> None:
    """Close what examples may leave open (indexed_gzip handles on deleted temp files)."""
    with contextlib.suppress(ImportError):
        from lazyvol.nifti import clear_gzip_handles

        clear_gzip_handles()
    gc.collect()


# -- the runner itself ------------------------------------------------------------------------


def test_parser_finds_blocks_markers_and_outputs() -> None:
    text = textwrap.dedent(
        """\
        Intro.

        ```python
        print(1 + 1)
        ```

        ```text title="Output"
        2
        ```

        <!-- docs-test: skip needs a cluster -->
        ```python
        connect()
        ```

        !!! note
            ```python
            y = 3
            ```

        <!-- docs-test: reset -->
        ```py
        z = 4
        ```

        ```bash
        lazyvol info x
        ```
        """
    )
    blocks = parse_blocks(text)
    assert [b.lang for b in blocks] == ["python", "text", "python", "python", "py", "bash"]
    assert blocks[0].expected == "2\n" and blocks[1].is_output
    assert blocks[2].skip == "needs a cluster"
    assert blocks[3].code == "y = 3\n" and blocks[3].skip is None
    assert blocks[4].reset and not blocks[3].reset
    assert blocks[5].skip is None


def test_readme_commands_run_in_order() -> None:
    """The README's lazyvol commands are console blocks, run in order after its python blocks
    (a bash block is shown, never run: its commands failed unnoticed, `convert` onto a file the
    python block above had written)."""
    for block in parse_blocks((ROOT / "README.md").read_text(encoding="utf-8")):
        if block.lang in ("bash", "sh", "shell"):
            lines = [line.strip() for line in block.code.splitlines()]
            assert not any(line.startswith("lazyvol ") for line in lines), block.line


def test_marker_applies_only_to_the_next_block() -> None:
    text = "<!-- docs-test: skip x -->\n\nSome prose.\n\n```python\na = 1\n```\n"
    assert parse_blocks(text)[0].skip is None


def test_output_block_must_follow_python() -> None:
    with pytest.raises(ValueError, match="Output block"):
        parse_blocks('Text\n\n```text title="Output"\n1\n```\n')
    with pytest.raises(ValueError, match="never closed"):
        parse_blocks("```python\nx = 1\n")


def test_runner_catches_wrong_output_and_errors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('```python\nprint("a", 2)\n```\n\n```text title="Output"\na 3\n```\n')
    with pytest.raises(AssertionError, match="differs from the page"):
        run_page(page, tmp_path)
    page.write_text("```python\nx = 1\n```\n\n```python\nprint(x + undefined)\n```\n")
    with pytest.raises(AssertionError, match=r"line 5 raised NameError"):
        run_page(page, tmp_path)
    page.write_text(
        '```python\nx = [1, 2, 3]\nprint(x)\n```\n\n```text title="Output"\n[1, ...]\n```\n'
    )
    assert run_page(page, tmp_path) == 1


def test_console_blocks_run_the_command(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```console\n$ lazyvol info missing.nii\nlazyvol: error: missing.nii: no such ...\n```\n"
    )
    assert run_page(page, tmp_path) == 1
    page.write_text("```console\n$ lazyvol info missing.nii\n```\n")
    with pytest.raises(AssertionError, match="exited with 2"):
        run_page(page, tmp_path)
    page.write_text("```console\n$ lazyvol cache list\nthe cache is full\n```\n")
    with pytest.raises(AssertionError, match="something else"):
        run_page(page, tmp_path)
    page.write_text("```console\n$ rm -rf /\n```\n")
    with pytest.raises(AssertionError, match="only lazyvol commands"):
        run_page(page, tmp_path)


def test_runner_resets_namespace_and_uses_workdir(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    work = tmp_path / "work"
    work.mkdir()
    page.write_text(
        "```python\nopen('made.txt', 'w').write('x')\nx = 1\n```\n\n"
        "<!-- docs-test: reset -->\n```python\nprint(x)\n```\n"
    )
    with pytest.raises(AssertionError, match="NameError"):
        run_page(page, work)
    assert (work / "made.txt").exists()


# -- the pages --------------------------------------------------------------------------------


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every python block of the page runs, and printed output matches the page."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    blocks = parse_blocks(page.read_text(encoding="utf-8"))
    runnable = [
        b for b in blocks if (b.lang in _PY_LANGS or b.lang == "console") and b.skip is None
    ]
    ran = run_page(page, work)
    assert ran == len(runnable)


def test_every_page_is_covered() -> None:
    """The README and the guide pages hold examples; skips stay rare."""
    counts = {}
    skipped = []
    for page in PAGES:
        blocks = [b for b in parse_blocks(page.read_text(encoding="utf-8")) if b.lang in _PY_LANGS]
        counts[_page_id(page)] = len(blocks)
        skipped += [f"{_page_id(page)}:{b.line}" for b in blocks if b.skip is not None]
    assert counts["README.md"] >= 1
    for guide in ("docs/getting-started.md", "docs/nifti.md"):
        assert counts[guide] >= 3, f"{guide} lost its examples"
    total = sum(counts.values())
    assert len(skipped) <= max(2, total // 10), f"too many skipped examples: {skipped}"


def _public_modules() -> list[str]:
    import pkgutil

    import lazyvol

    names = ["lazyvol"]
    for info in pkgutil.walk_packages(lazyvol.__path__, "lazyvol."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return names


def test_docstring_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``>>>`` examples of the docstrings (shown in the API reference) pass as doctests."""
    import importlib

    monkeypatch.chdir(tmp_path)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    tried = 0
    out = io.StringIO()
    seen: set[str] = set()
    for name in _public_modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if not test.examples or test.name in seen:
                continue
            seen.add(test.name)
            runner.run(test, out=out.write)
            tried += len(test.examples)
    assert runner.failures == 0, out.getvalue()
    assert tried > 0


# -- the site ---------------------------------------------------------------------------------


def _mkdocs_cmd() -> list[str]:
    pytest.importorskip("mkdocs", reason="install the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("material", reason="install the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="install the docs extra: pip install -e '.[docs]'")
    return [sys.executable, "-m", "mkdocs"]


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cmd = _mkdocs_cmd()
    site = tmp_path_factory.mktemp("site")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    env["LAZYVOL_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    env["NO_MKDOCS_2_WARNING"] = "1"
    proc = subprocess.run(
        [
            *cmd,
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr
    return site


@pytest.mark.slow
def test_site_builds_strict(built_site: Path) -> None:
    index = (built_site / "index.html").read_text(encoding="utf-8")
    assert "lazyvol" in index
    for page in PAGES:
        if page.parent == ROOT:
            continue
        # use_directory_urls: false -- page.md becomes page.html, so the site works from disk
        html = built_site / page.relative_to(DOCS).with_suffix(".html")
        assert html.is_file(), f"{page} was not rendered to {html}"
    # opened from disk (file://), a link to a folder shows a directory listing: none may exist
    folder_links = re.compile(r'href="(?!https?:|mailto:|#)([^"]*/)(?:#[^"]*)?"')
    for page in built_site.rglob("*.html"):
        bad = [m for m in folder_links.findall(page.read_text(encoding="utf-8")) if m != "/"]
        assert not bad, f"{page.relative_to(built_site)} links to folders: {bad[:5]}"
    cli = (built_site / "cli.html").read_text(encoding="utf-8")
    assert "usage: lazyvol convert" in cli and "cli-reference" not in cli
    bench = (built_site / "benchmarks.html").read_text(encoding="utf-8")
    if (ROOT / "benchmarks" / "results" / "report.md").is_file():
        assert "Targets" in bench and "benchmarks-results/" in bench
        for png in (ROOT / "benchmarks" / "results").glob("*.png"):
            assert (built_site / "benchmarks-results" / png.name).is_file(), png.name
    else:
        assert "No results committed yet" in bench
    contributing = (built_site / "contributing-docs.html").read_text(encoding="utf-8")
    assert "usage: lazyvol" not in contributing  # markers quoted in prose are left alone


@pytest.mark.slow
def test_site_api_reference_has_docstrings(built_site: Path) -> None:
    import lazyvol

    api = (built_site / "api" / "open.html").read_text(encoding="utf-8")
    first_line = (lazyvol.open.__doc__ or "").strip().splitlines()[0]
    assert first_line.rstrip(".") in api
    errors = (built_site / "api" / "errors.html").read_text(encoding="utf-8")
    for name in lazyvol.errors.__all__:
        assert f'id="lazyvol.errors.{name}"' in errors, f"{name} missing from the API reference"


@pytest.mark.slow
def test_site_shows_the_axes_picture(built_site: Path) -> None:
    dicom = (built_site / "dicom.html").read_text(encoding="utf-8")
    assert "img/dicom-axes.png" in dicom
    png = built_site / "img" / "dicom-axes.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors_page_covers_every_error_class() -> None:
    import lazyvol.errors

    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    for name in lazyvol.errors.__all__:
        assert re.search(rf"^#+ .*`{name}`", text, re.M), (
            f"docs/errors.md has no section for {name}"
        )


def test_axes_picture_is_what_the_script_draws(tmp_path: Path) -> None:
    """The committed picture comes from the committed script (same size; the script still runs)."""
    import importlib.util

    pytest.importorskip("matplotlib", reason="install the docs extra: pip install -e '.[docs]'")
    import matplotlib.image as mpimg

    spec = importlib.util.spec_from_file_location("axes_figure", DOCS / "_tools" / "axes_figure.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = module.draw(tmp_path / "axes.png")
    committed = mpimg.imread(DOCS / "img" / "dicom-axes.png")
    drawn = mpimg.imread(fresh)
    assert committed.shape == drawn.shape
    # Same drawing up to font rendering differences between machines.
    assert float(abs(committed[..., :3] - drawn[..., :3]).mean()) < 0.02


def test_code_lines_fit_the_page() -> None:
    """Code in docs/ fits the text column (about 78 characters) without a sideways scrollbar."""
    long_lines = []
    for page in PAGES:
        if page.parent == ROOT:  # README.md is rendered by code hosts, not by this site
            continue
        for block in parse_blocks(page.read_text(encoding="utf-8")):
            if block.is_output:
                continue  # Output blocks wrap (docs/css/extra.css)
            for n, line in enumerate(block.code.splitlines(), start=block.line + 1):
                if block.lang == "console" and not line.startswith("$ "):
                    continue  # a command's output (tables) scrolls, as Output blocks wrap
                if len(line) > 78:
                    long_lines.append(f"{_page_id(page)}:{n} ({len(line)} chars)")
    assert not long_lines, long_lines


def test_cli_reference_lists_every_subcommand_and_option() -> None:
    """The generated reference covers the parser completely (nothing silently dropped)."""
    import argparse

    from lazyvol.cli import build_parser

    text = _load_hooks().render_cli_reference()
    parser = build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert subs, "lazyvol has subcommands"
    for name, sub in subs[0].choices.items():
        assert f"## `lazyvol {name}`" in text, name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for flag in action.option_strings:
                assert f"`{flag}" in text, f"{name} {flag} missing from the CLI reference"
            if not action.option_strings:
                assert f"`{action.metavar or action.dest}`" in text, (name, action.dest)
    assert "<!-- cli-reference -->" in (DOCS / "cli.md").read_text(encoding="utf-8")


def _load_hooks():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "_tools" / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


def test_benchmark_report_is_included_with_its_plots(tmp_path: Path) -> None:
    hooks = _load_hooks()
    assert "No results committed yet" in hooks.render_benchmark_report(tmp_path)
    (tmp_path / "report.md").write_text(
        "# lazyvol benchmark report\n\n## nifti\n\n```text\n# not a heading\n```\n\n"
        "![nifti](nifti_throughput.png)\n![abs](/x/y.png)\n"
    )
    text = hooks.render_benchmark_report(tmp_path)
    assert "lazyvol benchmark report" not in text and "### nifti" in text
    assert "# not a heading" in text and "## not a heading" not in text
    assert "![nifti](benchmarks-results/nifti_throughput.png)" in text
    assert "![abs](/x/y.png)" in text
    assert "<!-- benchmark-report -->" in (DOCS / "benchmarks.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_every_public_name_is_in_the_api_reference(built_site: Path) -> None:
    """Each name of ``lazyvol.__all__`` has an entry (an anchor) in the generated API pages."""
    import inspect

    import lazyvol

    html = "".join(p.read_text(encoding="utf-8") for p in (built_site / "api").rglob("*.html"))
    missing = []
    for name in lazyvol.__all__:
        if name == "__version__":
            continue
        obj = getattr(lazyvol, name)
        ids = {f"lazyvol.{name}"}
        if inspect.ismodule(obj):
            ids.add(obj.__name__)
        elif hasattr(obj, "__module__") and hasattr(obj, "__qualname__"):
            ids.add(f"{obj.__module__}.{obj.__qualname__}")
        if not any(f'id="{i}"' in html for i in ids):
            missing.append(name)
    assert not missing, f"public names without an API reference entry: {missing}"
