"""The command line: the typer app and one module per command family; parses and renders, nothing else."""
