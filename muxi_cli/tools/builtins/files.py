"""``read_file`` and ``list_dir``: read-only access confined to ``files.roots``.

Paths are resolved (symlinks followed) before the check, so neither ``..``
nor a symlink can lead outside the configured roots. Relative paths are taken
from the first root; absolute paths must lie inside one of them. muxi's own
configuration, keys and data and dotenv files are never served, inside the
roots or not (:mod:`muxi_cli.tools.builtins.protected`).

Turns that ``muxi serve`` runs for a user key follow ``files.user_keys``:
``off`` (the default: refused), ``per_user`` (each root's ``users/<user id>``
folder) or ``shared``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from muxi_cli.threads import run_abandonable
from muxi_cli.tools.base import ToolOutcome
from muxi_cli.tools.builtins import BuiltinContext
from muxi_cli.tools.builtins.protected import Protected, protected

READ_DESCRIPTION = (
    "Read a text file from the allowed folders. Paths are relative to the first allowed "
    "folder. Large files are cut at the configured size limit."
)
READ_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "File path, e.g. 'notes/todo.md'"},
        "offset": {
            "type": "integer",
            "minimum": 0,
            "description": "Byte offset to start at (default 0)",
        },
    },
    "required": ["path"],
}
LIST_DESCRIPTION = (
    "List the entries of a folder inside the allowed folders (name, type, size). "
    "Paths are relative to the first allowed folder; '.' is that folder."
)
LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"path": {"type": "string", "description": "Folder path; default '.'"}},
}
MAX_ENTRIES = 1000


class AccessDenied(ValueError):
    pass


def roots(ctx: BuiltinContext) -> list[Path]:
    """The roots this call may use, resolved against the formation folder.

    Raises :class:`AccessDenied` when a ``muxi serve`` user key may not use
    the file tools at all (``files.user_keys: off``).
    """
    mode = ctx.formation.files.user_keys
    remote = ctx.caller is not None and ctx.caller.remote_user
    if remote and mode == "off":
        raise AccessDenied(
            "the file tools are off for users of this server "
            "(the server's muxi.yaml can set files.user_keys: per_user or shared)"
        )
    out = []
    for root in ctx.formation.files.roots or ["."]:
        path = Path(os.path.expanduser(root))
        if not path.is_absolute():
            path = ctx.base_dir / path
        if remote and mode == "per_user":
            assert ctx.caller is not None
            path = path / "users" / ctx.caller.user_id
        out.append(path.resolve())
    return out


def confine(raw: str, allowed: list[Path], guard: Protected | None = None) -> Path:
    """Resolve ``raw`` and make sure it lies inside one of ``allowed`` and is
    not one of muxi's own or secret files."""
    if not raw or "\x00" in raw:
        raise AccessDenied("a path is required")
    candidate = Path(os.path.expanduser(raw))
    if not candidate.is_absolute():
        candidate = allowed[0] / candidate
    resolved = candidate.resolve()
    for root in allowed:
        if resolved == root or resolved.is_relative_to(root):
            break
    else:
        shown = ", ".join(str(r) for r in allowed)
        raise AccessDenied(f"{raw!r} is outside the allowed folders ({shown})")
    if guard is not None:
        # The path as asked (``..`` folded, symlinks not followed) and as resolved.
        reason = guard.reason(Path(os.path.normpath(candidate)), resolved)
        if reason is not None:
            raise AccessDenied(f"{raw!r} is not served: {reason}")
    return resolved


def _read(path: Path, offset: int, limit: int) -> ToolOutcome:
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        return ToolOutcome(ok=False, content=f"{path} is a folder; use list_dir")
    if not stat.S_ISREG(info.st_mode):
        return ToolOutcome(ok=False, content=f"{path} is not a regular file")
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read(limit + 1)
    truncated = len(data) > limit
    data = data[:limit]
    if b"\x00" in data[:8192]:
        return ToolOutcome(
            ok=False, content=f"{path} looks like a binary file ({info.st_size} bytes)"
        )
    text = data.decode("utf-8", errors="replace")
    if truncated:
        end = offset + len(data)
        text += (
            f"\n[truncated: the file has {info.st_size} bytes; shown {offset}-{end}. "
            f"Call again with offset={end} for more.]"
        )
    return ToolOutcome(
        ok=True,
        content=text,
        structured={"path": str(path), "size": info.st_size, "truncated": truncated},
    )


async def read_file(arguments: dict[str, Any], ctx: BuiltinContext) -> ToolOutcome:
    raw = arguments.get("path")
    offset = arguments.get("offset", 0) or 0
    if not isinstance(raw, str):
        return ToolOutcome(ok=False, content="read_file needs a 'path' string")
    if not isinstance(offset, int) or offset < 0:
        return ToolOutcome(ok=False, content="'offset' must be a non-negative integer")
    try:
        path = confine(raw, roots(ctx), protected(ctx))
        return await run_abandonable(
            "read_file", _read, path, offset, ctx.formation.files.max_bytes
        )
    except AccessDenied as exc:
        return ToolOutcome(ok=False, content=f"access denied: {exc}")
    except FileNotFoundError:
        return ToolOutcome(ok=False, content=f"no such file: {raw}")
    except OSError as exc:
        return ToolOutcome(ok=False, content=f"cannot read {raw}: {exc.strerror or exc}")


def _list(path: Path, guard: Protected) -> ToolOutcome:
    if not path.is_dir():
        return ToolOutcome(ok=False, content=f"{path} is not a folder")
    entries = []
    for child in sorted(path.iterdir(), key=lambda p: p.name.lower()):
        try:
            info = child.lstat()
            hidden = guard.reason(child, child.resolve()) is not None
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            continue
        if hidden:  # muxi's own and secret files are not even named
            continue
        if stat.S_ISLNK(info.st_mode):
            kind = "link"
        elif stat.S_ISDIR(info.st_mode):
            kind = "dir"
        else:
            kind = "file"
        entries.append(
            {"name": child.name, "type": kind, "size": info.st_size if kind == "file" else None}
        )
        if len(entries) >= MAX_ENTRIES:
            break
    lines = [
        f"{e['name']}/"
        if e["type"] == "dir"
        else (f"{e['name']} ({e['size']} bytes)" if e["type"] == "file" else f"{e['name']} (link)")
        for e in entries
    ]
    if len(entries) >= MAX_ENTRIES:
        lines.append(f"[only the first {MAX_ENTRIES} entries are shown]")
    text = "\n".join(lines) if lines else "(empty folder)"
    return ToolOutcome(ok=True, content=text, structured={"path": str(path), "entries": entries})


async def list_dir(arguments: dict[str, Any], ctx: BuiltinContext) -> ToolOutcome:
    raw = arguments.get("path") or "."
    if not isinstance(raw, str):
        return ToolOutcome(ok=False, content="'path' must be a string")
    try:
        guard = protected(ctx)
        path = confine(raw, roots(ctx), guard)
        return await run_abandonable("list_files", _list, path, guard)
    except AccessDenied as exc:
        return ToolOutcome(ok=False, content=f"access denied: {exc}")
    except FileNotFoundError:
        return ToolOutcome(ok=False, content=f"no such folder: {raw}")
    except OSError as exc:
        return ToolOutcome(ok=False, content=f"cannot list {raw}: {exc.strerror or exc}")


TOOLS = {
    "read_file": (READ_DESCRIPTION, READ_SCHEMA, read_file),
    "list_dir": (LIST_DESCRIPTION, LIST_SCHEMA, list_dir),
}
