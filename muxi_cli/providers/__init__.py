"""The provider table: one record per model provider (docs/architecture.md).

:mod:`~muxi_cli.providers.spec` is the record, :mod:`~muxi_cli.providers.table`
the table, :mod:`~muxi_cli.providers.builtin` one module per built-in provider,
:mod:`~muxi_cli.providers.keys` where a provider's key and address come from and
:mod:`~muxi_cli.providers.local` the one probe of local model servers. No SDK is
imported here; the code that drives the SDKs lives in :mod:`muxi_cli.llm`. The
package sits below ``config`` so configuration can read the table.
"""
