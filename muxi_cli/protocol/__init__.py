"""The ground floor: the words every layer shares (docs/architecture.md).

Value records, the message model and the event types. This package imports
nothing else of muxi; every other package may import it.
"""
