"""The Python interpreter of the client contract scenarios (clients/contract/).

``clients/contract/scenarios.json`` says, as data, what every client library
must do against a real ``muxi serve``; ``clients/contract/README.md`` is the
format. :class:`Runner` plays one scenario with :class:`muxi_cli.client.AsyncClient`
against the rig (:mod:`tests.clients.rig`) and raises :class:`ScenarioFailed`
naming the step and what differed. The TypeScript runner plays the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.clients.matching import (
    ScenarioFailed,
    lookup,
    mismatch,
    plain,
    resolve,
    short,
    subsequence,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "clients" / "contract" / "scenarios.json"

#: ``op`` -> (positional args, keyword args), in the README's order. Positional
#: ones are passed by position: the Python parameter names are the client's own.
OPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "me": ((), ()),
    "health": ((), ()),
    "agents": ((), ()),
    "sessions.list": ((), ("query", "limit")),
    "sessions.get": (("id",), ()),
    "sessions.messages": (("id",), ()),
    "sessions.delete": (("id",), ()),
    "sessions.rename": (("id", "title"), ()),
    "sessions.export": (("id",), ("fmt",)),
    "memory.list": ((), ("kind", "limit")),
    "memory.search": (("q",), ("kind", "limit")),
    "memory.add": (("text",), ("kind", "replaces")),
    "memory.get": (("id",), ()),
    "memory.forget": (("id",), ()),
    "media.upload": (("data",), ("name", "media_type")),
    "media.info": (("id",), ()),
    "media.download": (("id",), ()),
    "media.delete": (("id",), ()),
    "media.usage": ((), ()),
    "keys.list": ((), ()),
    "keys.create": ((), ("role", "user_id", "scopes", "label")),
    "keys.revoke": (("key_id",), ()),
    "runs.cancel": (("run_id",), ()),
}


def load(path: Path = SCENARIOS) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != 1:
        raise ValueError(f"{path}: unknown format {doc.get('format')!r}")
    return list(doc["scenarios"])


# -- the runner -----------------------------------------------------------------------


@dataclass(frozen=True)
class RigInfo:
    """The rig's JSON line."""

    url: str
    control: str
    admin_key: str
    api_version: str
    #: The rig's working folder when the runner chose it (``--root``): server logs.
    root: Path | None = None

    def server_log(self, limit: int = 4000) -> str:
        """The end of the newest ``muxi serve`` log, for a failure's message."""
        logs = sorted((self.root or Path("/nonexistent")).glob("home/serve-*.log"))
        if not logs:
            return ""
        text = max(logs, key=lambda p: p.stat().st_mtime).read_text(errors="replace")
        return text[-limit:]

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("url", "control", "admin_key", "api_version")}


def error_outcome(exc: Any) -> dict[str, Any]:
    return {
        "status": exc.status,
        "code": exc.code,
        "message": exc.message,
        "hint": exc.hint,
        "retry_after": exc.retry_after,
    }


