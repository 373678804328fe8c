"""msaflow: cached, reproducible multimodal sentiment analysis pipeline."""

__version__ = "0.1.0"
