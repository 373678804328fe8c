"""Run MMSA's own code on an msaflow MMSA export. Runs INSIDE the MMSA peer venv (scripts/peer-venvs.sh),
never in the main environment; it imports nothing from msaflow. Offline, CPU, one thread.

  python mmsa_check.py load  PKL OUT.json              MMDataLoader for every regression config
  python mmsa_check.py train PKL MODEL OUT.json [--bert DIR]   one epoch of MODEL, then its test metrics

`load`: for every model of the installed MMSA's `config_regression.json`, the config MMSA itself
builds (`get_config_regression`, dataset mosi; the multi-task models mtfn, mlmf and mlf_dnn have
configs for SIMS only, whose loader also reads `regression_labels_T/A/V`) with our pickle as
`custom_feature`, then `MMDataLoader` and one batch of every split. MMSA 2.2.1 (PyPI) has 17 regression models; thuiar/MMSA
master adds tetfn, cenet and almt, which are not installable from PyPI. MMDataLoader's code is the
same in both for mosi/mosei and reads only the flags below from a model's config, so those three
are loaded with their master flags on top of the config of a 2.2.1 model (the flags were read from
master's config_regression.json, commonParams).

`train`: MMSA's `_run` without its CUDA calls (`MMSA_run` calls torch.cuda.set_device): config ->
MMDataLoader -> AMIO -> ATIO trainer `do_train` with `early_stop: 0` (the trainers stop when
`epochs - best_epoch >= early_stop`, so after exactly one epoch) -> best checkpoint -> `do_test`.
Models with `use_bert` get `pretrained: DIR` (a local BERT-type checkpoint: MMSA would otherwise
download bert-base-uncased) and, where the config sizes a layer by BERT's width (`text_out` in
self_mm), that width read from DIR/config.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

# model -> (2.2.1 model whose config is the base, loader-relevant flags of thuiar/MMSA master)
MASTER_ONLY = {
    "tetfn": ("bert_mag", {"need_data_aligned": True, "need_model_aligned": True, "need_normalized": False,
                           "use_bert": True, "use_finetune": True}),
    "cenet": ("self_mm", {"need_data_aligned": False, "need_model_aligned": False, "need_normalized": False,
                          "use_bert": True, "use_finetune": True}),
    "almt": ("self_mm", {"need_data_aligned": False, "need_model_aligned": False, "need_normalized": False,
                         "use_bert": True, "use_finetune": True}),
}
DATASETS = ("mosi", "sims")  # the first one the model has a config for


def _config(model: str, pkl: str):
    import torch
    from MMSA.config import get_config_all, get_config_regression

    configs = get_config_all("regression")
    if model in configs:
        dataset = next(d for d in DATASETS if d in configs[model]["datasetParams"])
        args = get_config_regression(model, dataset)
    else:
        base, flags = MASTER_ONLY[model]
        args = get_config_regression(base, DATASETS[0])
        args.update(flags)
        args["model_name"] = model
    args.update(custom_feature=pkl, feature_T="", feature_A="", feature_V="", device=torch.device("cpu"),
                train_mode="regression", cur_seed=1)
    return args


def models() -> list[str]:
    from MMSA.config import get_config_all

    installed = [m for m in get_config_all("regression") if m != "datasetCommonParams"]
    return installed + [m for m in MASTER_ONLY if m not in installed]


def load(pkl: str) -> dict:
    from MMSA.data_loader import MMDataLoader

    out = {}
    for model in models():
        try:
            args = _config(model, pkl)
            loaders = MMDataLoader(args, 0)
            batches = {split: next(iter(loader)) for split, loader in loaders.items()}
            batch = batches["train"]
            out[model] = {
                "ok": True, "dataset": args["dataset_name"], "source": "MMSA 2.2.1" if model not in MASTER_ONLY else f"master flags on {MASTER_ONLY[model][0]}",
                "samples": {split: len(loader.dataset) for split, loader in loaders.items()},
                "text": list(batch["text"].shape), "audio": list(batch["audio"].shape),
                "vision": list(batch["vision"].shape), "feature_dims": list(args["feature_dims"]),
                "lengths": "audio_lengths" in batch, "labels": sorted(batch["labels"]),
            }
        except Exception as error:  # report every config, do not stop at the first
            out[model] = {"ok": False, "error": f"{type(error).__name__}: {error}",
                          "trace": traceback.format_exc(limit=-3)}
    return out


def _torch_compatibility() -> list[str]:
    """Shims for MMSA 2.2.1 on today's torch (the peer venv has the project's torch pin), named in the result.

    MMSA 2.2.1's MulT trainer builds `ReduceLROnPlateau(..., verbose=True)`; torch removed that
    argument (it only printed learning-rate changes). Installed before MMSA's trainers are imported.
    """
    import inspect

    import torch.optim.lr_scheduler as schedulers

    shims = []
    if "verbose" not in inspect.signature(schedulers.ReduceLROnPlateau.__init__).parameters:
        class ReduceLROnPlateau(schedulers.ReduceLROnPlateau):
            def __init__(self, *args, verbose=None, **kwargs):
                super().__init__(*args, **kwargs)

        schedulers.ReduceLROnPlateau = ReduceLROnPlateau
        shims.append("ReduceLROnPlateau(verbose=...) dropped")
    return shims


def train(pkl: str, model_name: str, bert_dir: str | None, workdir: Path) -> dict:
    import torch

    shims = _torch_compatibility()
    from MMSA.data_loader import MMDataLoader
    from MMSA.models import AMIO
    from MMSA.trains import ATIO
    from MMSA.utils import setup_seed

    torch.set_num_threads(1)
    args = _config(model_name, pkl)
    args["model_save_path"] = workdir / f"{model_name}-{args['dataset_name']}.pth"
    args["early_stop"] = 0
    if args.get("use_bert"):
        if not bert_dir:
            raise SystemExit(f"{model_name} uses BERT: give --bert DIR (a local BERT-type checkpoint)")
        args["pretrained"] = bert_dir
        if "text_out" in args:
            args["text_out"] = json.loads((Path(bert_dir) / "config.json").read_text())["hidden_size"]
    setup_seed(1111)
    loaders = MMDataLoader(args, 0)
    args["train_samples"] = len(loaders["train"].dataset)
    model = AMIO(args).to(args["device"])
    trainer = ATIO().getTrain(args)
    start = time.time()
    trainer.do_train(model, loaders)
    seconds = time.time() - start
    model.load_state_dict(torch.load(args["model_save_path"]))
    results = trainer.do_test(model, loaders["test"], mode="TEST")
    return {"model": model_name, "dataset": args["dataset_name"], "train_seconds": round(seconds, 2), "shims": shims,
            "samples": {split: len(loader.dataset) for split, loader in loaders.items()},
            "test": {k: float(v) for k, v in results.items()}}


def main(argv: list[str]) -> int:
    command, pkl = argv[0], argv[1]
    if command == "load":
        result = load(pkl)
        out = Path(argv[2])
    elif command == "train":
        out = Path(argv[3])
        bert = argv[argv.index("--bert") + 1] if "--bert" in argv else None
        result = train(pkl, argv[2], bert, out.parent)
    else:
        raise SystemExit(__doc__)
    out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
