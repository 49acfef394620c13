"""The `aha` command line (Typer + Rich)."""
