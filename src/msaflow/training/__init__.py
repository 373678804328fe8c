"""One trainer for all models (parameter groups and losses come from the model).

Attributes are loaded lazily so that the Snakefile can import `msaflow.training.workflow_config`
without importing torch.
"""

__all__ = ["TrainConfig", "Trainer", "choose_device", "seed_everything"]


def __getattr__(name):
    if name in __all__:
        from msaflow.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'msaflow.training' has no attribute {name!r}")
