"""The SQLite store: database, schema and migrations, records, the writer thread and its queue,
and one module per table family (hosts, incidents, drp). Imports only :mod:`agent.core`."""
