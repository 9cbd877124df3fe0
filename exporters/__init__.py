"""Exporters: the Prometheus face (metrics, rules, dashboard) and the monthly reports.

They read computed results; they never compute availability themselves.
"""
