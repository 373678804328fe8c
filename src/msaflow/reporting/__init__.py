"""The HTML report of a dataset's results (`msaflow report`, results/report_{ds}.html)."""
