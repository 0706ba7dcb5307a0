"""What an MCP server asks a turn mid-call: elicitation and sampling.

A :class:`TurnInput` is the turn's :class:`~muxi_cli.tools.mcp_input.InputChannel`
for one tool call (the tool runner sets it around the call). It travels like a
tool approval:

- **elicitation**: an ``elicitation.requested`` event; an interactive turn
  waits for the answer (``Turn.answer_elicitation``: the chat app's form,
  ``muxi chat``'s prompt, the ``elicit`` WebSocket frame or
  ``POST /v1/elicitations/{id}``), any other turn declines at once
  (``--yes`` allows tools, never answers for the user);
- **sampling**: a ``sampling.requested`` event, then a ``tool.approval`` of the
  sampling id decided by the server's ``sampling:`` policy and the turn's
  approval mode exactly as a tool call is, then the completion by the agent's
  model (or the server's ``sampling_model``), its tokens a ``usage`` event of
  the run, so they count in the turn's usage. Images and audio in the request
  reach that model as a user's attachments do (``media.prepare``); a model that
  can take them in no form (no vision and no OCR fallback; no hearing and no
  transcriber) is refused before anyone is asked.
"""

from __future__ import annotations

import asyncio
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from muxi_cli.core.approvals import ApprovalBroker
from muxi_cli.core.media_gate import MediaGate
from muxi_cli.llm.base import LLMRequest, Media, Message, ModelResolver, complete
from muxi_cli.media.prepare import ModelView, prepare
from muxi_cli.protocol.events import Event, new_id
from muxi_cli.tools.mcp_input import (
    ElicitAnswer,
    ElicitRequest,
    SampleAnswer,
    SampleRequest,
    SamplingRefused,
)

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation
    from muxi_cli.core.agent import TurnSpec
    from muxi_cli.media.types import Transcriber

#: The most tokens one sampling request may have the model write.
SAMPLING_MAX_TOKENS = 4096
_STOP = {"end_turn": "endTurn", "stop": "endTurn", "max_tokens": "maxTokens", "length": "maxTokens"}


