"""Where LanceDB finds the memory store: a folder, or object storage configured by URL.

``memory.uri`` takes the same form as ``media.url`` (:mod:`muxi_cli.stores.media_s3`),
so one bucket and one set of credentials serve both::

    s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:9000&region=us-east-1&commit_table=TABLE

- ``endpoint``: an S3-compatible server (MinIO, Ceph, moto); path-style requests,
  and plain HTTP allowed when the endpoint is ``http://``. Unset: AWS S3.
- ``region``: the bucket's region (``AWS_REGION`` or ``us-east-1`` when unset).
- ``commit_table``: the DynamoDB table LanceDB's S3 commit store coordinates
  concurrent writers through (LanceDB's documented setting for several writers
  on S3: the ``s3+ddb://`` scheme with ``ddbTableName``; hash key ``base_uri``
  string, range key ``version`` number). Unset, commits rely on the store's
  conditional puts (``If-None-Match``), which AWS S3 has; a store without them
  must be given a commit table when several replicas write.

Credentials come from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and
``AWS_SESSION_TOKEN``) in the environment, which LanceDB reads itself, never
from the URI, so the URI can sit in a formation file. Other schemes
(``gs://``, ``az://``) go to LanceDB unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from muxi_cli.errors import ConfigError

OPTIONS = ("endpoint", "region", "commit_table")
#: The environment variable that wins over ``memory.uri`` (as ``MUXI_MEDIA_URL``
#: over ``media.url``): one formation, a bucket per deployment.
URI_ENV = "MUXI_MEMORY_URI"
_HINT = (
    "Use s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=REGION"
    "[&commit_table=DYNAMODB_TABLE] (see docs/deploy.md)."
)


@dataclass(frozen=True, slots=True)
class LanceLocation:
    """What ``lancedb.connect_async`` is given: its URI and storage options."""

    uri: str
    storage_options: dict[str, str] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        return "://" in self.uri


def configured(formation_uri: str | None) -> str | None:
    """The memory store's URI: ``MUXI_MEMORY_URI`` when set, else ``memory.uri``."""
    return os.environ.get(URI_ENV) or formation_uri


def parse(uri: str) -> LanceLocation:
    """The LanceDB location ``memory.uri`` names; :class:`ConfigError` for a bad S3 URL."""
    parts = urlsplit(uri.strip())
    if parts.scheme != "s3":
        return LanceLocation(uri)
    if not parts.netloc:
        raise ConfigError(f"No bucket in the memory URI {uri!r}.", hint=_HINT)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(
            f"Unknown option {unknown[0]!r} in the memory URI.",
            hint=f"The options are {', '.join(OPTIONS)}. " + _HINT,
        )
    storage: dict[str, str] = {}
    endpoint = options.get("endpoint") or None
    if endpoint is not None:
        ep = urlsplit(endpoint)
        if ep.scheme not in ("http", "https") or not ep.netloc or ep.path not in ("", "/"):
            raise ConfigError(
                f"Invalid endpoint {endpoint!r} in the memory URI.",
                hint="Give the server's address only, e.g. endpoint=http://127.0.0.1:9000.",
            )
        storage["aws_endpoint"] = endpoint.rstrip("/")
        # Self-hosted servers expect path-style requests (ENDPOINT/BUCKET/KEY).
        storage["aws_virtual_hosted_style_request"] = "false"
        if ep.scheme == "http":
            storage["allow_http"] = "true"
    storage["aws_region"] = options.get("region") or os.environ.get("AWS_REGION") or "us-east-1"
    base = urlunsplit(("s3", parts.netloc, parts.path.rstrip("/"), "", ""))
    table = options.get("commit_table") or None
    if table is not None:
        base = f"s3+ddb{base[2:]}?ddbTableName={table}"
        if endpoint is not None:
            storage["dynamodb_endpoint"] = storage["aws_endpoint"]
    return LanceLocation(base, storage)


def describe(uri: str) -> str:
    """``uri`` without its query: what messages and logs show."""
    return uri.split("?", 1)[0]
