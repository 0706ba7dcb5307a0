"""Who may open the chat app: sessions behind an HttpOnly cookie.

``muxi web`` prints a URL with a one-time token; the first request carrying it
gets a session cookie and is redirected to the bare URL, so the token is spent
and never sits in the browser's history or a Referer. ``muxi serve --web``
opens a session from a server key typed into a login form instead. Either
way, every page and the WebSocket then need the cookie, and the WebSocket
also needs an ``Origin`` naming this very host: a page of another site cannot
drive the chat app with the user's cookie (cross-site WebSocket hijacking),
which SameSite alone does not rule out for every browser.

A server bound to a loopback address also answers only requests whose ``Host``
names loopback (:func:`loopback_host`): a page of another site that rebinds
its own name to 127.0.0.1 (DNS rebinding) has a matching ``Origin``, but it
names itself in ``Host``.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

#: The answer to a request without a valid token or session: says nothing more.
FORBIDDEN_TEXT = "403 Forbidden: open the link muxi printed (each link works once).\n"

#: Security headers of every page: no framing (a framed terminal could be
#: typed into by the framing site), no Referer, no caching of the page, no
#: opener for the pages a link opens (``Cross-Origin-Opener-Policy``), and a
#: policy that runs only this server's scripts: no inline or ``javascript:``
#: code, whatever ends up in the page.
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def page_headers(ws_url: str = "") -> dict[str, str]:
    """The headers of an HTML page: :data:`PAGE_HEADERS` with a policy that lets
    it load this server's scripts, styles and fonts, post its forms here and
    connect to ``ws_url`` (named: not every browser counts ``ws:`` as ``'self'``).
    Styles may be inline: xterm.js sets them."""
    connect = f"'self' {ws_url}".strip()
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"font-src 'self'; img-src 'self' data: blob:; connect-src {connect}; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return {**PAGE_HEADERS, "Content-Security-Policy": policy}


class Sessions:
    """Open browser sessions: a random id per session, with what its child needs.

    ``env`` of a session is added to its chat app's environment (``muxi serve
    --web`` puts the user's server key there; ``muxi web`` nothing).
    """

    def __init__(self, cookie: str) -> None:
        #: The cookie's name. ``muxi web`` instances on other ports of the same
        #: host share the browser's cookie jar, so each picks its own name.
        self.cookie = cookie
        self._open: dict[str, dict[str, str]] = {}

    def open(self, env: dict[str, str] | None = None) -> str:
        sid = secrets.token_urlsafe(32)
        self._open[sid] = dict(env or {})
        return sid

    def env(self, sid: str | None) -> dict[str, str] | None:
        """The session's child environment, or None when ``sid`` opens nothing."""
        if not sid:
            return None
        return self._open.get(sid)

    def close(self, sid: str) -> None:
        self._open.pop(sid, None)

    def set_cookie(self, sid: str, path: str = "/", secure: bool = False) -> str:
        """The ``Set-Cookie`` value that hands ``sid`` to the browser."""
        flags = "; Secure" if secure else ""
        return f"{self.cookie}={sid}; Path={path}; HttpOnly; SameSite=Strict{flags}"


class OneTimeToken:
    """The token of ``muxi web``'s printed URL: it opens exactly one session."""

    def __init__(self, token: str | None = None) -> None:
        self.value = token or secrets.token_urlsafe(32)
        self._spent = False

    def spend(self, offered: str | None) -> bool:
        """True once, for the first ``offered`` equal to the token."""
        if self._spent or not offered:
            return False
        if not hmac.compare_digest(offered.encode(), self.value.encode()):
            return False
        self._spent = True
        return True


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a WebSocket's ``Origin`` header names the host it connects to.

    Browsers always send ``Origin`` on WebSockets; a missing one is refused too,
    since only non-browser clients omit it and they can send anything anyway.
    """
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https"):
        return False
    return parts.netloc.lower() == host.lower()


def loopback_host(host: str | None) -> bool:
    """Whether a ``Host`` header names this machine's loopback (any port).

    ``localhost``, ``127.0.0.0/8`` and ``[::1]``: the names a browser on this
    machine (or at the end of an SSH tunnel, hence any port) uses for it.
    """
    if not host:
        return False
    if host.startswith("["):  # [::1]:8766
        name, _, rest = host[1:].partition("]")
        if rest and not rest.startswith(":"):
            return False
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def cookie_name() -> str:
    """A session cookie name of its own for one ``muxi web`` process."""
    return f"muxi_web_{secrets.token_hex(4)}"
