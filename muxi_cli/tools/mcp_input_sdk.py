"""The SDK side of :mod:`muxi_cli.tools.mcp_input`: callbacks for ``mcp.Client``.

Imported only when a connection starts (it imports the MCP SDK's types).
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.client.session import ClientRequestContext
from mcp_types import (
    INVALID_REQUEST,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequestFormParams,
    ElicitRequestParams,
    ElicitResult,
    ErrorData,
    SamplingCapability,
    TextContent,
)

from muxi_cli.tools.mcp_input import (
    ElicitRequest,
    InFlight,
    SampleRequest,
    SamplingRefused,
    unfit_request,
)
from muxi_cli.tools.mcp_input_media import UnfitSampling, decode_media, split_messages

log = logging.getLogger("muxi.mcp")

#: The most text (messages and system prompt, in characters) one sampling request may send.
SAMPLING_INPUT_MAX = 100_000
#: The longest URL an elicitation in URL mode may ask the user to open.
URL_MAX = 2048


def callbacks(server: str, inflight: InFlight) -> dict[str, Any]:
    """The ``mcp.Client`` keyword arguments that route input to the calling turn."""

    async def elicitation(
        context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        channel = inflight.channel()
        if channel is None:
            # Nobody to ask (a direct call, or several turns at once): decline,
            # which tells the server "the user said no" rather than breaking the call.
            return ElicitResult(action="decline")
        if isinstance(params, ElicitRequestFormParams):
            request = ElicitRequest(
                server, params.message, "form", dict(params.requested_schema or {})
            )
        else:
            request = ElicitRequest(server, params.message, "url", {}, params.url)
        unfit = unfit_request(request.message, request.schema)
        if request.url is not None and (
            len(request.url) > URL_MAX or not request.url.startswith(("https://", "http://"))
        ):
            unfit = "the URL is not a web address of at most 2048 characters"
        if unfit is not None:
            # A malformed or huge form is declined unasked: it would reach the
            # user's events, stored runs and forms as is.
            log.warning("elicitation from %s declined: %s", server, unfit)
            return ElicitResult(action="decline")
        try:
            with inflight.user_time(channel):
                answer = await channel.elicit(request)
        except Exception as exc:  # a broken front end must not break the server's call
            log.warning("elicitation from %s failed: %s", server, exc)
            return ElicitResult(action="cancel")
        content = answer.content if answer.action == "accept" else None
        return ElicitResult(action=answer.action, content=content)

    async def sampling(
        context: ClientRequestContext, params: CreateMessageRequestParams
    ) -> CreateMessageResult | ErrorData:
        channel = inflight.channel()
        if channel is None:
            return ErrorData(code=INVALID_REQUEST, message="sampling is not available here")
        if params.tools:
            return ErrorData(code=INVALID_REQUEST, message="sampling with tools is not supported")
        try:
            messages, blocks = split_messages(params.messages)
        except UnfitSampling as exc:
            return ErrorData(code=INVALID_REQUEST, message=str(exc))
        size = sum(len(t) for _r, t in messages) + len(params.system_prompt or "")
        if size > SAMPLING_INPUT_MAX:
            # The owner pays for the prompt too: a server cannot send the model a book.
            return ErrorData(
                code=INVALID_REQUEST,
                message=f"sampling messages over {SAMPLING_INPUT_MAX} characters are refused",
            )
        try:
            media = await decode_media(blocks)
        except UnfitSampling as exc:
            return ErrorData(code=INVALID_REQUEST, message=str(exc))
        request = SampleRequest(
            server,
            tuple(messages),
            params.max_tokens,
            params.system_prompt,
            params.temperature,
            tuple(params.stop_sequences or ()),
            media,
        )
        try:
            with inflight.user_time(channel):  # the approval may wait for the user
                answer = await channel.sample(request)
        except SamplingRefused as exc:
            return ErrorData(code=INVALID_REQUEST, message=str(exc))
        except Exception as exc:
            log.warning("sampling for %s failed: %s", server, exc)
            return ErrorData(code=INVALID_REQUEST, message=f"sampling failed: {exc}")
        return CreateMessageResult(
            role="assistant",
            content=TextContent(type="text", text=answer.text),
            model=answer.model,
            stop_reason=answer.stop_reason,
        )

    return {
        "elicitation_callback": elicitation,
        "sampling_callback": sampling,
        "sampling_capabilities": SamplingCapability(),
    }
