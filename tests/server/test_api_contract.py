"""The API contract as data (docs/api/): the committed documents are what the
code generates (a change to the API that was not written down fails here),
a real ``muxi serve`` publishes exactly them, and they hang together."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from websockets.asyncio.client import connect

from muxi_cli.protocol.apiversion import API_VERSION, HEADER
from muxi_cli.server import apispec
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM
from tests.runtime.contract import formation_yaml
from tests.server.serveproc import ROOT, ServeProcess, server_env

pytestmark = pytest.mark.timeout(120)

DOCS = ROOT / "docs" / "api"
FILES = (apispec.OPENAPI_FILE, apispec.EVENTS_FILE, apispec.ASYNCAPI_FILE)


def committed(name: str) -> dict[str, Any]:
    return dict(json.loads((DOCS / name).read_text(encoding="utf-8")))


def test_the_committed_documents_are_what_the_code_generates() -> None:
    stale = apispec.stale(DOCS)
    assert not stale, (
        f"docs/api/{', '.join(stale)} differ from the code: run "
        "`python -m muxi_cli.server.apispec write docs/api` and commit the result"
    )


def test_check_names_a_drifted_file_and_write_repairs_it(tmp_path: Path) -> None:
    folder = tmp_path / "api"
    shutil.copytree(DOCS, folder)
    events = committed(apispec.EVENTS_FILE)
    events["$defs"]["TextDelta"]["required"].remove("text")
    (folder / apispec.EVENTS_FILE).write_text(json.dumps(events), encoding="utf-8")
    (folder / apispec.ASYNCAPI_FILE).unlink()
    cmd = [sys.executable, "-m", "muxi_cli.server.apispec"]
    env = server_env(tmp_path / "home")
    check = subprocess.run(
        [*cmd, "check", str(folder)], env=env, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 1
    assert apispec.EVENTS_FILE in check.stderr and apispec.ASYNCAPI_FILE in check.stderr
    assert apispec.OPENAPI_FILE not in check.stderr
    write = subprocess.run(
        [*cmd, "write", str(folder)], env=env, capture_output=True, text=True, timeout=60
    )
    assert write.returncode == 0, write.stderr
    assert apispec.stale(folder) == []
    for name in FILES:
        assert (folder / name).read_bytes() == (DOCS / name).read_bytes()
    assert apispec.main(["nonsense"]) == 2


def test_the_openapi_document_is_valid_and_names_the_event_schema() -> None:
    doc = committed(apispec.OPENAPI_FILE)
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)
    assert doc["info"]["version"] == API_VERSION
    schemas = doc["components"]["schemas"]
    events = committed(apispec.EVENTS_FILE)
    for name, schema in events["$defs"].items():
        assert schemas[name] == schema
    for path, method in apispec.SSE_OPERATIONS:
        content = doc["paths"][path][method]["responses"]["200"]["content"]
        assert content["text/event-stream"]["schema"] == {"$ref": "#/components/schemas/Event"}
    for item in doc["paths"].values():
        for op in item.values():
            assert "422" not in op["responses"]  # the server answers 400, as documented
            assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
    assert list(doc["paths"]) == sorted(doc["paths"])
    assert {"/v1/schema/events", "/v1/schema/asyncapi"} <= set(doc["paths"])


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield str(value)
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves_within_its_document() -> None:
    for name in FILES:
        doc = committed(name)
        refs = set(_refs(doc))
        assert refs, name
        for ref in refs:
            assert _resolve(doc, ref) is not None, (name, ref)


def test_the_asyncapi_document_describes_both_directions() -> None:
    doc = committed(apispec.ASYNCAPI_FILE)
    assert doc["asyncapi"] == "3.0.0" and doc["info"]["version"] == API_VERSION
    assert doc["channels"]["ws"]["address"] == "/v1/ws"
    ops = doc["operations"]
    assert ops["receiveClientFrame"]["action"] == "receive"
    assert ops["sendServerFrame"]["action"] == "send"
    sent = {r["$ref"].rsplit("/", 1)[-1] for r in ops["sendServerFrame"]["messages"]}
    got = {r["$ref"].rsplit("/", 1)[-1] for r in ops["receiveClientFrame"]["messages"]}
    assert {"ready", "event", "done", "error", "pong", "media.stored"} == sent
    assert {"auth", "chat", "approve", "cancel", "resume", "ping", "media.begin"} <= got
    events = committed(apispec.EVENTS_FILE)
    for name, schema in events["$defs"].items():
        assert doc["components"]["schemas"][name] == schema


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for a schema inside ``doc`` whose ``$ref``s point into ``doc``."""
    return Draft202012Validator({**doc, **schema})


