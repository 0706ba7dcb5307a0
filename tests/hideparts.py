"""Run muxi as if some of its optional parts were not installed.

``python tests/hideparts.py local,memory -- chat hi`` runs ``muxi chat hi`` with
every module of the named parts (muxi_cli/parts.py) unimportable, the way a
fresh ``pip install muxi-cli`` without those extras is. The package check
(scripts/package-check) installs real wheels; this is the fast in-suite version.
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType


class HideModules(MetaPathFinder):
    """A finder that makes the given top-level packages not found."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.split(".", 1)[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def hidden_modules(parts: list[str]) -> set[str]:
    """The import names of ``parts``; "local" also hides what builds on it."""
    from muxi_cli.parts import part

    names: set[str] = set()
    wanted = set(parts)
    if "local" in wanted:
        wanted |= {"memory", "server"}
    for name in wanted:
        found = part(name)
        names |= set(found.probes) | set(found.also)
    if "numpy" in names and "media" not in wanted:
        names.discard("numpy")  # media needs it too
    return names


def main() -> None:
    spec, _, *args = sys.argv[1:]
    sys.meta_path.insert(0, HideModules(hidden_modules([p for p in spec.split(",") if p])))
    sys.argv = ["muxi", *args]
    from muxi_cli.__main__ import main as muxi_main

    muxi_main()


if __name__ == "__main__":
    main()
