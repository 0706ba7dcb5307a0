"""The Typer command line. Modules here import heavy libraries only inside commands."""
