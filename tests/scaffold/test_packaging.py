"""The templates ship inside the wheel, and an installed muxi renders from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.scaffold.helpers import REPO


def _build_wheel(out: Path) -> Path:
    from hatchling.builders.wheel import WheelBuilder

    builder = WheelBuilder(str(REPO))
    return Path(next(iter(builder.build(directory=str(out), versions=["standard"]))))


def test_wheel_carries_every_template_file_and_renders_from_them(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = {n.removeprefix("muxi_cli/_templates/") for n in names if "_templates/" in n}
        expected = {
            p.relative_to(REPO / "templates").as_posix()
            for p in (REPO / "templates").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert expected and shipped == expected
        assert "mcp-server-python/dot-gitignore.tmpl" in shipped
        archive.extractall(tmp_path / "site")

    # Run the wheel's muxi (not the source tree's): templates come from muxi_cli/_templates.
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import muxi_cli.scaffold.templates as t; print(t.templates_root())",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    assert probe.stdout.strip() == str(tmp_path / "site" / "muxi_cli" / "_templates")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "muxi_cli",
            "create",
            "mcp-server",
            "--name",
            "shipped",
            "--dockerfile",
            "--json",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert {".gitignore", ".dockerignore", "Dockerfile"} <= set(files)
    assert "__pycache__/" in (tmp_path / "shipped" / ".gitignore").read_text()
