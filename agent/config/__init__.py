"""The katalog file: pydantic models, the strict YAML loader, effective per-service settings,
the JSON schema and the exporter-toolkit web config. Imports only :mod:`agent.core`."""
