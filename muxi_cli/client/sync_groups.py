"""The blocking faces of the resource groups, for :class:`~muxi_cli.client.Client`.

Each method calls the async group's method of the same name and waits for it
on the client's own loop (:mod:`muxi_cli.client.sync`); they are spelled out
(not generated) so editors and type checkers see the same signatures as the
async ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from muxi_cli.client import namespaces as ns
from muxi_cli.protocol.events import Event

T = TypeVar("T")
Rows = ns.Rows


class Runner(Protocol):
    """The client's loop thread: a coroutine's result, an async iterator's items."""

    def run(self, coro: Coroutine[Any, Any, T]) -> T: ...

    def iterate(self, source: AsyncIterator[T]) -> Iterator[T]: ...


class Sessions:
    def __init__(self, group: ns.Sessions, runner: Runner) -> None:
        self._g = group
        self._r = runner

    def list(self, query: str | None = None, limit: int | None = None) -> Rows:
        return self._r.run(self._g.list(query, limit))

    def get(self, session_id: str) -> dict[str, Any]:
        return self._r.run(self._g.get(session_id))

    def messages(self, session_id: str) -> Rows:
        return self._r.run(self._g.messages(session_id))

    def rename(self, session_id: str, title: str) -> dict[str, Any]:
        return self._r.run(self._g.rename(session_id, title))

    def delete(self, session_id: str) -> None:
        self._r.run(self._g.delete(session_id))

    def export(self, session_id: str, fmt: Literal["md", "json"] = "md") -> str:
        return self._r.run(self._g.export(session_id, fmt))


class Memory:
    def __init__(self, group: ns.Memory, runner: Runner) -> None:
        self._g = group
        self._r = runner

    def list(self, kind: str | None = None, limit: int | None = None) -> Rows:
        return self._r.run(self._g.list(kind, limit))

    def search(self, q: str, kind: str | None = None, limit: int | None = None) -> Rows:
        return self._r.run(self._g.search(q, kind, limit))

    def add(
        self, text: str, kind: str = "fact", replaces: Sequence[str] | None = None
    ) -> dict[str, Any]:
        return self._r.run(self._g.add(text, kind, replaces))

    def get(self, memory_id: str) -> dict[str, Any]:
        return self._r.run(self._g.get(memory_id))

    def forget(self, memory_id: str) -> None:
        self._r.run(self._g.forget(memory_id))


class Media:
    def __init__(self, group: ns.Media, runner: Runner) -> None:
        self._g = group
        self._r = runner

    def upload(
        self,
        data_or_path: bytes | str | Path,
        name: str | None = None,
        media_type: str | None = None,
    ) -> dict[str, Any]:
        return self._r.run(self._g.upload(data_or_path, name, media_type))

    def info(self, media_id: str) -> dict[str, Any]:
        return self._r.run(self._g.info(media_id))

    def download(self, media_id: str) -> bytes:
        return self._r.run(self._g.download(media_id))

    def delete(self, media_id: str) -> None:
        self._r.run(self._g.delete(media_id))

    def usage(self) -> dict[str, Any]:
        return self._r.run(self._g.usage())


class Keys:
    def __init__(self, group: ns.Keys, runner: Runner) -> None:
        self._g = group
        self._r = runner

    def list(self) -> Rows:
        return self._r.run(self._g.list())

    def create(
        self,
        role: Literal["user", "admin"] = "user",
        user_id: str | None = None,
        scopes: Sequence[str] | None = None,
        label: str | None = None,
    ) -> dict[str, Any]:
        return self._r.run(self._g.create(role, user_id, scopes, label))

    def revoke(self, key_id: str) -> dict[str, Any]:
        return self._r.run(self._g.revoke(key_id))


class Runs:
    def __init__(self, group: ns.Runs, runner: Runner) -> None:
        self._g = group
        self._r = runner

    def cancel(self, run_id: str) -> None:
        self._r.run(self._g.cancel(run_id))

    def events(self, run_id: str, after: int = 0) -> Iterator[Event]:
        return self._r.iterate(self._g.events(run_id, after))


class Mcp:
    def __init__(self, group: ns.Mcp, runner: Runner) -> None:
        self._g = group
        self._r = runner

    def servers(self) -> Rows:
        return self._r.run(self._g.servers())

    def login(self, name: str) -> str:
        return self._r.run(self._g.login(name))

    def complete_login(self, name: str, redirect: str) -> dict[str, Any]:
        return self._r.run(self._g.complete_login(name, redirect))

    def login_status(self, name: str) -> dict[str, Any]:
        return self._r.run(self._g.login_status(name))

    def logout(self, name: str) -> bool:
        return self._r.run(self._g.logout(name))
