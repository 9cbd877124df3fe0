"""``python -m agent`` runs the ``pantau`` command line."""

from agent.cli.main import run_cli

run_cli()