@pytest.fixture(scope="module")
def server(
    module_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServeProcess, str]]:
    root = tmp_path_factory.mktemp("api-contract")
    home = root / "home"
    config = root / "muxi.yaml"
    config.write_text(formation_yaml(module_llm), encoding="utf-8")
    _, key = KeyStore(home / "data" / "server_keys.json").create("user", "alice")
    # Settings other than the defaults the committed documents were made with:
    # they must not change them.
    args = ("--max-upload-mb", "1", "--max-body", "300000", "--rate", "50", "--burst", "100")
    with ServeProcess(home, config, args=args) as proc:
        yield proc, key


def test_the_server_publishes_the_committed_documents(server: tuple[ServeProcess, str]) -> None:
    proc, _ = server
    with httpx.Client(base_url=proc.url, timeout=20) as c:  # no key: like /openapi.json
        assert c.get("/openapi.json").json() == committed(apispec.OPENAPI_FILE)
        for path, name in (
            ("/v1/schema/events", apispec.EVENTS_FILE),
            ("/v1/schema/asyncapi", apispec.ASYNCAPI_FILE),
        ):
            r = c.get(path)
            assert r.status_code == 200 and r.json() == committed(name)
            assert r.headers["content-type"].startswith("application/json")
            assert "max-age" in r.headers["cache-control"] and r.headers[HEADER] == API_VERSION
            again = c.get(path, headers={"if-none-match": r.headers["etag"]})
            assert again.status_code == 304 and not again.content
            # As caches revalidate: weak (a compressing proxy's), in a list, or any.
            etag = r.headers["etag"]
            for sent in (f"W/{etag}", f'"other", {etag}', "*"):
                assert c.get(path, headers={"if-none-match": sent}).status_code == 304, sent
            assert c.get(path, headers={"if-none-match": '"other"'}).status_code == 200
        docs = c.get("/docs")
        assert docs.status_code == 200 and "<code>/v1/schema/events</code>" in docs.text


def test_real_frames_match_the_asyncapi_document(server: tuple[ServeProcess, str]) -> None:
    proc, key = server
    doc = committed(apispec.ASYNCAPI_FILE)
    messages = doc["components"]["messages"]

    async def frames() -> list[dict[str, Any]]:
        url = "ws" + proc.url[4:] + "/v1/ws"
        out = []
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "auth", "key": key}))
            out.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
            await ws.send(json.dumps({"type": "ping"}))
            out.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
            await ws.send(json.dumps({"type": "approve", "call_id": "nope", "decision": "allow"}))
            out.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
        async with connect(url, additional_headers={HEADER: "2.0"}) as ws:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
        return out

    ready, pong, refused, version = asyncio.run(frames())
    for frame, name in ((ready, "ready"), (pong, "pong"), (refused, "error"), (version, "error")):
        assert frame["type"] == name, frame
        validator = _validator(doc, messages[name]["payload"])
        assert validator.is_valid(frame), (frame, [e.message for e in validator.iter_errors(frame)])
    assert ready["api_version"] == API_VERSION and version["ref"] == "version"
    wrong = {**ready, "api_version": "2.0"}
    assert not _validator(doc, messages["ready"]["payload"]).is_valid(wrong)
