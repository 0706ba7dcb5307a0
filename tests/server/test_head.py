"""HEAD on a real ``muxi serve``: every GET route answers it like GET, without a body.

FastAPI routes match only their declared methods, so HEAD was a 405 on all of
them (``/health`` for a load balancer's probe, ``/v1/media/{id}`` for a
download's size); server/head.py answers it as the GET it stands for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakellm import Slow
from tests.security.support_server import FORMATION_NO_MCP, Deployment, deployment


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("head"), FORMATION_NO_MCP) as d:
        yield d


def both(c: httpx.Client, path: str, **kw: object) -> tuple[httpx.Response, httpx.Response]:
    get = c.get(path, **kw)  # type: ignore[arg-type]
    head = c.head(path, **kw)  # type: ignore[arg-type]
    return get, head


def test_head_answers_like_get_without_a_body(dep: Deployment) -> None:
    with dep.client() as c:
        for path, key in (("/health", None), ("/v1/me", dep.alice), ("/v1/sessions", dep.alice)):
            headers = dep.headers(key) if key else {}
            get, head = both(c, path, headers=headers)
            assert get.status_code == 200, (path, get.text)
            assert head.status_code == 200, (path, head.status_code, head.text)
            assert head.content == b""
            assert head.headers["content-length"] == str(len(get.content)), path
            assert head.headers["content-type"] == get.headers["content-type"]
            assert head.headers["muxi-api-version"] == get.headers["muxi-api-version"]


def test_head_keeps_the_etag_and_conditional_answers(dep: Deployment) -> None:
    with dep.client() as c:
        get, head = both(c, "/v1/schema/events")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["etag"] == get.headers["etag"]
        assert head.headers["content-length"] == str(len(get.content))
        again = c.head("/v1/schema/events", headers={"if-none-match": get.headers["etag"]})
        assert again.status_code == 304


def test_head_follows_the_auth_rules_of_get(dep: Deployment) -> None:
    with dep.client() as c:
        get, head = both(c, "/v1/me")
        assert get.status_code == head.status_code == 401
        assert head.headers["www-authenticate"] == get.headers["www-authenticate"]
        assert head.content == b""
        # Another user's media is as missing for HEAD as for GET.
        ref = c.post(
            "/v1/media",
            files={"file": ("a.txt", b"hello head\n", "text/plain")},
            headers=dep.headers(dep.alice),
        ).json()
        mine = c.head(f"/v1/media/{ref['id']}", headers=dep.headers(dep.alice))
        assert mine.status_code == 200 and mine.content == b""
        assert mine.headers["content-length"] == str(len(b"hello head\n"))
        theirs = c.head(f"/v1/media/{ref['id']}", headers=dep.headers(dep.bob))
        assert (
            theirs.status_code
            == c.get(f"/v1/media/{ref['id']}", headers=dep.headers(dep.bob)).status_code
            == 404
        )


def test_head_of_a_route_without_get_is_still_refused(dep: Deployment) -> None:
    with dep.client() as c:
        head = c.head("/v1/chat", headers=dep.headers(dep.alice))
        assert head.status_code == 405
        assert "POST" in head.headers["allow"]
        assert c.head("/v1/nothing-here", headers=dep.headers(dep.alice)).status_code == 404


def test_head_of_a_live_event_stream_answers_at_once(dep: Deployment) -> None:
    """A run's events stream until the run ends: HEAD gets the head and no more,
    and the turn itself goes on."""
    dep.llm.reset()
    dep.llm.script(Slow("one two three four five six seven eight", delay=0.4))
    with (
        dep.client() as c,
        c.stream(
            "POST",
            "/v1/chat",
            json={"message": "slowly"},
            headers=dep.headers(dep.alice, accept="text/event-stream"),
        ) as turn,
    ):
        run_id = turn.headers["x-muxi-run-id"]
        started = time.monotonic()
        head = c.head(f"/v1/runs/{run_id}/events", headers=dep.headers(dep.alice))
        assert time.monotonic() - started < 2.5, "HEAD waited for the stream"
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"].startswith("text/event-stream")
        body = b"".join(turn.iter_bytes())
    assert b"run.completed" in body
