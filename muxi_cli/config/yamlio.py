"""Reading YAML files with errors that name the file, the line and the column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from muxi_cli.errors import ConfigError


def _loader_class() -> type:
    import yaml  # deferred: PyYAML is slow to import

    class StrictLoader(yaml.SafeLoader):
        """A safe loader for formation files.

        - A key repeated in one mapping is an error (PyYAML keeps the last one).
        - Scalar keys stay the text that was written: ``off:``, ``yes:`` or
          ``1:`` name a server or an agent, they are not booleans or numbers.
        """

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            if not isinstance(node, yaml.MappingNode):
                return dict(super().construct_mapping(node, deep=deep))
            self.flatten_mapping(node)
            mapping: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key: Any = key_node.value
                else:
                    key = self.construct_object(key_node, deep=deep)
                    try:
                        hash(key)
                    except TypeError:
                        raise yaml.constructor.ConstructorError(
                            None, None, "a key must be a plain value", key_node.start_mark
                        ) from None
                if key in mapping:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"the key {key!r} appears twice in the same mapping",
                        key_node.start_mark,
                    )
                mapping[key] = self.construct_object(value_node, deep=deep)
            return mapping

    return StrictLoader


def parse_yaml(text: str, source: Path | str) -> Any:
    """Parse ``text``; syntax errors become :class:`ConfigError` with file:line:col."""
    import yaml  # deferred: PyYAML is slow to import

    try:
        return yaml.load(text, Loader=_loader_class())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else str(source)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and exc.context not in problem:
            problem = f"{problem} ({exc.context})"
        hint = (
            "Keep one of the repeated keys."
            if "appears twice" in problem
            else "Fix the YAML syntax at that line (indentation, quotes, a missing ':')."
        )
        raise ConfigError(f"{where}: invalid YAML: {problem}", hint=hint) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}", hint="Fix the YAML syntax.") from None


def read_yaml(path: Path) -> Any:
    """Read and parse one YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found",
            hint="Check the path, or run `muxi init` to write a starter muxi.yaml.",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: is a directory, not a YAML file",
            hint="Point --config at the muxi.yaml file (or a folder that contains one).",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: not a UTF-8 text file", hint="Save the file as UTF-8."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read ({exc.strerror})",
            hint="Check the file's permissions.",
        ) from None
    return parse_yaml(text, path)
