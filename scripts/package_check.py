"""scripts/package-check: build muxi's sdist and wheel and check every installation option.

1. Builds the sdist and the wheel (``python -m build``: the wheel is built from
   the sdist, which proves the sdist holds what a build needs), then again, and
   requires both builds to be byte-identical (``SOURCE_DATE_EPOCH`` = the last
   commit's time); ``twine check --strict``; the wheel's version is
   ``muxi_cli.__version__``; the sdist and the wheel hold the files they need.
2. Installs the wheel into a fresh venv per option (base = the remote client,
   local, memory, server, web, media, telemetry, all), measures what each installs and
   fails when the remote client exceeds its 60 MB target
   (scripts/package_venvs.py); writes the table into docs/packaging.md.
3. Smoke-tests each option on 127.0.0.1 against the fake model
   (scripts/package_smoke.py).

Options run one after another (CI machines have 2 cores). Exit 0 when all
passed, 1 otherwise, with each failure's command and output tail on stderr.
Run it with the dev venv's Python from the checkout (the bash wrapper does):
it imports the suite's fake model and server helpers from tests/.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from email.parser import HeaderParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(ROOT))  # tests.fakellm, tests.server.serveproc (after scripts/)

import package_smoke  # noqa: E402
import package_venvs  # noqa: E402

#: SOURCE_DATE_EPOCH outside a git checkout (an unpacked sdist): any fixed time will do.
FIXED_EPOCH = "1767225600"  # 2026-01-01T00:00:00Z
SDIST_NEEDS = ("pyproject.toml", "README.md", "LICENSE", "muxi_cli/__init__.py",
               "muxi_cli/parts.py", "templates", "PKG-INFO")  # fmt: skip
WHEEL_NEEDS = ("muxi_cli/__init__.py", "muxi_cli/_templates", "entry_points.txt", "METADATA")


def source_version() -> str:
    """``__version__`` as written in muxi_cli/__init__.py (read, not imported: the dev
    venv's ``muxi_cli`` may be another checkout's editable install)."""
    tree = ast.parse((ROOT / "muxi_cli" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise RuntimeError("muxi_cli/__init__.py has no __version__")


def source_date_epoch() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%ct"],
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else FIXED_EPOCH


def build(outdir: Path, epoch: str) -> tuple[Path, Path]:
    """``python -m build``: the sdist, then the wheel built from it.

    ``--no-isolation`` uses the dev venv's hatchling (a dev dependency) instead of
    fetching one per build: faster, and both builds use the same backend."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": epoch}
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir), str(ROOT)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise Failure(f"python -m build failed:\n{package_venvs.tail(done.stdout + done.stderr)}")
    [sdist] = outdir.glob("*.tar.gz")
    [wheel] = outdir.glob("*.whl")
    return sdist, wheel


class Failure(Exception):
    """A check failed; the message says which and why."""


def check_artifacts(sdist: Path, wheel: Path, again: tuple[Path, Path], version: str) -> None:
    for first, second in zip((sdist, wheel), again, strict=True):
        if first.name != second.name or first.read_bytes() != second.read_bytes():
            raise Failure(f"not reproducible: {first.name} differs between two builds")
    twine = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(sdist),
                            str(wheel)], capture_output=True, text=True, timeout=300)  # fmt: skip
    if twine.returncode != 0:
        raise Failure(f"twine check --strict:\n{package_venvs.tail(twine.stdout + twine.stderr)}")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
        wheel_version = HeaderParser().parsestr(zf.read(meta).decode())["Version"]
    if wheel_version != version:
        raise Failure(f"wheel METADATA version {wheel_version} != muxi_cli.__version__ {version}")
    _require_members("wheel", names, WHEEL_NEEDS)
    with tarfile.open(sdist) as tf:
        top = f"{sdist.name.removesuffix('.tar.gz')}/"
        members = [m.name.removeprefix(top) for m in tf.getmembers()]
        info = tf.extractfile(top + "PKG-INFO")
        sdist_version = HeaderParser().parsestr(info.read().decode())["Version"] if info else None
    if sdist_version != version:
        raise Failure(f"sdist PKG-INFO version {sdist_version} != {version}")
    _require_members("sdist", members, SDIST_NEEDS)


