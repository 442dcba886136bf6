"""Griffe extensions for the API reference (configured in mkdocs.yml).

``SphinxRoles`` turns Sphinx roles in numpydoc docstrings into mkdocstrings cross-references.

lazyvol's docstrings are numpydoc, which uses reStructuredText roles (``:func:`lazyvol.scan```,
``:class:`~lazyvol.Volume```, ``:mod:`lazyvol.errors```). mkdocstrings renders Markdown, where
those would show up verbatim; this extension rewrites them to autorefs links
(``[`lazyvol.scan`][lazyvol.scan]``) so they become links. A target that exists in the code but
is documented on no page makes ``mkdocs build --strict`` fail (autorefs cannot find it); a target
that does not exist in the code at all is shown as plain code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?P<role>func|meth|class|mod|attr|obj|exc|data|const):`(?P<target>[^`]+)`"
)


def _resolve(obj: griffe.Object, target: str) -> tuple[str, str]:
    """(text shown, identifier) for a role target as Sphinx would read it."""
    target = target.strip()
    explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<id>[^>]+)>", target)
    if explicit:
        return explicit["title"], explicit["id"].lstrip("~")
    short = target.startswith("~")
    ident = target.lstrip("~")
    if ident.startswith("."):
        # Relative to the object's module (Sphinx searches the current module first).
        module = obj.module.path if obj.module is not None else "lazyvol"
        ident = module + ident
    elif "." not in ident and obj.parent is not None:
        # A bare name: look in the enclosing class or module.
        scope: griffe.Module | griffe.Class | None = (
            obj if isinstance(obj, (griffe.Class, griffe.Module)) else obj.parent
        )
        while scope is not None:
            if ident in scope.members:
                member = scope.members[ident]
                # An imported name (``import gzip``) means the imported object, not a member.
                if isinstance(member, griffe.Alias):
                    ident = member.target_path
                else:
                    ident = f"{scope.path}.{ident}"
                break
            scope = scope.parent
    shown = ident.rsplit(".", 1)[-1] if short else target.lstrip("~")
    return shown, ident


def _exists(root: griffe.Module, ident: str) -> bool:
    parts = ident.split(".")
    if parts[0] != root.name:
        return False
    try:
        root[".".join(parts[1:])] if len(parts) > 1 else root
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
    return True


def _is_module(root: griffe.Module, ident: str) -> bool:
    parts = ident.split(".")
    try:
        obj = root[".".join(parts[1:])] if len(parts) > 1 else root
        return bool(obj.is_module)
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False


def rewrite(obj: griffe.Object, text: str, root: griffe.Module) -> str:
    """``text`` with every Sphinx role replaced by an autorefs link (or code, if unresolvable)."""

    def repl(match: re.Match[str]) -> str:
        shown, ident = _resolve(obj, match["target"])
        if not _exists(root, ident):
            return f"`{shown}`"
        return f"[`{shown}`][{ident}]"

    return _ROLE.sub(repl, text)


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    out = [obj]
    for member in obj.members.values():
        if isinstance(member, griffe.Alias):
            continue
        out += _walk(member)
    return out


class SphinxRoles(griffe.Extension):
    """Rewrite roles in every docstring of the package, once it is fully loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: Any = None, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = rewrite(obj, obj.docstring.value, pkg)
