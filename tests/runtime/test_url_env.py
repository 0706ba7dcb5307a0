"""``MUXI_URL`` + ``MUXI_API_KEY``: a server named by the environment, no profile
needed (scripts, CI, and the chat app children of ``muxi serve --web``)."""

from __future__ import annotations

import pytest

from muxi_cli.errors import ServerAuthError
from muxi_cli.runtime.factory import LOCAL, selected_profile
from muxi_cli.runtime.profiles import URL_PROFILE, get_profile, validate_name
from muxi_cli.runtime.remote import RemoteRuntime


def test_muxi_url_selects_the_server_after_explicit_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MUXI_PROFILE", raising=False)
    assert selected_profile(None) == LOCAL
    monkeypatch.setenv("MUXI_URL", "http://127.0.0.1:9/v1/")
    assert selected_profile(None) == URL_PROFILE
    assert selected_profile("prod") == "prod"  # -P wins
    monkeypatch.setenv("MUXI_PROFILE", "local")
    assert selected_profile(None) == LOCAL  # so does MUXI_PROFILE
    profile = get_profile(URL_PROFILE)
    assert profile.url == "http://127.0.0.1:9"
    with pytest.raises(Exception, match="invalid"):
        validate_name(URL_PROFILE)  # never the name of a saved profile


async def test_muxi_url_needs_muxi_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXI_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("MUXI_API_KEY", raising=False)
    with pytest.raises(ServerAuthError, match="MUXI_URL"):
        await RemoteRuntime.open_profile(URL_PROFILE)
    monkeypatch.setenv("MUXI_API_KEY", "mk_test")
    runtime = await RemoteRuntime.open_profile(URL_PROFILE)
    try:
        assert runtime.label == "http://127.0.0.1:9"
    finally:
        await runtime.aclose()
