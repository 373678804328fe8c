"""Models: one module per model (with its paper reference), shared pieces in `blocks.py`.

`build_model(name, model_config, meta)` returns an `MsaModel` (see `base.py`); the registry maps
an architecture name (config `models.<name>.arch`) to its class.
"""

from msaflow.models.registry import ARCHITECTURES, build_model, model_settings

__all__ = ["ARCHITECTURES", "build_model", "model_settings"]
