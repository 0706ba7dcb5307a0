"""The Turn contract against the two fakes: the TUI's and the server's.

The fakes stand in for real runtimes in the chat app's and the server's tests,
so their turns must behave like the real ones (tests/runtime/contract.py runs
the same tests against LocalRuntime and RemoteRuntime).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from tests.runtime.contract import Harness, TurnContract
from tests.server.fakeruntime import FakeRuntime as ServerFake
from tests.server.fakeruntime import Script
from tests.tui.fake_runtime import FakeRuntime as TuiFake
from tests.tui.fake_runtime import Gate, Route, Text, Tool, Usage

#: How long a "slow" turn of a fake holds after its first word (time to cancel it).
HOLD = 0.5

_gates = itertools.count()


class ServerFakeHarness(Harness):
    def script_slow(self) -> None:
        hold = asyncio.Event()
        asyncio.get_running_loop().call_later(HOLD, hold.set)
        self.fake.script(Script(text="one two three four", hold=hold))

    def script_ask(self) -> None:
        self.fake.script(Script(text="it is 4", tool=True))

    @property
    def fake(self) -> Any:
        return self.runtime


class TuiFakeHarness(Harness):
    def script_slow(self) -> None:
        gate = f"slow{next(_gates)}"
        asyncio.get_running_loop().call_later(HOLD, self.fake.open_gate, gate)
        self.fake.script(
            Route("assistant", "only agent"), Text("one two "), Gate(gate), Text("three"), Usage()
        )

    def script_ask(self) -> None:
        self.fake.script(
            Route("assistant", "only agent"),
            Tool("calculator", {"expression": "6*7"}, result="42", approval="ask"),
            Text("it is 42"),
        )

    @property
    def fake(self) -> Any:
        return self.runtime


class TestServerFakeTurns(TurnContract):
    @pytest.fixture
    def harness(self) -> Harness:
        return ServerFakeHarness(ServerFake(), None, "local")  # type: ignore[arg-type]


class TestTuiFakeTurns(TurnContract):
    @pytest.fixture
    def harness(self) -> Harness:
        return TuiFakeHarness(TuiFake(), None, "local")  # type: ignore[arg-type]
