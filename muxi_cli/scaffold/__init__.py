"""Project scaffolding: ``muxi create mcp-server``.

- :mod:`.names` validates project names and suggests corrections.
- :mod:`.render` is the small template engine (``{{ var }}``, ``{% if %}``, ``{% for %}``).
- :mod:`.templates` finds the shipped templates and renders a whole project in memory.
- :mod:`.generate` plans and writes a project (dry run, ``--force``).
- :mod:`.register` adds the new server to a ``muxi.yaml`` without losing its comments.
- :mod:`.interactive` asks the questions (prompt_toolkit).

Nothing here imports the CLI or the TUI; heavy imports happen inside functions.
"""
