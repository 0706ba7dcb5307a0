"""Fixtures of the runtime tests: a LocalRuntime served on a Unix socket (tests/server)."""

from tests.server.udsfixtures import sock_dir, uds_served  # noqa: F401  (fixtures)
