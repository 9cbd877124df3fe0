"""Probes: one module per check type behind the :class:`probes.base.Probe` protocol."""
