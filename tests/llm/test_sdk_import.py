"""The SDK import trick of ``muxi_cli.llm.sdk_import``, checked in fresh processes.

These fail when an SDK upgrade breaks it: a ``types`` package no longer made of
re-exports only (then it is imported the ordinary way, and the saving is gone),
a re-exported name resolving to another object than the real ``__init__`` binds,
or a streamed chat completion failing under the lazy packages.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.fakellm import FakeLLM, Text

CHAT = r"""
import asyncio, json, sys
from muxi_cli.llm.sdk_import import deferred, lazy_sdk_types
assert lazy_sdk_types()
from muxi_cli.llm.base import LLMRequest, Message
from muxi_cli.llm.openai_provider import OpenAIProvider

async def main():
    provider = OpenAIProvider(api_key="sk-fake", base_url=sys.argv[1])
    request = LLMRequest(model="fake-model", messages=[Message(role="user", content="hi")])
    chunks = [chunk async for chunk in provider.stream(request)]
    await provider.aclose()
    return "".join(getattr(c, "text", "") for c in chunks)

text = asyncio.run(main())
print(json.dumps({
    "text": text,
    "deferred": [p for p in ("openai.types", "openai.types.chat", "openai.types.responses")
                 if deferred(p)],
    "type_modules": sum(m.startswith("openai.types") for m in sys.modules),
}))
"""

SAME_OBJECTS = r"""
import importlib, json, pkgutil, sys
from muxi_cli.llm import sdk_import
assert sdk_import.lazy_sdk_types()
root = sys.argv[1]
top = importlib.import_module(root)
names = [root] + [m.name for m in pkgutil.walk_packages(top.__path__, prefix=root + ".") if m.ispkg]
checked, not_lazy, differ = 0, [], []
for name in names:
    package = importlib.import_module(name)
    if not sdk_import.deferred(name):
        not_lazy.append(name)
        continue
    values = {n: getattr(package, n) for n in dict(package.__dict__["_muxi_names"])}
    package._muxi_run_init()
    for n, v in values.items():
        checked += 1
        if getattr(package, n) is not v:
            differ.append(name + "." + n)
print(json.dumps({"checked": checked, "packages": len(names), "not_lazy": not_lazy,
                  "differ": differ}))
"""


def run(code: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_streamed_chat_completion_works_with_the_types_deferred(fake_llm: FakeLLM) -> None:
    fake_llm.script(Text("hello from the lazy SDK"))
    out = run(CHAT, fake_llm.openai_base_url)
    assert out["text"] == "hello from the lazy SDK"
    assert out["deferred"] == ["openai.types", "openai.types.chat", "openai.types.responses"]
    # The saving itself: about 70 type modules instead of ~470 (an upgrade that
    # brings back an eager import of the whole tree shows here).
    assert isinstance(out["type_modules"], int) and out["type_modules"] < 200


@pytest.mark.parametrize("root", ["openai.types", "anthropic.types"])
def test_every_deferred_name_is_the_object_the_real_init_binds(root: str) -> None:
    out = run(SAME_OBJECTS, root)
    assert out["not_lazy"] == [], "these packages are no longer plain re-exports"
    assert isinstance(out["checked"], int) and out["checked"] > 100
    assert out["differ"] == []


def test_star_import_dir_and_submodules_behave_as_with_the_real_package() -> None:
    code = (
        "from muxi_cli.llm.sdk_import import deferred, lazy_sdk_types\n"
        "assert lazy_sdk_types()\n"
        "import openai, openai.types as t\n"
        "assert deferred('openai.types')\n"
        "from openai.types.chat import completion_create_params  # a submodule, not a name\n"
        "assert completion_create_params.__name__ == 'openai.types.chat.completion_create_params'\n"
        "assert deferred('openai.types.chat')\n"
        "assert 'Batch' in dir(t) and not deferred('openai.types')  # dir() ran the real init\n"
        "ns = {}\n"
        "exec('from openai.types.responses import *', ns)\n"
        "assert 'Response' in ns and not deferred('openai.types.responses')\n"
        "import pytest\n"
        "with pytest.raises(AttributeError):\n"
        "    t.NoSuchName\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_an_sdk_imported_the_ordinary_way_is_left_alone() -> None:
    code = (
        "import openai\n"
        "from muxi_cli.llm.sdk_import import deferred, lazy_sdk_types\n"
        "assert not lazy_sdk_types()\n"
        "assert not deferred('openai.types')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_sdk_import_goes_through_the_finder() -> None:
    """An SDK imported elsewhere before ``lazy_sdk_types()`` would pay the whole tree."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "muxi_cli"
    offenders = []
    for path in root.rglob("*.py"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if text.startswith(
                ("import openai", "from openai", "import anthropic", "from anthropic")
            ):
                before = "".join(lines[max(0, number - 4) : number - 1])
                if "TYPE_CHECKING" in before:
                    continue  # for the type checker only
                if "lazy_sdk_types()" not in before:
                    offenders.append(f"{path.relative_to(root)}:{number}")
    assert offenders == []
