"""A small S3 client (PUT, GET, HEAD, DELETE of one object) for the media store.

Requests are signed with AWS Signature Version 4 (``AWS4-HMAC-SHA256``,
the payload's sha256 in ``x-amz-content-sha256``), so any S3-compatible
server works: AWS, MinIO, Ceph, moto. The store is configured by URL::

    s3://BUCKET[/PREFIX]?endpoint=http://127.0.0.1:9000&region=us-east-1

With ``endpoint`` objects are addressed path-style
(``ENDPOINT/BUCKET/KEY``, what self-hosted servers expect); without it
virtual-hosted style on AWS (``https://BUCKET.s3.REGION.amazonaws.com/KEY``).
Credentials come from ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``
(and ``AWS_SESSION_TOKEN`` for temporary ones), never from the URL, so the
URL can sit in a formation file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlsplit

from muxi_cli.errors import ConfigError, MuxiError

if TYPE_CHECKING:
    import httpx

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_URL_HINT = "Use s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=REGION."


@dataclass(frozen=True, slots=True)
class S3Location:
    """Where objects go: a bucket, a key prefix, the server and its region."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str = "us-east-1"

    def url(self, key: str) -> str:
        path = quote(self.key(key), safe="/-_.~")
        if self.endpoint:
            return f"{self.endpoint.rstrip('/')}/{self.bucket}/{path}"
        return f"https://{self.bucket}.s3.{self.region}.amazonaws.com/{path}"

    def key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"


def parse_url(url: str) -> S3Location:
    """The location an ``s3://`` URL names; :class:`ConfigError` for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"Not an object storage URL: {url!r}.", hint=_URL_HINT)
    if not _BUCKET_RE.match(parts.netloc):
        raise ConfigError(f"Invalid bucket name {parts.netloc!r} in {url!r}.", hint=_URL_HINT)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"endpoint", "region"})
    if unknown:
        raise ConfigError(
            f"Unknown option {unknown[0]!r} in the media URL.",
            hint="The options are endpoint and region. " + _URL_HINT,
        )
    endpoint = options.get("endpoint") or None
    if endpoint is not None:
        ep = urlsplit(endpoint)
        if ep.scheme not in ("http", "https") or not ep.netloc or ep.path not in ("", "/"):
            raise ConfigError(
                f"Invalid endpoint {endpoint!r} in the media URL.",
                hint="Give the server's address only, e.g. endpoint=http://127.0.0.1:9000.",
            )
    return S3Location(
        bucket=parts.netloc,
        prefix=parts.path.strip("/"),
        endpoint=endpoint,
        region=options.get("region") or os.environ.get("AWS_REGION") or "us-east-1",
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None

    @classmethod
    def from_env(cls) -> Credentials:
        access = os.environ.get("AWS_ACCESS_KEY_ID", "")
        secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        if not access or not secret:
            raise ConfigError(
                "The media store is in object storage but no credentials are set.",
                hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the muxi process.",
            )
        return cls(access, secret, os.environ.get("AWS_SESSION_TOKEN") or None)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """``kSigning`` of SigV4: the secret HMAC-chained through date, region, service."""
    k_date = _hmac(("AWS4" + secret).encode("utf-8"), date)
    return _hmac(_hmac(_hmac(k_date, region), service), "aws4_request")


def _canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def sign(
    method: str,
    url: str,
    headers: dict[str, str],
    payload_hash: str,
    creds: Credentials,
    region: str,
    now: datetime,
) -> dict[str, str]:
    """``headers`` plus ``x-amz-date``, ``x-amz-content-sha256`` (and the
    session token) and the ``Authorization`` that signs them all.

    ``url``'s path must already be URI-encoded (S3 encodes it once).
    """
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urlsplit(url)
    out = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    out["host"] = parts.netloc
    out["x-amz-date"] = amz_date
    out["x-amz-content-sha256"] = payload_hash
    if creds.session_token:
        out["x-amz-security-token"] = creds.session_token
    names = sorted(out)
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            _canonical_query(parts.query),
            "".join(f"{n}:{out[n]}\n" for n in names),
            ";".join(names),
            payload_hash,
        ]
    )
    scope = f"{date}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    signature = hmac.new(
        signing_key(creds.secret_key, date, region), to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    out["authorization"] = (
        f"{ALGORITHM} Credential={creds.access_key}/{scope},"
        f"SignedHeaders={';'.join(names)},Signature={signature}"
    )
    return out


class S3Client:
    """PUT/GET/HEAD/DELETE of objects at one :class:`S3Location` (synchronous)."""

    def __init__(
        self, location: S3Location, creds: Credentials | None = None, timeout: float = 60.0
    ) -> None:
        self.location = location
        self._creds = creds
        self._timeout = timeout
        self._http: httpx.Client | None = None

    @property
    def creds(self) -> Credentials:
        """Read from the environment on first use, so a store that is never
        used (``muxi sessions list``) needs none."""
        if self._creds is None:
            self._creds = Credentials.from_env()
        return self._creds

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx  # deferred: only a store in object storage needs it

            self._http = httpx.Client(timeout=self._timeout, follow_redirects=False)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _request(
        self, method: str, key: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        import httpx  # deferred: only a store in object storage needs it

        url = self.location.url(key)
        signed = sign(
            method,
            url,
            headers or {},
            hashlib.sha256(body).hexdigest(),
            self.creds,
            self.location.region,
            datetime.now(UTC),
        )
        signed.pop("host")  # httpx sends the same Host itself
        try:
            return self._client().request(method, url, content=body or None, headers=signed)
        except httpx.HTTPError as exc:
            raise self._error(method, key, f"the server could not be reached ({exc})") from exc

    def _error(self, method: str, key: str, what: str) -> MuxiError:
        return MuxiError(
            f"Object storage {self.location.describe()}: {method} {key} failed: {what}.",
            hint="Check the media URL (MUXI_MEDIA_URL or media.url), that the bucket "
            "exists and that AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY may use it.",
        )

    def _check(self, method: str, key: str, resp: httpx.Response) -> None:
        if resp.status_code >= 300:
            code = re.search(r"<Code>([^<]{1,80})</Code>", resp.text or "")
            detail = f"HTTP {resp.status_code}" + (f" {code.group(1)}" if code else "")
            raise self._error(method, key, detail)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        resp = self._request("PUT", key, data, {"content-type": content_type})
        self._check("PUT", key, resp)

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None if there is no such object."""
        resp = self._request("GET", key)
        if resp.status_code == 404:
            return None
        self._check("GET", key, resp)
        return resp.content

    def exists(self, key: str) -> bool:
        resp = self._request("HEAD", key)
        if resp.status_code == 404:
            return False
        self._check("HEAD", key, resp)
        return True

    def delete(self, key: str) -> None:
        """Delete the object (S3 answers 204 whether or not it existed)."""
        resp = self._request("DELETE", key)
        if resp.status_code != 404:
            self._check("DELETE", key, resp)
