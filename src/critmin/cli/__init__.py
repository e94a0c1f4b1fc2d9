"""critmin's command-line interface (Typer + Rich): thin wrappers over the public API."""
