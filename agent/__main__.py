"""``python -m agent`` runs the ``pantau`` command line."""

from agent.cli import run_cli

run_cli()
