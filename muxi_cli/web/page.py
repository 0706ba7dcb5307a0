"""The HTML page around the terminal, and where textual-serve's static files are.

textual-serve's own template loads a web font from a third-party CDN; this
page uses the Roboto Mono files textual-serve ships instead, so the page makes
no request outside this server. It has no inline script (its policy forbids
them, :func:`muxi_cli.web.gate.page_headers`): Restart is a plain form.
"""

from __future__ import annotations

import html
from pathlib import Path


def static_dir() -> Path:
    """textual-serve's ``static`` folder (xterm.js bundle, CSS, fonts)."""
    import textual_serve  # deferred: only the web part has it

    return Path(textual_serve.__file__).parent / "static"


_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{static}css/xterm.css">
<style>
@font-face {{ font-family: "Roboto Mono"; src: url("{static}fonts/RobotoMono-VariableFont_wght.ttf"); }}
html, body {{ margin: 0; height: 100%; background: #0c181f; }}
#terminal {{ position: absolute; inset: 0; }}
.ended {{ display: none; position: absolute; inset: 0; z-index: 10; align-items: center;
  justify-content: center; flex-direction: column; color: #eee; background: #0c181f;
  font: 16px "Roboto Mono", monospace; }}
body.-closed .ended {{ display: flex; }}
.ended button {{ margin: 16px; padding: 12px 28px; background: #5e0ba7; color: #fff;
  border: none; font: inherit; cursor: pointer; }}
#start {{ display: none; }}
</style>
<script src="{static}js/textual.js"></script>
</head>
<body>
<div class="ended"><div>Session ended.</div>
<form method="get" action=""><button type="submit">Restart</button></form></div>
<button id="start" type="button"></button>
<div id="terminal" class="textual-terminal" data-session-websocket-url="{ws_url}"
 data-font-size="{font_size}"></div>
</body>
</html>
"""


def page_html(ws_url: str, static_url: str, title: str = "muxi", font_size: int = 16) -> str:
    """The page: textual.js connects to ``ws_url`` and draws the app into ``#terminal``."""
    return _PAGE.format(
        title=html.escape(title),
        static=html.escape(static_url, quote=True),
        ws_url=html.escape(ws_url, quote=True),
        font_size=int(font_size),
    )


def websocket_url(host: str, path: str, secure: bool) -> str:
    """The absolute WebSocket URL textual.js needs, for the host the browser used."""
    return f"{'wss' if secure else 'ws'}://{host}{path}"
