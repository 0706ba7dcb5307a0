"""Persistent stores: sessions and messages (SQLite), long-term memory (LanceDB)."""
