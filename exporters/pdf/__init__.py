"""The monthly Formulir as PDF (reportlab): document, recap, per-service pages, charts, tables."""
