"""muxi's Textual chat app.

The app talks to agents only through a :class:`muxi_cli.runtime.base.Runtime`,
so the same screens drive a local runtime or a remote ``muxi serve``.
Importing this package is cheap; Textual is imported by :mod:`muxi_cli.tui.app`.
"""
