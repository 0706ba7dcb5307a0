"""An S3-compatible server for tests: moto's, on 127.0.0.1, with authentication on.

``moto()`` starts ``moto_server`` on a free port, makes an IAM user whose key
signs every later request (moto checks SigV4 signatures once its few
unauthenticated setup calls are spent), and yields a :class:`Moto`; the server
is stopped on exit. The same server answers DynamoDB, which LanceDB's S3
commit store uses (``memory.uri ...&commit_table=``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.net import free_port, wait_listening
from tests.procs import stopping


def _policy(actions: str) -> str:
    return (
        '{"Version":"2012-10-17","Statement":'
        f'[{{"Effect":"Allow","Action":"{actions}","Resource":"*"}}]}}'
    )


@dataclass(frozen=True)
class Moto:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """What a process needs in its environment to reach the server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }

    def client(self, service: str) -> Any:
        import boto3  # deferred: only the tests that make buckets or tables pay for it

        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
        )  # fmt: skip

    def bucket(self, name: str) -> str:
        self.client("s3").create_bucket(Bucket=name)
        return name

    def commit_table(self, name: str) -> str:
        """A DynamoDB table of the layout LanceDB's S3 commit store expects."""
        self.client("dynamodb").create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": "base_uri", "KeyType": "HASH"},
                {"AttributeName": "version", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "base_uri", "AttributeType": "S"},
                {"AttributeName": "version", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        s3 = self.client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _iam(endpoint: str, action: str, **params: str) -> str:
    resp = httpx.post(
        endpoint + "/",
        data={"Action": action, "Version": "2010-05-08", **params},
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=setup/20200101/us-east-1/iam/"
            "aws4_request, SignedHeaders=host, Signature=unchecked"
        },
    )
    resp.raise_for_status()
    return resp.text


@contextlib.contextmanager
def moto(actions: str = "*") -> Iterator[Moto]:
    """The server, its user's key allowed ``actions`` (``"s3:*"``: S3 only)."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        exe = Path(shutil.which("moto_server") or "moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with stopping(proc):
        wait_listening(port, proc)
        endpoint = f"http://127.0.0.1:{port}"
        _iam(endpoint, "CreateUser", UserName="muxi")
        key = _iam(endpoint, "CreateAccessKey", UserName="muxi")
        _iam(
            endpoint, "PutUserPolicy", UserName="muxi", PolicyName="all",
            PolicyDocument=_policy(actions),
        )  # fmt: skip
        found = [re.search(f"<{t}>([^<]+)</{t}>", key) for t in ("AccessKeyId", "SecretAccessKey")]
        assert found[0] and found[1]
        yield Moto(endpoint, found[0].group(1), found[1].group(1))
