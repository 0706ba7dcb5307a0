"""One module per built-in provider, each defining ``SPEC = ProviderSpec(...)``.

The table (:mod:`muxi_cli.providers.table`) finds every module here: adding a
provider is adding a module (and its tests).
"""
