"""Public names a package imports on first use (a module ``__getattr__``, PEP 562).

``import lazyvol`` stays as light as opening a file needs, and ``lazyvol.dicom`` loads the header
parser or the reader only when asked for them: each package keeps a table of
``name -> (module, attribute or None for the module itself)`` and takes its ``__getattr__`` and
``__dir__`` from :func:`lazy_names`. A name is imported once, then kept in the package's namespace.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, namespace: dict[str, Any], table: Mapping[str, tuple[str, str | None]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose globals are ``namespace``.

    ``table`` maps each lazily loaded name to the module holding it (relative to ``package``) and
    the attribute (None: the module itself). Any other name raises ``AttributeError`` as a module
    does.
    """

    def __getattr__(name: str) -> Any:
        try:
            module_name, attr = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = importlib.import_module(module_name, package)
        value = module if attr is None else getattr(module, attr)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
