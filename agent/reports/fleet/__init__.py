"""The Formulir for a whole fleet, read from Prometheus or VictoriaMetrics (SPEC §9)."""
