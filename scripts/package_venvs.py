"""Fresh venvs per installation option, their measured size, the docs table.

Part of scripts/package-check (see scripts/package_check.py). Each option is
installed from the built wheel into a venv of its own, the way a user would
(``pip install 'muxi_cli-X.whl[server]'``, bytecode compiled as pip does by
default), and measured from what pip says it installed: the files listed in
every distribution's RECORD, pip and setuptools left out (they come with every
venv, not with muxi).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: The installation options, in the order they are checked: (name, extra).
OPTIONS: tuple[tuple[str, str | None], ...] = (
    ("base", None),
    ("local", "local"),
    ("memory", "memory"),
    ("server", "server"),
    ("postgres", "postgres"),
    ("web", "web"),
    ("media", "media"),
    ("telemetry", "telemetry"),
    ("all", "all"),
)

#: The issue's target for the remote client (the base install), in MB (10**6 bytes)
#: of package files. With the bytecode pip compiles on install it is larger
#: (docs/packaging.md says by how much and why).
BASE_LIMIT_MB = 60.0

#: Distributions every venv brings by itself: not muxi's weight.
_VENV_OWN = {"pip", "setuptools"}

START = "<!-- package-sizes:start (written by scripts/package-check) -->"
END = "<!-- package-sizes:end -->"


@dataclass
class Measure:
    """What one option installs."""

    size: int  # bytes, files listed in the RECORDs
    bytecode: int  # bytes of that in .pyc files (pip compiles on install)
    packages: int  # distributions, muxi-cli included
    largest: list[tuple[str, int]]

    @property
    def mb(self) -> float:
        return self.size / 1e6

    @property
    def files_mb(self) -> float:
        """The package files alone, without the bytecode caches pip writes."""
        return (self.size - self.bytecode) / 1e6


@dataclass
class Venv:
    option: str
    extra: str | None
    path: Path
    install_seconds: float = 0.0

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def site_packages(self) -> Path:
        found = sorted((self.path / "lib").glob("python3*/site-packages"))
        if not found:
            raise RuntimeError(f"no site-packages in {self.path}")
        return found[0]


def spec(wheel: Path, extra: str | None) -> str:
    return str(wheel) if extra is None else f"{wheel}[{extra}]"


def create(option: str, extra: str | None, wheel: Path, root: Path, reuse: bool = False) -> Venv:
    """``python -m venv`` + ``pip install WHEEL[extra]``; raises with pip's output on failure.
    ``reuse``: keep a venv left by an earlier run (``--work DIR --reuse``, to iterate on smokes)."""
    venv = Venv(option, extra, root / f"venv-{option}")
    if reuse and venv.python.exists():
        return venv
    started = time.monotonic()
    # The dev venv's interpreter makes the venv from its base Python: the same
    # version the suite runs on. No --upgrade of pip: the bundled one installs
    # wheels fine and upgrading it would cost a download per option.
    subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True, timeout=120)
    done = subprocess.run(
        [str(venv.python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         spec(wheel, extra)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    venv.install_seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"pip install {spec(wheel, extra)} failed:\n{tail(done.stderr)}")
    return venv


def installed_from_wheel(venv: Venv, cwd: Path) -> str | None:
    """``None`` when ``import muxi_cli`` in the venv finds the installed copy, not a checkout."""
    done = subprocess.run(
        [str(venv.python), "-c", "import muxi_cli; print(muxi_cli.__file__)"],
        capture_output=True, text=True, cwd=cwd, env=clean_python_env(), timeout=60,
    )  # fmt: skip
    where = done.stdout.strip()
    if done.returncode != 0 or not where.startswith(str(venv.site_packages())):
        return f"muxi_cli imported from {where or '?'}: {tail(done.stderr)}"
    return None


def measure(venv: Venv) -> Measure:
    """Sum the files each distribution's RECORD lists (each file once)."""
    site = venv.site_packages()
    seen: set[str] = set()
    per: dict[str, int] = {}
    bytecode = 0
    for record in sorted(site.glob("*.dist-info/RECORD")):
        name = record.parent.name.split("-", 1)[0].lower().replace("_", "-")
        if name in _VENV_OWN:
            continue
        total = 0
        with open(record, newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if not row:
                    continue
                path = os.path.normpath(os.path.join(site, row[0]))
                if path in seen:
                    continue
                seen.add(path)
                try:
                    size = os.lstat(path).st_size
                except OSError:  # listed but not there (RECORD itself is listed)
                    continue
                total += size
                if path.endswith(".pyc"):
                    bytecode += size
        per[name] = total
    largest = sorted(per.items(), key=lambda item: -item[1])[:5]
    return Measure(sum(per.values()), bytecode, len(per), largest)


def clean_python_env() -> dict[str, str]:
    """This environment without what would make a venv's Python import the checkout."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def table_markdown(rows: list[tuple[str, str | None, Measure]], machine: str) -> str:
    """The docs table: one line per option."""
    out = [
        START,
        "",
        "| option | install | package files | on disk, with bytecode | packages | largest (MB) |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for option, extra, m in rows:
        command = "pip install muxi-cli" if extra is None else f"pip install 'muxi-cli[{extra}]'"
        big = ", ".join(f"{name} {size / 1e6:.0f}" for name, size in m.largest[:3])
        out.append(
            f"| {option} | `{command}` | {m.files_mb:.1f} MB | {m.mb:.1f} MB "
            f"| {m.packages} | {big} |"
        )
    out += [
        "",
        f"Measured by `scripts/package-check` on {machine}: the files",
        "listed in each installed distribution's RECORD, pip and setuptools left",
        'out; "package files" leaves out the bytecode (`.pyc`) pip compiles on',
        'install, "on disk" counts it. MB = 10^6 bytes; packages counts',
        "distributions, muxi-cli included. Target for the remote client (base):",
        f"at most {BASE_LIMIT_MB:.0f} MB of package files.",
        "",
        END,
    ]
    return "\n".join(out)


def write_table(doc: Path, table: str) -> bool:
    """Replace the text between the markers in ``doc``; ``True`` if the file changed."""
    text = doc.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise RuntimeError(f"{doc} has no {START!r} ... {END!r} markers")
    new = pattern.sub(lambda _m: table, text)
    if new == text:
        return False
    doc.write_text(new, encoding="utf-8")
    return True
