"""pantau agent core: configuration, CLI, scheduler, store, state and availability engine."""

__version__ = "0.1.0"
