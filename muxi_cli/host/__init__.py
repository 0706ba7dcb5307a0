"""The warm local host: a background process that holds a formation's LocalRuntime
and serves it over a Unix socket to later commands of the same user (docs/host.md).

Light modules (``paths``, ``key``, ``meta``, ``spawn``, ``client``) import only the
standard library, ``muxi_cli.paths``/``errors``/``__init__`` and PyYAML, so a command
that finds a host pays for none of the engine; ``daemon`` and ``connect`` load the
server and the remote runtime.
"""
