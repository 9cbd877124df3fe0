"""What pantau tells people: status, the katalog summary, the month from the local store, the
monthly job, and the month from Prometheus/VictoriaMetrics (:mod:`agent.reports.fleet`); what
the two report sources share is :mod:`agent.reports.formulir`."""
