"""The LanceDB import trick of ``muxi_cli.stores.lance_import``, checked in fresh processes.

These tests fail when a LanceDB (or lance-namespace) upgrade breaks the trick: the
REST client no longer deferred, or LanceDB no longer working under it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import asyncio, json, sys
from muxi_cli.stores import lance_import
lancedb = lance_import.lancedb()
out = {"deferred": lance_import.namespace_client_deferred(),
       "api_loaded": any(m.startswith("lance_namespace_urllib3_client.api") for m in sys.modules)}
import lancedb.db
out["override_marker"] = lancedb.db.override is lance_import._mark_override
try:
    import overrides  # LanceDB's dependency below Python 3.12 only
    out["override_restored"] = overrides.override.__module__ == "overrides.overrides"
except ImportError:
    out["override_restored"] = True
out["marked"] = lancedb.db.LanceDBConnection.open_table.__override__
from lance_namespace import ListTablesResponse
out["model_built_at_import"] = ListTablesResponse.__pydantic_complete__

async def main(path):
    import pyarrow as pa
    db = await lancedb.connect_async(path)
    schema = pa.schema([pa.field("id", pa.string()), pa.field("text", pa.string()),
                        pa.field("vector", pa.list_(pa.float32(), 2))])
    table = await db.create_table("t", schema=schema)
    await table.add([{"id": "a", "text": "apple pie", "vector": [1.0, 0.0]},
                     {"id": "b", "text": "banana", "vector": [0.0, 1.0]}])
    builder = table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
    await builder.execute([{"id": "b", "text": "blueberry", "vector": [0.0, 1.0]}])
    hits = await table.query().nearest_to([1.0, 0.1]).limit(1).to_list()
    out["nearest"] = hits[0]["id"]
    out["b"] = (await table.query().where("id = 'b'").to_list())[0]["text"]
    out["tables"] = list((await db.list_tables()).tables)

asyncio.run(main(sys.argv[1]))
out["still_deferred"] = lance_import.namespace_client_deferred()
import lance_namespace_urllib3_client as client
out["api_client"] = client.ApiClient.__name__  # the real package loads on demand
out["after"] = lance_import.namespace_client_deferred()
out["version"] = client.__version__
from pydantic._internal import _config
out["default_restored"] = _config.config_defaults["defer_build"]
out["model_validates"] = ListTablesResponse.model_validate({"tables": ["x"]}).tables
print(json.dumps(out))
"""


def run_probe(tmp_path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_lancedb_imports_without_the_namespace_rest_client_and_still_works(tmp_path: Path) -> None:
    out = run_probe(tmp_path)
    assert out["deferred"] is True, "the namespace client's __init__ ran on `import lancedb`"
    assert out["api_loaded"] is False
    assert out["nearest"] == "a"
    assert out["b"] == "blueberry"
    assert out["tables"] == ["t"]
    assert out["still_deferred"] is True, "connect/create/search/merge needed the REST client"
    # On first use of one of its names, the real package is loaded in place.
    assert out["api_client"] == "ApiClient"
    assert out["after"] is False
    assert out["version"]
    # LanceDB's classes were built with the marker, and overrides got its own back.
    if sys.version_info < (3, 12):  # 3.12 and later: LanceDB uses typing.override
        assert out["override_marker"] is True, "LanceDB no longer uses overrides.override"
    assert out["override_restored"] is True
    assert out["marked"] is True
    # The namespace models build their validators on first use, and still validate.
    assert out["default_restored"] is False
    assert out["model_built_at_import"] is False, "pydantic builds no longer deferred"
    assert out["model_validates"] == ["x"]


def test_pydantic_builds_are_deferred_only_while_lancedb_imports() -> None:
    """Fails when a pydantic upgrade moves the default this relies on."""
    from pydantic import BaseModel
    from pydantic._internal import _config

    from muxi_cli.stores.lance_import import pydantic_builds_deferred

    assert _config.config_defaults["defer_build"] is False
    with pydantic_builds_deferred() as deferred:
        assert deferred is True
        with pydantic_builds_deferred():  # nested (two threads importing): still deferred
            pass
        assert _config.config_defaults["defer_build"] is True

        class Late(BaseModel):
            n: int

    assert _config.config_defaults["defer_build"] is False
    assert Late.__pydantic_complete__ is False
    assert Late.model_validate({"n": "3"}).n == 3  # built on first use, same rules
    assert Late.__pydantic_complete__ is True


def test_an_already_imported_client_is_left_alone() -> None:
    code = (
        "import lance_namespace_urllib3_client as real\n"
        "from muxi_cli.stores import lance_import\n"
        "lance_import.lancedb()\n"
        "import sys\n"
        "assert sys.modules['lance_namespace_urllib3_client'] is real\n"
        "assert not lance_import.namespace_client_deferred()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_lancedb_import_goes_through_lance_import() -> None:
    """A plain `import lancedb` elsewhere would pay for the REST client again."""
    root = Path(__file__).resolve().parents[2] / "muxi_cli"
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "lance_import.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            text = line.strip()
            if text.startswith(("import lancedb", "from lancedb")):
                # A submodule import is fine once lance_import.lancedb() ran just before it.
                before = path.read_text(encoding="utf-8").splitlines()[number - 2]
                if "lance_import.lancedb()" not in before:
                    offenders.append(f"{path.relative_to(root)}:{number}")
    assert offenders == []


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="LanceDB uses typing.override there")
def test_a_plain_import_passes_the_override_checks_that_muxi_skips() -> None:
    """What makes skipping them safe: this LanceDB passes them (a plain import raises
    TypeError otherwise)."""
    code = (
        "import overrides, lancedb, lancedb.db\n"
        "assert lancedb.db.override is overrides.override\n"
        "assert overrides.override.__module__ == 'overrides.overrides'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_override_checks_are_skipped_only_within() -> None:
    overrides = pytest.importorskip("overrides")

    from muxi_cli.stores import lance_import

    real = overrides.override
    with lance_import.override_checks_skipped() as skipped:
        assert skipped is True
        with lance_import.override_checks_skipped():  # nested (two threads importing)
            assert overrides.override is lance_import._mark_override
        assert overrides.override is lance_import._mark_override

        class Base:
            def run(self) -> int:
                """Runs."""
                return 1

        class Child(Base):
            @overrides.override
            def run(self) -> int:
                return 2

    assert overrides.override is real
    assert Child.run.__override__ is True
    assert Child().run() == 2
