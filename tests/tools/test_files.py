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


# -- muxi's own files and dotenv files are never served (issue 13, hole 4) -----


@pytest.fixture
def with_secrets(layout: Path) -> Path:
    (layout / "muxi.yaml").write_text("providers: {openai: {api_key: sk-live-123}}\n")
    (layout / "prod.yaml").write_text("providers: {openai: {api_key: sk-prod-456}}\n")
    (layout / ".env").write_text("TOKEN=dotenv\n")
    (layout / ".env.local").write_text("TOKEN=dotenv\n")
    (layout / "docs" / ".Env.Test").write_text("TOKEN=dotenv\n")
    (layout / "harmless.md").symlink_to(layout / ".env")
    os.link(layout / "prod.yaml", layout / "copy.txt")  # a hard link under another name
    (layout / "mem").mkdir()
    (layout / "mem" / "table.lance").write_text("vectors")
    return layout


def guarded_ctx(root: Path, **files: object) -> BuiltinContext:
    formation = Formation.model_validate(
        {"files": {"roots": ["project"], **files}, "memory": {"uri": "project/mem"}}
    )
    return BuiltinContext(formation, root.parent, config_file=root / "prod.yaml")


@pytest.mark.parametrize(
    "path",
    [
        "muxi.yaml",
        "MUXI.YAML",
        "Muxi.Yml",
        "docs/../muxi.yaml",
        ".env",
        ".ENV",
        ".env.local",
        "docs/.Env.Test",
        "harmless.md",  # symlink to .env
        "prod.yaml",  # the loaded formation file, whatever its name
        "copy.txt",  # hard link to it
        "mem/table.lance",  # a local memory (LanceDB) folder
    ],
)
async def test_secret_and_muxi_files_are_refused(with_secrets: Path, path: str) -> None:
    out = await get_builtin("read_file").run({"path": path}, guarded_ctx(with_secrets))
    assert not out.ok and out.content.startswith("access denied"), out.content
    assert "sk-" not in out.content and "dotenv" not in out.content


async def test_muxi_home_folders_are_refused(
    with_secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = with_secrets / "muxihome"
    monkeypatch.setenv("MUXI_HOME", str(home))
    from muxi_cli import paths

    paths.data_dir().mkdir(parents=True)
    paths.server_keys_path().write_text('{"keys": []}')
    ctx = guarded_ctx(with_secrets)
    out = await get_builtin("read_file").run(
        {"path": str(paths.server_keys_path().relative_to(with_secrets))}, ctx
    )
    assert out.content.startswith("access denied")
    out = await get_builtin("list_dir").run({"path": "."}, ctx)
    names = {e["name"] for e in out.structured["entries"]}
    assert "docs" in names and "big.txt" in names
    assert not names & {
        "muxihome",
        "muxi.yaml",
        ".env",
        ".env.local",
        "harmless.md",
        "prod.yaml",
    }, " ".join(sorted(names))
    out = await get_builtin("list_dir").run({"path": "muxihome"}, ctx)
    assert out.content.startswith("access denied")


async def test_plain_files_still_read(with_secrets: Path) -> None:
    out = await get_builtin("read_file").run({"path": "docs/a.md"}, guarded_ctx(with_secrets))
    assert out.ok and out.content == "hello docs\n"
