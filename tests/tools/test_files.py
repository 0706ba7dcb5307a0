from __future__ import annotations

import os
from pathlib import Path

import pytest

from muxi_cli.config.schema import Formation
from muxi_cli.tools.builtins import BuiltinContext, get_builtin


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.md").write_text("hello docs\n")
    (root / "big.txt").write_text("x" * 5000)
    (root / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    os.symlink(outside, root / "link_out.txt")
    os.symlink(tmp_path, root / "dir_out")
    (root / "inner_link.md").symlink_to(root / "docs" / "a.md")
    return root


def ctx(root: Path, **files: object) -> BuiltinContext:
    formation = Formation.model_validate({"files": {"roots": ["project"], **files}})
    return BuiltinContext(formation, root.parent)


async def read(root: Path, path: str, **files: object) -> tuple[bool, str]:
    out = await get_builtin("read_file").run({"path": path}, ctx(root, **files))
    return out.ok, out.content


async def test_reads_inside_the_root(layout: Path) -> None:
    assert await read(layout, "docs/a.md") == (True, "hello docs\n")
    assert await read(layout, str(layout / "docs" / "a.md")) == (True, "hello docs\n")
    assert await read(layout, "docs/../docs/a.md") == (True, "hello docs\n")
    assert await read(layout, "inner_link.md") == (True, "hello docs\n")


@pytest.mark.parametrize(
    "path",
    ["../secret.txt", "docs/../../secret.txt", "link_out.txt", "dir_out/secret.txt", "/etc/passwd"],
)
async def test_escapes_are_refused(layout: Path, path: str) -> None:
    ok, content = await read(layout, path)
    assert not ok
    assert "access denied" in content
    assert "top secret" not in content


async def test_absolute_path_outside_roots_is_refused(layout: Path) -> None:
    ok, content = await read(layout, str(layout.parent / "secret.txt"))
    assert not ok and "outside the allowed folders" in content


async def test_size_limit_truncates_with_a_marker(layout: Path) -> None:
    ok, content = await read(layout, "big.txt", max_bytes=1000)
    assert ok
    assert content.startswith("x" * 1000)
    assert "x" * 1001 not in content
    assert "[truncated: the file has 5000 bytes" in content
    more = await get_builtin("read_file").run(
        {"path": "big.txt", "offset": 4500}, ctx(layout, max_bytes=1000)
    )
    assert more.ok and more.content == "x" * 500


async def test_binary_missing_and_folder(layout: Path) -> None:
    ok, content = await read(layout, "blob.bin")
    assert not ok and "binary" in content
    ok, content = await read(layout, "nope.txt")
    assert not ok and "no such file" in content
    ok, content = await read(layout, "docs")
    assert not ok and "folder" in content


async def test_list_dir(layout: Path) -> None:
    tool = get_builtin("list_dir")
    out = await tool.run({}, ctx(layout))
    assert out.ok
    lines = out.content.splitlines()
    assert "docs/" in lines
    assert "big.txt (5000 bytes)" in lines
    assert "link_out.txt (link)" in lines
    sub = await tool.run({"path": "docs"}, ctx(layout))
    assert sub.content == "a.md (11 bytes)"
    escape = await tool.run({"path": ".."}, ctx(layout))
    assert not escape.ok and "access denied" in escape.content
    through_link = await tool.run({"path": "dir_out"}, ctx(layout))
    assert not through_link.ok


async def test_several_roots(layout: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.txt").write_text("bee")
    formation = Formation.model_validate({"files": {"roots": ["project", str(other)]}})
    out = await get_builtin("read_file").run(
        {"path": str(other / "b.txt")}, BuiltinContext(formation, tmp_path)
    )
    assert out.ok and out.content == "bee"
