"""The extras in pyproject.toml, the parts in muxi_cli/parts.py and muxi's imports agree.

Static and fast (no install): scripts/package-check installs each option for
real. These catch the slip that package-check would only find minutes later,
or not at all on a machine where the package happens to be installed: a new
third-party import that no dependency brings, or an extra without its part.
Dependencies of dependencies are followed through the dev venv's installed
metadata (it has every extra installed).
"""

from __future__ import annotations

import ast
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from muxi_cli.parts import DISTRIBUTION, PARTS, part_for_module

ROOT = Path(__file__).resolve().parents[1]
#: Extras that are not parts of muxi: the everything-extra and the developers' ones.
NOT_PARTS = {"all", "dev", "bench"}
#: Imports no dependency brings, on purpose: each is guarded by ``except ImportError``.
OPTIONAL_IMPORTS = {
    "pillow_heif": "HEIC pictures when the user installs it (muxi_cli/media/images.py)",
}


@cache
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def expand(requirements: list[str]) -> list[Requirement]:
    """The requirements with ``muxi-cli[x]`` replaced by extra x's own, from pyproject.toml
    (not from the installed metadata, which may be another checkout's)."""
    out: list[Requirement] = []
    for text in requirements:
        req = Requirement(text)
        if canonicalize_name(req.name) == DISTRIBUTION:
            for extra in sorted(req.extras):
                out += expand(project()["optional-dependencies"][extra])
        else:
            out.append(req)
    return out


def closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution the requirements bring, through the installed metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = list(requirements)
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(key[0])
        try:
            needs = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:  # another platform's dependency
            continue
        for text in needs:
            dep = Requirement(text)
            extras = {"", *req.extras}
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dep)
    return names


@cache
def brought() -> dict[str | None, set[str]]:
    """Distributions per group: ``None`` = the base install, else per extra."""
    groups: dict[str | None, set[str]] = {None: closure(expand(project()["dependencies"]))}
    for extra, requirements in project()["optional-dependencies"].items():
        groups[extra] = closure(expand(requirements))
    return groups


@cache
def module_distributions() -> dict[str, list[str]]:
    return {
        module: [canonicalize_name(d) for d in dists]
        for module, dists in metadata.packages_distributions().items()
    }


def third_party_imports() -> dict[str, set[str]]:
    """Top-level imported module -> the muxi_cli files importing it (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "muxi_cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".", 1)[0]
                if top in sys.stdlib_module_names or top in {"muxi_cli", "__future__"}:
                    continue
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_extra_is_a_part_and_every_part_an_extra() -> None:
    extras = set(project()["optional-dependencies"]) - NOT_PARTS
    part_extras = {p.extra for p in PARTS if p.extra is not None}
    assert extras == part_extras, "pyproject.toml's extras and muxi_cli/parts.py's PARTS differ"
    assert [p for p in PARTS if p.extra is None] == [PARTS[0]], "one base part, listed first"
    assert brought()["all"] >= set().union(*(brought()[e] for e in part_extras))
    assert brought()["dev"] >= brought()["all"], "the dev extra installs every part"


def test_each_part_probes_what_its_extra_brings() -> None:
    for part in PARTS:
        group = brought()[part.extra]
        for module in (*part.probes, *part.also):
            # A dotted probe (a namespace package's subpackage) is installed by its top's.
            dists = module_distributions().get(module.split(".", 1)[0])
            assert dists, f"part {part.name}: {module} is installed by nothing in the dev venv"
            assert set(dists) & group, f"part {part.name}: {module} ({dists}) is not in its extra"


def test_every_third_party_import_comes_with_the_base_or_a_part() -> None:
    base = brought()[None]
    problems = []
    for module, files in sorted(third_party_imports().items()):
        if module in OPTIONAL_IMPORTS:
            continue
        where = f"{module} (imported in {', '.join(sorted(files)[:3])})"
        dists = set(module_distributions().get(module, []))
        if not dists:
            problems.append(f"{where}: installed by no dependency")
            continue
        if dists & base:
            continue
        parts = [p.extra for p in PARTS if p.extra and dists & brought()[p.extra]]
        if not parts:
            problems.append(f"{where}: brought by no extra; add it to one (pyproject.toml)")
            continue
        # What an extra lists itself is what a user lacks without it: a stray
        # ModuleNotFoundError for it must name the extra (muxi_cli/parts.py).
        direct = {
            p.extra
            for p in PARTS
            if p.extra and dists & {canonicalize_name(r.name) for r in
                                    expand(project()["optional-dependencies"][p.extra])}
        }  # fmt: skip
        named = part_for_module(module)
        if direct and (named is None or named.extra not in direct):
            problems.append(
                f"{where}: brought by [{', '.join(sorted(direct))}] but part_for_module "
                f"names {named.name if named else 'no part'}; list it in that Part's probes/also"
            )
    assert not problems, "\n".join(problems)