class TurnInput:
    """One tool call's channel back to its turn (see the module doc)."""

    def __init__(
        self,
        spec: TurnSpec,
        call_id: str,
        queue: asyncio.Queue[Event | None],
        approvals: ApprovalBroker,
        formation: Formation,
        models: ModelResolver | None,
        media_gate: MediaGate | None = None,
    ) -> None:
        self.spec = spec
        self.call_id = call_id
        self.queue = queue
        self.approvals = approvals
        self.formation = formation
        self.models = models
        self.media_gate = media_gate

    async def elicit(self, request: ElicitRequest) -> ElicitAnswer:
        f = self.spec.factory
        eid = new_id("eli")
        interactive = self.spec.approval == "interactive" or self.spec.elicit
        self.queue.put_nowait(
            f.elicitation_requested(
                eid,
                self.call_id,
                request.server,
                request.message,
                mode=request.mode,
                requested_schema=request.schema,
                url=request.url,
                pending=interactive,
            )
        )
        if not interactive:
            self.queue.put_nowait(f.elicitation_resolved(eid, "decline", "policy"))
            return ElicitAnswer("decline")
        future = self.approvals.open_input(eid, f.run_id, request.schema)
        try:
            answer = await future
        finally:
            self.approvals.close_input(eid, f.run_id)
        self.queue.put_nowait(f.elicitation_resolved(eid, answer.action, "user"))
        return answer

    async def sample(self, request: SampleRequest) -> SampleAnswer:
        if self.models is None:
            raise SamplingRefused("sampling is not available here")
        f = self.spec.factory
        sid = new_id("smp")
        server = self.formation.mcp_servers.get(request.server)
        model_ref = (server.sampling_model if server else None) or self.models.model_for(
            self.spec.agent, self.spec.model_override
        )
        # The server names the budget; muxi caps it (the owner pays for it).
        max_tokens = max(1, min(request.max_tokens, SAMPLING_MAX_TOKENS))
        fit = self._media_fit(request, model_ref) if request.media else None
        self.queue.put_nowait(
            f.sampling_requested(
                sid,
                self.call_id,
                server=request.server,
                model=model_ref,
                messages=_shown(request),
                max_tokens=max_tokens,
            )
        )
        allowed, by = await self._approve(sid, request.server, server.sampling if server else "ask")
        if not allowed:
            raise SamplingRefused(f"sampling was denied by {by}")
        provider, model_name = self.models.resolve(model_ref)
        messages = _messages(request)
        if fit is not None:
            messages = await prepare(messages, fit[0], transcriber=fit[1])
        done = await complete(
            provider,
            LLMRequest(
                model=model_name,
                messages=messages,
                system=request.system_prompt,
                max_tokens=max_tokens,
                temperature=request.temperature,
            ),
        )
        cost = self.models.price(model_ref, done.input_tokens, done.output_tokens)
        self.queue.put_nowait(
            f.usage(model_ref, done.input_tokens, done.output_tokens, cost, not done.usage_known)
        )
        return SampleAnswer(done.text, model_ref, _STOP.get(done.stop_reason, "endTurn"))

    def _media_fit(
        self, request: SampleRequest, model_ref: str
    ) -> tuple[ModelView, Transcriber | None]:
        """What ``model_ref`` takes of the request's media, and the transcriber for
        audio it does not hear; :class:`SamplingRefused` for media it can take in no form."""
        assert self.models is not None
        agent = self.spec.agent
        fallback = agent.media.fallback if agent.media else self.formation.media.fallback
        support = self.models.media_support(model_ref)
        view = ModelView(model_ref, support, fallback)
        kinds = {m.kind for m in request.media}
        if "image" in kinds and not support.vision and fallback != "ocr":
            raise SamplingRefused(
                f"{model_ref} cannot see images: sampling with an image is refused"
            )
        unheard = [
            m
            for m in request.media
            if m.kind == "audio" and not (support.audio_in and m.media_type in support.audio_types)
        ]
        gate = self.media_gate or MediaGate(self.formation, self.models)
        hearing = gate.hearing() if unheard else None
        if unheard and hearing is None:
            raise SamplingRefused(
                f"{model_ref} cannot hear audio and the formation has no audio.transcribe "
                "model: sampling with audio is refused"
            )
        return view, hearing

    async def _approve(self, sid: str, server: str, policy: str) -> tuple[bool, str]:
        """The tool rules (tool_calls.ToolCallRunner._approve) for ``server/sampling``."""
        f = self.spec.factory
        spec = self.spec

        def decided(allowed: bool, by: str, why: str) -> tuple[bool, str]:
            self.queue.put_nowait(f.tool_approval(sid, "allowed" if allowed else "denied", by))
            return allowed, why

        if policy == "allow":
            return decided(True, "policy", "policy")
        if policy == "deny":
            return decided(False, "policy", "policy (sampling: deny)")
        name = f"{server}/sampling"
        if spec.approvable is not None and not any(fnmatchcase(name, p) for p in spec.approvable):
            return decided(False, "scope", f"scope (your key lacks approve:{name})")
        if spec.approval == "yes":
            return decided(True, "user", "user")
        if spec.approval == "deny":
            return decided(False, "policy", "policy (non-interactive run; pass --yes to allow)")
        future = self.approvals.open(sid, f.run_id)
        self.queue.put_nowait(f.tool_approval(sid, "pending", "user"))
        try:
            answer = await future
        finally:
            self.approvals.close(sid, f.run_id)
        return decided(answer in ("allow", "always"), "user", "user")


def _messages(request: SampleRequest) -> list[Message]:
    """The request as model messages, each with its media (named by kind and number)."""
    media: dict[int, list[Media]] = {}
    for n, item in enumerate(request.media, 1):
        named = Media(item.kind, item.media_type, item.data, f"sampled-{item.kind}-{n}")
        media.setdefault(item.message, []).append(named)
    return [
        Message("assistant" if r == "assistant" else "user", t, media=tuple(media.get(i, ())))
        for i, (r, t) in enumerate(request.messages)
    ]


def _shown(request: SampleRequest) -> tuple[dict[str, object], ...]:
    """The messages as ``sampling.requested`` shows them: text, and what media they carry."""
    out: list[dict[str, object]] = []
    for i, (role, text) in enumerate(request.messages):
        shown: dict[str, object] = {"role": role, "text": text}
        media = [
            {"kind": m.kind, "media_type": m.media_type, "bytes": len(m.data)}
            for m in request.media
            if m.message == i
        ]
        if media:
            shown["media"] = media
        out.append(shown)
    return tuple(out)