class Runner:
    """Plays scenarios against one rig; one client per key name and scenario."""

    def __init__(self, rig: RigInfo, control: httpx.AsyncClient) -> None:
        self.rig = rig
        self.control = control
        self.scope: dict[str, Any] = {}
        self.clients: dict[str, Any] = {}

    async def _control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = await self.control.post(self.rig.control + path, json=body or {}, timeout=120)
        if answer.status_code != 200:
            raise ScenarioFailed(f"rig {path}: {answer.status_code} {answer.text}")
        return answer.json()

    def client(self, name: str) -> Any:
        from muxi_cli.client import AsyncClient  # deferred: the test module skips without it

        if name not in self.clients:
            key = self.rig.admin_key if name == "admin" else lookup(self.scope, name)["key"]
            self.clients[name] = AsyncClient(self.rig.url, key)
        return self.clients[name]

    async def run(self, scenario: dict[str, Any]) -> None:
        self.scope = {"rig": self.rig.as_dict(), **(scenario.get("vars") or {})}
        await self._control("/reset")
        try:
            for n, step in enumerate(scenario["steps"]):
                try:
                    await self.step(step)
                except ScenarioFailed as exc:
                    raise ScenarioFailed(f"step {n} {short(step, 300)}:\n  {exc}") from None
        finally:
            for c in self.clients.values():
                with contextlib.suppress(Exception):
                    await c.aclose()
            self.clients.clear()

    async def step(self, step: dict[str, Any]) -> None:
        do = step["do"]
        if do == "key":
            body = {k: step.get(k) for k in ("role", "user", "scopes", "label")}
            made = await self._control("/key", body)
            self.scope[step["as"]] = {**made, "role": body["role"] or "user", "user": body["user"]}
        elif do == "script":
            await self._control("/script", {"replies": resolve(step["replies"], self.scope)})
        elif do == "restart":
            await self._control("/restart")
        elif do == "chat":
            await self.chat(step)
        elif do == "call":
            await self.call(step)
        else:
            raise ScenarioFailed(f"unknown step {do!r}")

    # -- chat ---------------------------------------------------------------------------

    async def chat(self, step: dict[str, Any]) -> None:
        from muxi_cli.client.errors import ApiError

        client = self.client(step["key"])
        request = dict(resolve(step["request"], self.scope))
        handlers = [dict(h) for h in step.get("on") or []]
        events: list[dict[str, Any]] = []
        turn: Any = None

        async def play() -> dict[str, Any]:
            nonlocal turn
            message = request.pop("message")
            turn = await client.chat(message, transport=step["transport"], **request)
            async for event in turn:
                if event.nested:
                    continue
                wire = event.to_dict()
                events.append(wire)
                for h in handlers:
                    if (
                        not h.get("fired")
                        and mismatch(wire, resolve(h["when"], self.scope)) is None
                    ):
                        h["fired"] = True
                        await self.act(h["then"], turn, wire)
            r = await turn.result()
            return {
                "run_id": r.run_id,
                "session_id": r.session_id,
                "agent": r.agent,
                "reply": r.reply,
                "status": r.status,
                "error": plain(r.error),
                "usage": plain(r.usage),
                "tool_calls": plain(r.tool_calls),
                "types": [e["type"] for e in events],
            }

        timeout = float(step.get("timeout", 30))
        try:
            outcome = await asyncio.wait_for(play(), timeout)
        except ApiError as exc:
            outcome = {"status": "error", "error": error_outcome(exc), "types": []}
        except TimeoutError:
            raise ScenarioFailed(
                f"the turn did not end in {timeout} s; events: {[e['type'] for e in events]}"
            ) from None
        finally:
            if turn is not None:
                with contextlib.suppress(Exception):
                    await turn.aclose()
        if "as" in step:
            self.scope[step["as"]] = outcome
        self.check_turn(outcome, events, resolve(step.get("expect") or {}, self.scope))

    async def act(self, then: str, turn: Any, event: dict[str, Any]) -> None:
        if then.startswith("approve:"):
            await turn.approve(event["call_id"], then.split(":", 1)[1], run_id=event["run_id"])
        elif then == "cancel":
            await turn.cancel()
        elif then == "restart":
            await self._control("/restart")
        else:
            raise ScenarioFailed(f"unknown handler action {then!r}")

    @staticmethod
    def check_turn(outcome: dict[str, Any], events: list[Any], expect: dict[str, Any]) -> None:
        raised = outcome["status"] == "error"
        if "error" in expect or raised:
            if not raised:
                raise ScenarioFailed(f"expected an error, the turn gave {short(outcome)}")
            if "error" not in expect:
                raise ScenarioFailed(f"the client raised {short(outcome['error'])}")
        problems = []
        if "error" in expect:
            problems.append(mismatch(outcome["error"], expect["error"], "error"))
        if "types" in expect:
            problems.append(subsequence([e["type"] for e in events], expect["types"]))
        if "events" in expect:
            problems.append(subsequence(events, expect["events"]))
        for kind in expect.get("no_types") or []:
            if any(e["type"] == kind for e in events):
                problems.append(f"a {kind} event came")
        for key in ("status", "reply"):
            if key in expect:
                problems.append(mismatch(outcome.get(key), expect[key], key))
        if "error_code" in expect:
            code = (outcome.get("error") or {}).get("code")
            problems.append(mismatch(code, expect["error_code"], "error.code"))
        if "result" in expect:
            problems.append(mismatch(outcome, expect["result"], "result"))
        found = [p for p in problems if p]
        if found:
            types = [e["type"] for e in events]
            raise ScenarioFailed(
                "; ".join(found) + f"\n  events: {types}\n  result: {short(outcome)}"
            )

    # -- call ---------------------------------------------------------------------------

    async def call(self, step: dict[str, Any]) -> None:
        op = step["op"]
        if op not in OPS:
            raise ScenarioFailed(f"unknown op {op!r}")
        expect = step.get("expect") or {}
        repeat = int(step.get("repeat", 1))
        deadline = asyncio.get_running_loop().time() + float(step.get("eventually", 0))
        while True:
            for _ in range(repeat):
                outcome = await self._call_once(step)
                if "error" in outcome:
                    break
            if "as" in step:
                self.scope[step["as"]] = outcome.get("result", outcome.get("error"))
            why = self._check_call(outcome, resolve(expect, self.scope))
            if why is None:
                return
            if asyncio.get_running_loop().time() >= deadline:
                raise ScenarioFailed(why)
            await asyncio.sleep(0.2)

    async def _call_once(self, step: dict[str, Any]) -> dict[str, Any]:
        from muxi_cli.client.errors import ApiError

        op = step["op"]
        positional, keywords = OPS[op]
        args = resolve(step.get("args") or {}, self.scope)
        unknown = set(args) - set(positional) - set(keywords)
        if unknown:
            raise ScenarioFailed(f"{op} takes no {sorted(unknown)}")
        if op == "media.upload" and isinstance(args.get("data"), str):
            args["data"] = args["data"].encode("utf-8")
        target: Any = self.client(step["key"])
        for part in op.split("."):
            target = getattr(target, part)
        try:
            value = await target(
                *(args[name] for name in positional),
                **{name: args[name] for name in keywords if name in args},
            )
        except ApiError as exc:
            return {"error": error_outcome(exc)}
        return {"result": plain(value)}

    @staticmethod
    def _check_call(outcome: dict[str, Any], expect: dict[str, Any]) -> str | None:
        if "error" in expect:
            if "error" not in outcome:
                return f"expected an error, got {short(outcome['result'])}"
            return mismatch(outcome["error"], expect["error"], "error")
        if "error" in outcome:
            return f"the call raised {short(outcome['error'])}"
        if "result" in expect:
            return mismatch(outcome["result"], expect["result"], "result")
        return None
