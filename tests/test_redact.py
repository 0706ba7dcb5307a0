"""One redaction function: every secret form, and every surface (issue 13, hole 9)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from typer.testing import CliRunner

from muxi_cli.redact import REDACTED, RedactingFormatter, forget_all, redact, redact_args, remember


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    forget_all()
    yield
    forget_all()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("token ghp_0123456789abcdefghijABCDEFGHIJ0123 rejected", "ghp_0123456789"),
        ("github_pat_11ABCDEFG0_abcdefghijklmnopqrstuv", "github_pat_11ABCDEFG0"),
        ("key sk-proj-abcdefghij0123456789 invalid", "sk-proj-abcdefghij"),
        ("key sk-ant-api03-abcdefghij0123 invalid", "sk-ant-api03"),
        ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
        ("Authorization: Bearer abc.DEF-ghi_123456", "abc.DEF-ghi_123456"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl", "eyJzdWIiOiIxMjM0In0"),
        ("dsn postgres://app:DbPass-7731@db:5432/prod", "DbPass-7731"),
        ("redis://:only-a-password-1@cache:6379/0", "only-a-password-1"),
        ("DB_PASSWORD=hunter22 next", "hunter22"),
        ("https://api.test/x?api_key=qwerty123&page=2", "qwerty123"),
        ('{"password": "hunter22", "n": 1}', "hunter22"),
        ("client_secret: zx9-abcd-1234", "zx9-abcd-1234"),
        ("run --token abc123xyz --verbose", "abc123xyz"),
        ("run --password=hunter22 --verbose", "hunter22"),
        ("run --api-key X1234567 -v", "X1234567"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----", "MIIEv"),
    ],
)
def test_each_secret_form(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and REDACTED in out, out


@pytest.mark.parametrize(
    "text",
    [
        "wrong password for user bob",
        "max_tokens=100 input_tokens: 20 tokens: 300",
        "author=John Smith",
        "api_key: missing (set it in muxi.yaml)",
        "see https://example.com/docs?page=2",
        "session s_0123abcd not found",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_configured_secrets_also_url_encoded_and_cut_short() -> None:
    key = "Zq8/vL+3mN0pQ=rT5uW7"  # no known format: only knowing it finds it
    remember([key])
    for echo in (
        key,
        quote(key, safe=""),
        key[:10] + "****",
        "x" + key[:8] + "...",
        quote(key)[:12],
    ):
        out = redact(f"error: bad key {echo} given")
        assert REDACTED in out and key[:8] not in out, (echo, out)
    # Explicit ones work without remembering, and plain words are not "secrets".
    forget_all()
    assert redact("key Qq9-secret-77 bad", ["Qq9-secret-77"]) == f"key {REDACTED} bad"
    remember(["ollama"])
    assert redact("is ollama running?") == "is ollama running?"


def test_redact_args() -> None:
    args = ["-y", "pkg", "--token", "abc123xyz", "--password=hunter22", "--api-key", "K1234567"]
    args += ["--db", "postgres://u:pw-98765@h/db", "--verbose", "--port", "8080"]
    assert redact_args(args) == [
        "-y",
        "pkg",
        "--token",
        REDACTED,
        f"--password={REDACTED}",
        "--api-key",
        REDACTED,
        "--db",
        f"postgres://u:{REDACTED}@h/db",
        "--verbose",
        "--port",
        "8080",
    ]


# -- surfaces ------------------------------------------------------------------


async def test_provider_errors_hide_encoded_and_truncated_key_echoes(fake_llm: Any) -> None:
    from muxi_cli.errors import AuthError
    from muxi_cli.llm.base import LLMRequest, Message, complete
    from muxi_cli.llm.common import RetryPolicy
    from muxi_cli.llm.openai_provider import OpenAIProvider
    from tests.fakellm import Error

    key = "pk-live/ab+cd=ef0123456789"
    provider = OpenAIProvider(
        "openai", api_key=key, base_url=fake_llm.openai_base_url, retry=RetryPolicy(max_retries=0)
    )
    fake_llm.script(
        Error(401, message=f"Incorrect API key: {key[:11]}***{key[-3:]} ({quote(key, safe='')})")
    )
    with pytest.raises(AuthError) as err:
        await complete(provider, LLMRequest(model="m", messages=[Message("user", "hi")]))
    message = err.value.message
    assert key[:8] not in message and quote(key, safe="")[:8] not in message, message
    assert REDACTED in message


def test_error_bodies_are_redacted() -> None:
    from muxi_cli.errors import MuxiError

    err = MuxiError("upstream said: token=ghp_0123456789abcdefghij0123 invalid", "check the key")
    body = err.to_dict()
    assert "ghp_0123456789" not in body["message"] and body["hint"] == "check the key"


def test_log_lines_are_redacted() -> None:
    record = logging.LogRecord(
        "muxi.server",
        logging.ERROR,
        __file__,
        1,
        "connect %s failed",
        ("postgres://a:pw-4242@h",),
        None,
    )
    assert "pw-4242" not in RedactingFormatter().format(record)


def test_session_export_is_redacted() -> None:
    from muxi_cli.protocol.records import SessionInfo, SessionMessage
    from muxi_cli.stores.session_export import export_session

    info = SessionInfo(
        id="s_1", title="t", user_id="u", agent="a", created_at="", updated_at="", message_count=1
    )
    msg = SessionMessage(
        id=1,
        session_id="s_1",
        seq=1,
        role="assistant",
        content="use postgres://app:DbPass-7731@db/x and eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    )
    for fmt in ("md", "json"):
        text = export_session(info, [msg], fmt)
        assert "DbPass-7731" not in text and "eyJzdWIiOiIxIn0" not in text


def test_config_show_hides_mcp_args(tmp_path: Path) -> None:
    from muxi_cli.cli.app import app

    (tmp_path / "muxi.yaml").write_text(
        "mcp_servers:\n  db:\n    command: db-mcp\n"
        "    args: [--token, tok-abc-12345, '--password=pw-98765', --api-key, K1234567,"
        " 'postgres://u:dsnpw-111@h/db', --verbose]\n"
    )
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "muxi.yaml"), "config", "show"])
    assert result.exit_code == 0, result.stderr
    for secret in ("tok-abc-12345", "pw-98765", "K1234567", "dsnpw-111"):
        assert secret not in result.stdout
    args = yaml.safe_load(result.stdout)["mcp_servers"]["db"]["args"]
    assert args[0] == "--token" and args[-1] == "--verbose"
    shown = CliRunner().invoke(
        app, ["--config", str(tmp_path / "muxi.yaml"), "config", "show", "--json"]
    )
    assert "tok-abc-12345" not in shown.stdout and json.loads(shown.stdout)


@pytest.mark.timeout(60)  # quadratic patterns took minutes on these (error bodies echo input)
@pytest.mark.parametrize(
    "unit", ["a.", "a-", "token", "password-", "a=b ", "eyJa-", "x://a:", "--password ", "sk-"]
)
def test_hostile_input_does_not_backtrack(unit: str) -> None:
    text = unit * (100_000 // len(unit))
    assert len(redact(text)) > 0
