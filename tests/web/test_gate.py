"""The pieces that decide who may open the chat app (muxi_cli.web.gate)."""

from __future__ import annotations

from muxi_cli.web.child import ChildSpec, chat_app_argv
from muxi_cli.web.gate import OneTimeToken, Sessions, same_origin


def test_token_opens_once() -> None:
    token = OneTimeToken()
    assert len(token.value) >= 40
    assert not token.spend(None) and not token.spend("") and not token.spend(token.value + "x")
    assert token.spend(token.value)
    assert not token.spend(token.value)  # spent


def test_sessions_and_cookie() -> None:
    sessions = Sessions("muxi_web_test")
    sid = sessions.open({"MUXI_API_KEY": "k"})
    assert sessions.env(sid) == {"MUXI_API_KEY": "k"}
    assert sessions.env(None) is None and sessions.env("guess") is None
    cookie = sessions.set_cookie(sid, path="/web")
    assert cookie.startswith(f"muxi_web_test={sid}; Path=/web;")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert "Secure" in sessions.set_cookie(sid, secure=True)
    sessions.close(sid)
    assert sessions.env(sid) is None


def test_origin_must_name_the_host() -> None:
    assert same_origin("http://127.0.0.1:8766", "127.0.0.1:8766")
    assert same_origin("https://Example.org", "example.org")
    assert not same_origin(None, "127.0.0.1:8766")
    assert not same_origin("null", "127.0.0.1:8766")
    assert not same_origin("http://evil.example", "127.0.0.1:8766")
    assert not same_origin("http://127.0.0.1:9999", "127.0.0.1:8766")
    assert not same_origin("file://127.0.0.1:8766", "127.0.0.1:8766")


def test_child_command_and_environment() -> None:
    argv = chat_app_argv("prod", "conf/muxi.yaml")
    assert argv[1:5] == ["-m", "muxi_cli", "--profile", "prod"]
    assert argv[5] == "--config" and argv[6].endswith("conf/muxi.yaml") and argv[6][0] == "/"
    assert argv[-2:] == ["web", "--app-process"]
    spec = ChildSpec(argv, env={"A": "1"}, scrub=True)
    env = spec.environment({"MUXI_ADMIN_KEY": "secret", "PATH": "/bin"}, {"MUXI_API_KEY": "u"})
    assert env == {"PATH": "/bin", "A": "1", "MUXI_API_KEY": "u"}
