"""Shared helpers for the media tests."""

from __future__ import annotations

import pytest


class DictCache:
    """A DerivedCache in memory that counts what was asked of it."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], bytes] = {}
        self.puts = 0

    def get_derived(self, media_id: str, key: str) -> bytes | None:
        return self.items.get((media_id, key))

    def put_derived(self, media_id: str, key: str, data: bytes) -> None:
        self.puts += 1
        self.items[(media_id, key)] = data


@pytest.fixture
def cache() -> DictCache:
    return DictCache()
