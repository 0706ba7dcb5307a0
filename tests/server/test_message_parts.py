"""Content parts over HTTP: a real `muxi serve` on loopback, the fake model server."""

from __future__ import annotations

from pathlib import Path

import httpx

from muxi_cli.protocol.messages import ImagePart, TextPart
from muxi_cli.runtime.remote import RemoteRuntime
from muxi_cli.stores.server_keys import KeyStore
from tests.fakellm import FakeLLM, Text
from tests.server.serveproc import ServeProcess

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


async def test_messages_carry_parts_and_keep_content_for_old_clients(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    home = tmp_path / "serve-home"
    config = fake_llm.write_formation(tmp_path, model="gpt-4o")  # a model with vision
    _, key = KeyStore(home / "data" / "server_keys.json").create("user", "alice")
    fake_llm.script(Text("A dot."))
    with ServeProcess(home, config) as proc:
        headers = {"authorization": f"Bearer {key}"}
        body = {
            "message": "what is this?",
            "stream": False,
            "attachments": [{"name": "dot.png", "content": PNG_B64, "mime": "image/png"}],
        }
        async with httpx.AsyncClient(base_url=proc.url, timeout=30) as c:
            r = await c.post("/v1/chat", json=body, headers=headers)
            assert r.status_code == 200, r.text
            sid = r.json()["session_id"]
            r = await c.get(f"/v1/sessions/{sid}/messages", headers=headers)
        assert r.status_code == 200
        user, reply = r.json()
        assert user["content"] == "what is this?" and reply["content"] == "A dot."
        text, image = user["parts"]
        assert text == {"type": "text", "text": "what is this?"}
        assert image["type"] == "image" and image["media"]["media_type"] == "image/png"
        assert image["media"]["meta"] == {"width": 1, "height": 1}  # read from the bytes
        assert PNG_B64 not in r.text  # references only, never the bytes
        assert reply["parts"] == [{"type": "text", "text": "A dot."}]

        rt = RemoteRuntime(proc.url, key)
        try:
            decoded = await rt.messages(sid)
        finally:
            await rt.aclose()
        assert decoded[0].parts[0] == TextPart("what is this?")
        assert isinstance(decoded[0].parts[1], ImagePart)
        assert decoded[0].parts[1].media.name == "dot.png"
