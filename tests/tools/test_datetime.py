from __future__ import annotations

import datetime as dt
from pathlib import Path

from muxi_cli.config.schema import Formation
from muxi_cli.tools.builtins import BuiltinContext, get_builtin


def ctx(tmp_path: Path) -> BuiltinContext:
    return BuiltinContext(Formation(), tmp_path)


async def test_timezone_and_structured(tmp_path: Path) -> None:
    out = await get_builtin("datetime").run({"timezone": "Asia/Tokyo"}, ctx(tmp_path))
    assert out.ok
    assert out.structured["utc_offset"] == "+0900"
    moment = dt.datetime.fromisoformat(out.structured["iso"])
    now = dt.datetime.now(dt.UTC)
    assert abs((moment - now).total_seconds()) < 120
    assert "Asia/Tokyo" in out.content


async def test_format(tmp_path: Path) -> None:
    out = await get_builtin("datetime").run({"timezone": "UTC", "format": "%Y"}, ctx(tmp_path))
    assert out.ok
    assert out.content == str(dt.datetime.now(dt.UTC).year)


async def test_local_default_and_bad_timezone(tmp_path: Path) -> None:
    local = await get_builtin("datetime").run({}, ctx(tmp_path))
    assert local.ok
    bad = await get_builtin("datetime").run({"timezone": "Mars/Olympus"}, ctx(tmp_path))
    assert not bad.ok and "unknown timezone" in bad.content
