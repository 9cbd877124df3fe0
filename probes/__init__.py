"""Probes: one module per check type behind the :class:`probes.base.Probe` protocol, found by
the check's ``type`` in :data:`probes.registry.PROBES`."""
