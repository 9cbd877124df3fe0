"""Disaster-recovery side of pantau (SPEC §4 RPO/RTO/drills).

- :mod:`drp.registry` — which source serves each backup ``type``, for polling and drills.
- :mod:`drp.sources` — :class:`~drp.sources.BackupSource` and the other protocols, the shared
  subprocess runner; :mod:`drp.files`, :mod:`drp.restic`, :mod:`drp.borg` — the pollable
  sources (:mod:`drp.repository`: what restic and borg share).
- :mod:`drp.push` — backups reported by scripts (HTTP push, ``pantau backup mark``).
- :mod:`agent.engine.rpo` — pure math: merging observations, backup age, RPO compliance, RTO, drill age.
- :mod:`drp.drills` — restore drills (automated or recorded by hand).

This package computes and returns data; storing and exporting it is the agent's job.
"""
