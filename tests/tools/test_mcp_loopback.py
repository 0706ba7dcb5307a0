"""The loopback listener of `muxi mcp login` waits for its own login's answer only."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

from muxi_cli.tools.mcp_loopback import Loopback


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


async def test_a_redirect_with_another_state_is_refused_and_the_login_keeps_waiting() -> None:
    async with Loopback("127.0.0.1", 0, "/callback") as lb:
        base = f"http://127.0.0.1:{lb.port}/callback"
        lb.expect("https://auth.example/authorize?client_id=c&state=the-login&code_challenge=x")
        waiting = asyncio.ensure_future(lb.wait())
        assert await asyncio.to_thread(_get, f"{base}?code=forged&state=other") == 400
        assert await asyncio.to_thread(_get, f"{base}?code=forged") == 400
        assert await asyncio.to_thread(_get, f"http://127.0.0.1:{lb.port}/elsewhere") == 404
        assert not waiting.done()
        assert await asyncio.to_thread(_get, f"{base}?code=real&state=the-login") == 200
        assert await asyncio.wait_for(waiting, 10) == "/callback?code=real&state=the-login"


async def test_an_error_answer_of_this_login_ends_the_wait() -> None:
    async with Loopback("127.0.0.1", 0, "/callback") as lb:
        lb.expect("https://auth.example/authorize?state=s1")
        base = f"http://127.0.0.1:{lb.port}/callback"
        assert await asyncio.to_thread(_get, f"{base}?error=access_denied&state=s1") == 200
        assert "error=access_denied" in await asyncio.wait_for(lb.wait(), 10)