def _require_members(what: str, names: list[str], needed: tuple[str, ...]) -> None:
    missing = [n for n in needed if not any(m == n or m.startswith(n + "/") or
                                            m.endswith("/" + n) for m in names)]  # fmt: skip
    if missing:
        raise Failure(f"the {what} lacks {', '.join(missing)}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Build muxi and check every installation option.")
    parser.add_argument("--only", help="comma-separated options (default: all; no docs table)")
    parser.add_argument("--work", type=Path, help="keep venvs and homes in this folder")
    parser.add_argument("--reuse", action="store_true",
                        help="with --work: reuse the venvs found there (not for CI)")  # fmt: skip
    args = parser.parse_args()
    wanted = [o for o, _ in package_venvs.OPTIONS]
    if args.only:
        wanted = [o.strip() for o in args.only.split(",")]
        unknown = set(wanted) - {o for o, _ in package_venvs.OPTIONS}
        if unknown:
            parser.error(f"unknown option(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    work = args.work or Path(tempfile.mkdtemp(prefix="muxi-package-check-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _check(work, wanted, keep=args.work is not None, reuse=args.reuse, started=started)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


def _check(work: Path, wanted: list[str], *, keep: bool, reuse: bool, started: float) -> int:
    version = source_version()
    epoch = source_date_epoch()
    print(f"== package-check: muxi {version}, SOURCE_DATE_EPOCH={epoch}", flush=True)
    try:
        sdist, wheel = build(work / "dist-1", epoch)
        check_artifacts(sdist, wheel, build(work / "dist-2", epoch), version)
    except Failure as exc:
        print(f"package-check: {exc}", file=sys.stderr)
        return 1
    print(f"built {sdist.name} and {wheel.name}: reproducible, twine check --strict passes, "
          f"version {version}", flush=True)  # fmt: skip

    rows: list[tuple[str, str, str, str, str]] = []
    measured: list[tuple[str, str | None, package_venvs.Measure]] = []
    failures: list[str] = []
    rig = package_smoke.Rig(work / "rig")
    try:
        for option, extra in package_venvs.OPTIONS:
            if option not in wanted:
                continue
            began = time.monotonic()
            print(f"-- {option}: installing", flush=True)
            try:
                venv = package_venvs.create(option, extra, wheel, work / "venvs", reuse)
            except RuntimeError as exc:
                failures.append(f"[{option}] install: {exc}")
                rows.append((option, "-", "-", "FAIL: install", f"{time.monotonic() - began:.0f}"))
                continue
            try:
                size = package_venvs.measure(venv)
                measured.append((option, extra, size))
                stray = package_venvs.installed_from_wheel(venv, work)
                if stray:
                    failures.append(f"[{option}] {stray}")
                result, log = package_smoke.run(venv, rig, work / "smoke", version)
                failures += log
                status = result.summary() if not stray else "FAIL: not the wheel's muxi_cli"
                if option == "base" and size.files_mb > package_venvs.BASE_LIMIT_MB:
                    failures.append(f"[base] installs {size.files_mb:.1f} MB of files, over the "
                                    f"{package_venvs.BASE_LIMIT_MB:.0f} MB target")  # fmt: skip
                    status = f"FAIL: {size.files_mb:.1f} MB > {package_venvs.BASE_LIMIT_MB:.0f}; {status}"
                seconds = time.monotonic() - began
                rows.append((option, f"{size.files_mb:.1f} / {size.mb:.1f}", str(size.packages), status,
                             f"{seconds:.0f} (install {venv.install_seconds:.0f})"))  # fmt: skip
                print(f"   {option}: {size.files_mb:.1f} MB of files ({size.mb:.1f} MB with bytecode), "
                      f"{size.packages} packages, {status}",
                      flush=True)  # fmt: skip
            finally:
                if not keep:
                    shutil.rmtree(venv.path, ignore_errors=True)
    finally:
        rig.close()

    _print_table(rows)
    if [o for o, _, _ in measured] == [o for o, _ in package_venvs.OPTIONS]:
        machine = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
        table = package_venvs.table_markdown(measured, machine)
        doc = ROOT / "docs" / "packaging.md"
        if package_venvs.write_table(doc, table):
            print(f"updated the sizes table in {doc.relative_to(ROOT)}")
    for failure in failures:
        print(f"\npackage-check FAILED {failure}", file=sys.stderr)
    print(f"package-check: {len(rows)} option(s), {len(failures)} failure(s), "
          f"{time.monotonic() - started:.0f} s", flush=True)  # fmt: skip
    return 1 if failures else 0


def _print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    head = ("option", "MB files / on disk", "packages", "smoke", "seconds")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    for row in [head, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
