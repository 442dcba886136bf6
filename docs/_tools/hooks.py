"""MkDocs hooks for the lazyvol site (configured under ``hooks:`` in mkdocs.yml).

- ``<!-- cli-reference -->`` in a page is replaced, at build time, by a reference generated from the
  ``lazyvol`` command's argparse parser (:func:`lazyvol.cli.build_parser`), so the page cannot
  drift from the command. The generator is importable on its own for tests:
  ``render_cli_reference()``.
- ``<!-- benchmark-report -->`` is replaced by the committed benchmark report,
  ``benchmarks/results/report.md`` (its title dropped, headings moved one level down, its PNG
  plots copied into the site under ``benchmarks-results/``), or by a note saying how to produce it
  when there is none.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- cli-reference -->"
BENCH_MARKER = "<!-- benchmark-report -->"
RESULTS = ROOT / "benchmarks" / "results"
RESULTS_URL = "benchmarks-results"

if str(ROOT / "src") not in sys.path:
    # Build from a checkout without installing: the package under src/ is the one documented.
    sys.path.insert(0, str(ROOT / "src"))


def _parser() -> argparse.ArgumentParser:
    from lazyvol import cli

    for name in ("build_parser", "make_parser", "get_parser", "parser"):
        factory = getattr(cli, name, None)
        if callable(factory):
            parser = factory()
            if isinstance(parser, argparse.ArgumentParser):
                return parser
    raise RuntimeError(
        "lazyvol.cli has no build_parser() returning an argparse.ArgumentParser; "
        "the command-line reference cannot be generated"
    )


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _flags(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(f"`{s}`" for s in action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or action.dest.upper()
            if isinstance(metavar, tuple):
                metavar = " ".join(metavar)
            names += f" `{metavar}`"
        return names
    metavar = action.metavar or action.dest
    return f"`{metavar}`"


def _default(action: argparse.Action) -> str:
    if action.option_strings and action.nargs == 0:
        return ""
    if action.default in (None, argparse.SUPPRESS) or action.required:
        return ""
    if isinstance(action.default, (list, tuple)) and not action.default:
        return ""
    return f"`{action.default}`"


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    text = action.help or ""
    if text == argparse.SUPPRESS:
        return ""
    params: dict[str, Any] = dict(vars(action), prog=parser.prog)
    if action.choices is not None and not isinstance(action.choices, dict):
        params["choices"] = ", ".join(map(str, action.choices))
    try:
        text = text % params
    except (KeyError, TypeError, ValueError):
        pass
    if action.choices is not None and not isinstance(action.choices, dict):
        choices = ", ".join(f"`{c}`" for c in action.choices)
        if "choices" not in (action.help or ""):
            text = f"{text} (one of {choices})" if text else f"one of {choices}"
    return _escape(text)


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # aliases
                    continue
                seen.add(id(sub))
                out.append((name, helps.get(name, ""), sub))
    return out


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=70)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def _render(
    parser: argparse.ArgumentParser, level: int, common: frozenset[str] = frozenset()
) -> list[str]:
    lines = ["```text", "usage: " + _usage(parser), "```", ""]
    if parser.description:
        lines += [parser.description.strip(), ""]
    rows = []
    skipped_common: list[str] = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings and set(action.option_strings) <= common:
            skipped_common.append("/".join(f"`{o}`" for o in action.option_strings))
            continue
        rows.append(f"| {_flags(action)} | {_help(parser, action)} | {_default(action)} |")
    if rows:
        lines += ["| argument | meaning | default |", "|---|---|---|", *rows, ""]
    if skipped_common:
        lines += [f"Also takes the common options {', '.join(skipped_common)}.", ""]
    if parser.epilog:
        lines += ["```text", parser.epilog.strip(), "```", ""]
    top_options = frozenset(
        s
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction)
        for s in a.option_strings
    )
    for _name, help_text, sub in _subparsers(parser):
        lines += [f"{'#' * level} `{sub.prog}`", ""]
        if help_text and not sub.description:
            lines += [help_text.strip(), ""]
        lines += _render(sub, level + 1, common | top_options)
    return lines


def render_cli_reference(level: int = 2) -> str:
    """Markdown reference of every ``lazyvol`` subcommand, generated from the parser."""
    return "\n".join(_render(_parser(), level)).rstrip() + "\n"


def render_benchmark_report(results: Path = RESULTS) -> str:
    """The committed benchmark report as a section of a page, or a note when there is none."""
    report = results / "report.md"
    if not report.is_file():
        return (
            '!!! note "No results committed yet"\n'
            "    Run `python -m benchmarks` from the repository root; the report lands in\n"
            "    `benchmarks/results/report.md` and appears here when the site is built.\n"
        )
    text = report.read_text(encoding="utf-8")
    lines: list[str] = []
    fence = False
    body = text.splitlines()
    if body and re.match(r"# ", body[0]):
        body = body[1:]  # the page's own "Latest results" heading stands for the report's title
    for line in body:
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        if not fence and re.match(r"#{1,5} ", line):
            line = "#" + line
        lines.append(line)
    text = "\n".join(lines) + "\n"
    # Plots referenced by bare file name live next to the report; the site serves them here.
    return re.sub(
        r"(!\[[^\]]*\]\()([^/)\s]+\.png)\)",
        lambda m: f"{m[1]}{RESULTS_URL}/{m[2]})",
        text,
    )


def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: serve the benchmark plots next to the benchmarks page."""
    from mkdocs.structure.files import File

    if (RESULTS / "report.md").is_file():
        for png in sorted(RESULTS.glob("*.png")):
            files.append(File.generated(config, f"{RESULTS_URL}/{png.name}", abs_src_path=str(png)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs hook: expand the CLI reference and benchmark report markers."""
    # Markers count only on a line of their own (a page may mention them in code).
    renderers: dict[str, Callable[[], str]] = {
        MARKER: render_cli_reference,
        BENCH_MARKER: render_benchmark_report,
    }
    for marker, render in renderers.items():
        markdown = _expand(markdown, marker, render)
    return markdown


def _expand(markdown: str, marker: str, render: Callable[[], str]) -> str:
    """Replace ``marker`` where it stands on a line of its own by ``render()``."""
    pattern = re.compile(rf"^{re.escape(marker)}[ \t]*$", re.M)
    if not pattern.search(markdown):
        return markdown
    text = render()
    return pattern.sub(lambda _m: text, markdown)
