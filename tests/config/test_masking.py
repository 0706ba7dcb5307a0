"""mask_secrets: what `muxi config show` hides."""

from __future__ import annotations

from muxi_cli.config.loader import mask_secrets
from muxi_cli.secrets import mask


def test_masks_api_keys_headers_env_and_urls() -> None:
    data = {
        "providers": {
            "openai": {"api_key": "sk-live-abcdef123456", "api_key_env": "OPENAI_API_KEY"},
        },
        "mcp_servers": {
            "gh": {
                "command": "gh-mcp",
                "env": {
                    "GITHUB_TOKEN": "ghp_secretsecret",
                    "DB_PASSWORD": "hunter2hunter2",
                    "MY_SECRET": "s3cr3t-value",
                    "API_KEY": "k-123456789",
                    "LOG_LEVEL": "debug",
                },
            },
            "web": {
                "url": "https://user:pa55word-long@mcp.example.com/mcp?api_key=qwertyuiop&x=1",
                "headers": {"Authorization": "Bearer abcdefghijkl", "Accept": "text/plain"},
            },
        },
        "agents": [{"name": "a", "max_tokens": 100}],
    }
    masked = mask_secrets(data)
    assert masked["providers"]["openai"]["api_key"] == mask("sk-live-abcdef123456")
    assert masked["providers"]["openai"]["api_key_env"] == "OPENAI_API_KEY"
    env = masked["mcp_servers"]["gh"]["env"]
    assert env["GITHUB_TOKEN"] == mask("ghp_secretsecret")
    assert env["DB_PASSWORD"] == mask("hunter2hunter2")
    assert env["MY_SECRET"] == mask("s3cr3t-value")
    assert env["API_KEY"] == mask("k-123456789")
    assert env["LOG_LEVEL"] == "debug"
    web = masked["mcp_servers"]["web"]
    # The scheme stays readable; a short token is hidden whole.
    assert web["headers"]["Authorization"] == "Bearer ********"
    assert web["headers"]["Accept"] == "text/plain"
    assert "pa55word-long" not in web["url"] and "qwertyuiop" not in web["url"]
    assert web["url"].startswith("https://user:")
    assert "x=1" in web["url"]
    assert masked["agents"] == [{"name": "a", "max_tokens": 100}]
    # The input is not modified.
    assert data["providers"]["openai"]["api_key"] == "sk-live-abcdef123456"


def test_short_and_empty_values() -> None:
    masked = mask_secrets({"providers": {"x": {"api_key": "abc"}, "y": {"api_key": None}}})
    assert masked["providers"]["x"]["api_key"] == "********"  # not even the length shows
    assert masked["providers"]["y"]["api_key"] is None


def test_custom_auth_headers_and_url_passwords_are_hidden_whole() -> None:
    data = {
        "mcp_servers": {
            "web": {
                "url": "https://user:pw-secret@mcp.example.com/mcp",
                "headers": {
                    "X-Custom-Thing": "tok-9f8e7d6c5b4a39281706",
                    "Authorization": "Bearer abcdefghijklmnop123456",
                    "User-Agent": "muxi",
                },
            }
        }
    }
    web = mask_secrets(data)["mcp_servers"]["web"]
    assert "pw-s" not in web["url"] and "cret" not in web["url"]
    assert web["headers"]["X-Custom-Thing"] == mask("tok-9f8e7d6c5b4a39281706")
    assert web["headers"]["Authorization"] == "Bearer " + mask("abcdefghijklmnop123456")
    assert web["headers"]["User-Agent"] == "muxi"
