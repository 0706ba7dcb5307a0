"""The container files without a container engine: the Dockerfile's structure,
hadolint and shellcheck, the compose file, the .dockerignore allowlist, and the
entrypoint's list of key variables against muxi's provider table."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from muxi_cli.providers import table as provider_table
from tests.container.support import (
    DOCKERFILE,
    ENTRYPOINT,
    EXTEND_EXAMPLE,
    FORMATION,
    ROOT,
    VENV_BIN,
    Instruction,
    final_stage,
    image_env,
    image_uid_gid,
    instructions,
)

COMPOSE = ROOT / "compose.yaml"


def _tool(name: str) -> str:
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing from the dev venv: pip install -e '.[dev]'")
    return str(path)


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, EXTEND_EXAMPLE], ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_passes_the_entrypoint() -> None:
    result = subprocess.run(
        [_tool("shellcheck"), "--shell=sh", str(ENTRYPOINT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _one(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, got {found}"
    return found[0]


def test_dockerfile_is_multi_stage_slim_non_root_with_health_and_volume() -> None:
    every = instructions(DOCKERFILE)
    froms = [i.args for i in every if i.keyword == "FROM"]
    assert len(froms) >= 2, "a build stage and the final stage"
    base = next(i.args for i in every if i.keyword == "ARG" and i.args.startswith("PYTHON_IMAGE"))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base)
    assert froms[-1] == "${PYTHON_IMAGE}"
    named = {f.split(" AS ")[1] for f in froms if " AS " in f}

    final = final_stage(DOCKERFILE)
    uid, gid = image_uid_gid()
    assert uid != 0 and gid != 0
    health = _one(final, "HEALTHCHECK").args
    assert "muxi-healthcheck" in health and "curl" not in health
    assert json.loads(_one(final, "VOLUME").args) == ["/data"]
    env = image_env()
    assert _one(final, "EXPOSE").args == env["MUXI_SERVE_PORT"]
    assert env["MUXI_HOME"] == "/data" and env["MUXI_SECRETS_FILE"] == "1"
    assert env["MUXI_CONFIG"] == "/formation/muxi.yaml"
    assert env["MUXI_SERVE_HOST"] == "0.0.0.0", "reachable through the published port"
    entry = json.loads(_one(final, "ENTRYPOINT").args)
    assert entry[0] == "/usr/bin/tini" and entry[-1] == "muxi-entrypoint"

    copies = [shlex.split(i.args) for i in final if i.keyword == "COPY"]
    stages_used = {a.split("=", 1)[1] for c in copies for a in c if a.startswith("--from=")}
    assert stages_used <= named, "COPY --from names a stage that exists"
    targets = {c[-1] for c in copies}
    assert {
        "/usr/local/bin/muxi-entrypoint",
        "/usr/local/bin/muxi-healthcheck",
        "/formation/muxi.yaml",
    } <= targets


def test_dockerfile_preinstalls_the_three_mcp_servers_with_pinned_versions() -> None:
    runs = " ".join(i.args for i in instructions(DOCKERFILE) if i.keyword == "RUN")
    for package in ("mcp-server-time", "mcp-server-fetch"):
        assert re.search(rf'"{package}==[0-9.]+"', runs), package
    assert "npm ci" in runs  # the lock file, not a version range
    manifest = json.loads((ROOT / "docker" / "mcp" / "package.json").read_text())
    version = manifest["dependencies"]["@modelcontextprotocol/server-filesystem"]
    assert re.fullmatch(r"[0-9.]+", version), "an exact version"
    lock = json.loads((ROOT / "docker" / "mcp" / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/@modelcontextprotocol/server-filesystem"]
    assert locked["version"] == version

    # The formation's commands are on the image's PATH, from those installs.
    formation = yaml.safe_load(FORMATION.read_text())
    commands = {name: s["command"] for name, s in formation["mcp_servers"].items()}
    assert commands == {
        "time": "mcp-server-time",
        "fetch": "mcp-server-fetch",
        "filesystem": "mcp-server-filesystem",
    }
    path = image_env()["PATH"].split(":")
    assert {"/opt/mcp/bin", "/opt/mcp-node/node_modules/.bin"} <= set(path)
    assert path[0] == "/opt/muxi/bin", "muxi's python comes first"
    assert path[-1] == "${PATH}", "the base image's PATH (sbin folders included) stays"


def _dockerignore_allows(path: str) -> bool:
    allowed = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule[1:] if negate else rule
        pattern = pattern.rstrip("/")
        hit = fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")
        if pattern.startswith("**/"):
            hit = hit or fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern[3:])
        if hit:
            allowed = negate
    return allowed


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    for ins in instructions(DOCKERFILE):
        if ins.keyword != "COPY" or "--from=" in ins.args:
            continue
        sources = [a for a in shlex.split(ins.args) if not a.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), source
            assert _dockerignore_allows(source.rstrip("/")), f".dockerignore drops {source}"
    assert not _dockerignore_allows(".git")
    assert not _dockerignore_allows("tests")
    assert not _dockerignore_allows("secrets")
    assert not _dockerignore_allows("muxi_cli/__pycache__")


def test_compose_file_parses_and_references_what_exists() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    muxi = services["muxi"]
    assert "profiles" not in muxi, "the server starts without a profile"
    assert (ROOT / muxi["build"] / "Dockerfile").is_file()
    assert muxi["healthcheck"]["test"] == ["CMD", "muxi-healthcheck"]
    assert any(v.endswith(":/data") for v in muxi["volumes"])
    port = image_env()["MUXI_SERVE_PORT"]
    assert all(p.startswith("127.0.0.1:") and p.endswith(f":{port}") for p in muxi["ports"])

    for name, service in services.items():
        # One-shot setup services (the bucket) run once and stay stopped.
        once = name.endswith("-init")
        assert service.get("restart") == ("no" if once else "unless-stopped"), name
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name} uses undeclared secret {secret}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
        if name != "muxi":
            assert service["profiles"] == ["scale-out"]
    # Secret files are the operator's: under ./secrets/, which git and docker never take.
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "secrets/anthropic_api_key"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "secrets/ must be in .gitignore"
    # The PostgreSQL stores come with issue 21: the file says a muxi without them
    # does not use the database yet (tests/deploy checks the rest of the profile).
    text = COMPOSE.read_text()
    assert "does not use it yet" in text and "issue 21" in text


def test_entrypoint_knows_every_provider_key_variable() -> None:
    text = ENTRYPOINT.read_text()
    match = re.search(r'KNOWN_SECRETS="([^"]*)"', text)
    assert match
    known = set(match.group(1).replace("\\\n", " ").split())
    wanted = {s.key_env for s in provider_table.specs() if s.key_env} | {"MUXI_ADMIN_KEY"}
    assert wanted <= known, f"add to KNOWN_SECRETS: {sorted(wanted - known)}"


def test_the_docs_show_the_extend_example_as_it_is() -> None:
    """docs/container.md's second Dockerfile is the linted one, from its ARG line on."""
    doc = (ROOT / "docs" / "container.md").read_text()
    shown = re.search(r"```dockerfile\n(.*?)```", doc, re.S)
    assert shown is not None
    text = EXTEND_EXAMPLE.read_text()
    assert shown.group(1) == text[text.index("ARG MUXI_IMAGE") :]


def _compose_command() -> list[str] | None:
    """A compose implementation that can check a file without an engine, if any."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return None


def test_compose_validates_with_a_compose_implementation(tmp_path: Path) -> None:
    """`compose config` checks the file against the compose schema (no engine needed)."""
    compose = _compose_command()
    if compose is None:
        pytest.skip("no docker-compose or docker compose plugin on this machine")
    work = tmp_path / "checkout"
    work.mkdir()
    shutil.copy(COMPOSE, work / "compose.yaml")
    shutil.copy(DOCKERFILE, work / "Dockerfile")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [*compose, "-f", "compose.yaml", "--profile", "scale-out", "config", "--services"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {
        "muxi",
        "postgres",
        "objectstore",
        "objectstore-init",
        "replica",
        "lb",
    }
