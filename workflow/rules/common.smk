# Helpers shared by all rule files. Paths follow the contracts in DESIGN.md §1.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from msaflow.codehash import code_hash  # noqa: E402

WORK = config["work_dir"]
MSAFLOW = config.get("msaflow_command", "msaflow")

wildcard_constraints:
    ds=r"[A-Za-z0-9_-]+",
    shard=r"s\d{3}",
    fset=r"[A-Za-z0-9_]+",
    model=r"[a-z0-9]+",
    seed=r"\d+",
    encoder=r"[A-Za-z0-9_.-]+",


def dataset_config(ds):
    try:
        return config["datasets"][ds]
    except KeyError:
        raise ValueError(
            f"dataset {ds!r} is not in config.yaml 'datasets' (known: {', '.join(config['datasets'])})"
        )


def corpus_root(ds):
    return dataset_config(ds)["root"]


def shard_names(ds):
    return [f"s{i:03d}" for i in range(int(dataset_config(ds)["shards"]))]


def default_targets():
    return config.get("default_targets", [])
