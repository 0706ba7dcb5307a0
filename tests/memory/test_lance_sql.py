"""Filter escaping, and user isolation against hostile user ids on a real store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from muxi_cli.errors import MemoryStoreError, NotFoundError
from muxi_cli.memory.embeddings import HashEmbedder
from muxi_cli.stores import lance_sql as sql
from muxi_cli.stores.lance_records import MemoryRecords
from muxi_cli.stores.lance_schema import SHARED_USER
from muxi_cli.stores.lance_store import LanceStore

HOSTILE = [
    "' OR '1'='1",
    "u7' OR '1'='1",
    "alice' --",
    "a'b",
    "''",
    "\\",
    "\\'",
    "x\\' OR 1=1 --",
    "nul\x00byte",
    "é漢字🙂",
    "%",
    "_",
    "alice\nOR TRUE",
    "); DROP TABLE memories; --",
    '"double"',
]

user_ids = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(min_size=1, max_size=24).filter(lambda s: s != SHARED_USER),
)


def _unquote(literal: str) -> str:
    """The SQL string value of a literal (the inverse of ``sql_str``)."""
    assert literal.startswith("'") and literal.endswith("'")
    body = literal[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "'":
            assert body[i + 1] == "'", "a lone quote would end the literal"
            out.append("'")
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


@given(st.text())
def test_sql_str_round_trips_and_never_ends_early(value: str) -> None:
    literal = sql.sql_str(value)
    assert _unquote(literal) == value


def test_sql_str_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        sql.sql_str(1)  # type: ignore[arg-type]


def test_column_names_are_checked() -> None:
    with pytest.raises(ValueError):
        sql.eq("user_id = 'x' OR 1=1 --", "x")
    assert sql.in_("id", []) == "FALSE"
    assert sql.and_(None, "a = 'b'") == "(a = 'b')"


def test_isolation_with_hostile_ids(tmp_path: Path) -> None:
    """Every read and write of one user misses every other user's rows, whatever the ids."""
    embedder = HashEmbedder()
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(
        LanceStore(str(tmp_path / "s"), embedding_model=embedder.name, dims=embedder.dims).open()
    )
    records = MemoryRecords(store)
    counter = iter(range(10**6))

    async def body(users: list[str]) -> None:
        round_id = next(counter)
        ids: dict[str, str] = {}
        for user in users:
            text = f"secret {round_id} of {user!r}"
            vector = (await embedder.embed([text]))[0]
            row = {"user_id": user, "kind": "fact", "text": text, "content_hash": text,
                   "vector": vector.tolist()}  # fmt: skip
            await records.add([row])
            ids[user] = row["id"]
        probe = (await embedder.embed(["secret"]))[0]
        for user in users:
            listed = await records.listing(user, limit=None)
            assert {r["user_id"] for r in listed} == {user}
            found = await records.search(user, probe, "secret OR 1=1", shared=False, limit=50)
            assert {r["user_id"] for r in found} <= {user}
            with_shared = await records.search(user, probe, "secret", shared=True, limit=50)
            assert {r["user_id"] for r in with_shared} <= {user, SHARED_USER}
            assert (await records.get(user, ids[user]))["user_id"] == user
            for other in users:
                if other == user:
                    continue
                with pytest.raises(NotFoundError):
                    await records.get(user, ids[other])
                assert await records.delete(user, [ids[other]]) == 0
        # Each user erases only themselves.
        first = users[0]
        before = {u: await records.count(u) for u in users[1:]}
        await records.delete_user(first)
        assert await records.count(first) == 0
        assert {u: await records.count(u) for u in users[1:]} == before

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(user_ids, min_size=2, max_size=3, unique=True))
    def check(users: list[str]) -> None:
        loop.run_until_complete(body(users))

    try:
        # The named nasties every time, then random ones.
        loop.run_until_complete(body(HOSTILE))
        check()
    finally:
        loop.run_until_complete(store.close())
        loop.close()


async def test_empty_user_id_is_refused(store: LanceStore) -> None:
    records = MemoryRecords(store)
    with pytest.raises(MemoryStoreError):
        await records.listing("")
