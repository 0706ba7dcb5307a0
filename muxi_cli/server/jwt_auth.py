"""Bearer JWTs from an identity provider (``server.jwt`` in the formation).

A token is accepted when its signature checks against the provider's JWKS
(fetched over HTTP and cached), its ``iss`` and ``aud`` are the configured ones
and it has not expired. The configured claims give the muxi user id, the role
and the scopes. PyJWT (with ``cryptography``) is imported on first use: servers
without JWT never load it.

The key set is fetched at most once per ``jwks_min_refresh`` seconds (a token
with an unknown ``kid`` asks for a fetch; a flood of such tokens cannot make the
server hammer the provider) and at the latest after ``jwks_ttl`` seconds. The
fetch is synchronous with a short timeout: it happens on the first token and
then rarely.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from muxi_cli.config.access import JWTConfig, scope_problem
from muxi_cli.errors import ServerAuthError
from muxi_cli.stores.server_keys import JWT_KEY_PREFIX, Principal, valid_user_id

log = logging.getLogger("muxi.server")

_JWT_RE = re.compile(r"^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
MAX_TOKEN = 8192
#: Algorithm prefix -> the JWK key type it needs.
_FAMILIES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_HINT = "get a fresh token from your identity provider"


class JWTVerifier:
    def __init__(self, config: JWTConfig, clock: Any = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._keys: dict[str, Any] = {}  # kid ("" when the key has none) -> PyJWK
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        return len(token) <= MAX_TOKEN and bool(_JWT_RE.match(token))

    # -- the key set ---------------------------------------------------------------

    def _fetch(self) -> None:
        """Fetch the key set (bounded by ``jwks_min_refresh``); keeps the old one on failure."""
        import httpx  # deferred: httpx is slow to import
        from jwt import PyJWKSet  # deferred: PyJWT is slow to import

        now = self._clock()
        if self._last_attempt is not None and now - self._last_attempt < max(
            self.config.jwks_min_refresh, 0.0
        ):
            return
        self._last_attempt = now
        self.fetches += 1
        try:
            response = httpx.get(
                self.config.jwks_url, timeout=self.config.jwks_timeout, follow_redirects=False
            )
            response.raise_for_status()
            keys = PyJWKSet.from_dict(response.json()).keys
        except Exception as exc:  # network, HTTP, JSON or key errors alike
            log.warning("cannot fetch the JWKS from %s: %s", self.config.jwks_url, exc)
            return
        self._keys = {str(k.key_id or ""): k for k in keys}
        self._fetched_at = now

    def _key(self, kid: str | None) -> Any:
        with self._lock:
            stale = (
                self._fetched_at is None or self._clock() - self._fetched_at > self.config.jwks_ttl
            )
            if stale or ((kid or "") not in self._keys and not (kid is None and self._keys)):
                self._fetch()
            if kid is None:
                # No kid: usable only when the provider publishes exactly one key.
                return next(iter(self._keys.values())) if len(self._keys) == 1 else None
            return self._keys.get(kid)

    # -- tokens --------------------------------------------------------------------

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; ServerAuthError says what is wrong."""
        import jwt  # deferred: PyJWT is slow to import

        cfg = self.config
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise ServerAuthError("the bearer token is not a valid JWT", hint=_HINT) from None
        alg = header.get("alg")
        if alg not in cfg.algorithms:
            raise ServerAuthError(
                f"the token's algorithm {alg!r} is not accepted",
                hint=f"this server accepts {', '.join(cfg.algorithms)}",
            )
        kid = header.get("kid")
        key = self._key(str(kid) if kid is not None else None)
        if key is None and not self._keys:
            raise ServerAuthError(
                "cannot check the token: the identity provider's keys are not available",
                hint="the server's log says why the JWKS could not be fetched",
            )
        if key is None:
            raise ServerAuthError(
                "the token was signed with a key the identity provider does not publish",
                hint=_HINT,
            )
        if _FAMILIES.get(str(alg)[:2]) != key.key_type:
            # e.g. an "ES256" header on an RSA key: refuse before any crypto runs.
            raise ServerAuthError("the token's algorithm does not fit its key", hint=_HINT)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=cfg.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise ServerAuthError("the token has expired", hint=_HINT) from None
        except jwt.InvalidAudienceError:
            raise ServerAuthError("the token is not meant for this server (audience)") from None
        except jwt.InvalidIssuerError:
            raise ServerAuthError("the token comes from another issuer") from None
        except jwt.InvalidSignatureError:
            raise ServerAuthError("the token's signature is not valid", hint=_HINT) from None
        except jwt.PyJWTError as exc:
            raise ServerAuthError(f"the token is not valid: {exc}", hint=_HINT) from None
        except (TypeError, ValueError) as exc:  # odd keys or claims: a 401, never a 500
            raise ServerAuthError(f"the token is not valid: {exc}", hint=_HINT) from None
        return self.principal(claims)

    def principal(self, claims: dict[str, Any]) -> Principal:
        """Map a token's claims to a principal (user id, role, scopes)."""
        cfg = self.config
        user = claims.get(cfg.user_claim)
        if not isinstance(user, str) or not valid_user_id(user):
            raise ServerAuthError(
                f"the token's {cfg.user_claim!r} claim is not a usable user id",
                hint="user ids are 1-128 letters, digits and . _ @ + -; set server.jwt.user_claim",
            )
        role: Any = "user"
        if cfg.role_claim and set(_strings(claims.get(cfg.role_claim))) & set(cfg.admin_values):
            role = "admin"
        scopes: tuple[str, ...] | None = None
        if cfg.scopes_claim and cfg.scopes_claim in claims:
            # Identity providers mix their own scopes (openid, email) in: keep ours.
            ours = tuple(s for s in _strings(claims[cfg.scopes_claim]) if not scope_problem(s))
            scopes = ours or None  # only the provider's own scopes: the formation's default
        return Principal(f"{JWT_KEY_PREFIX}{user}", role, user, scopes)


def _strings(value: Any) -> list[str]:
    """A claim as a list of strings: ``"a b"`` or ``["a", "b"]``."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
