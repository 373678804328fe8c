"""Metrics (DESIGN §4), statistics over seeds, the result file."""
