"""Run MAG-BERT's own data preparation on an msaflow MAG export. Runs INSIDE the MMSA peer venv
(transformers 4.x, torch, numpy, scikit-learn, scipy), with a checkout of
WasifurRahman/BERT_multimodal_transformer (not on PyPI) on sys.path; imports nothing from msaflow.

  python mag_check.py MAG_DIR PKL ACOUSTIC_DIM VISUAL_DIM BERT_DIR OUT.json

What runs is theirs: `multimodal_driver.get_appropriate_dataset` (-> `convert_to_features` ->
`prepare_bert_input`) on every split of the pickle, with `--max_seq_length 50 --model
bert-base-uncased`. Around it, only what data preparation does not use is replaced:
- `wandb` (logging) and their `bert` / `xlnet` model modules are stubbed: those import
  transformers 3.0 module paths (`transformers.modeling_bert`) that transformers 4 moved;
- `global_configs.ACOUSTIC_DIM` / `VISUAL_DIM` are set before the driver is imported, as their
  README tells a user to edit `global_configs.py` for a custom dataset (defaults: MOSI's 74 / 47);
- `get_tokenizer("bert-base-uncased")` returns the BertTokenizer of BERT_DIR (the same uncased
  vocabulary; no download).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main(argv: list[str]) -> int:
    mag_dir, pkl, acoustic_dim, visual_dim, bert_dir, out = argv
    sys.path.insert(0, mag_dir)
    sys.modules["wandb"] = types.ModuleType("wandb")
    for name, cls in (("bert", "MAG_BertForSequenceClassification"), ("xlnet", "MAG_XLNetForSequenceClassification")):
        stub = types.ModuleType(name)
        setattr(stub, cls, None)
        sys.modules[name] = stub
    import global_configs

    global_configs.ACOUSTIC_DIM = int(acoustic_dim)
    global_configs.VISUAL_DIM = int(visual_dim)
    sys.argv = ["multimodal_driver.py", "--dataset", "mosi", "--max_seq_length", "50", "--model", "bert-base-uncased"]
    import multimodal_driver as driver
    from transformers import BertTokenizer

    driver.get_tokenizer = lambda model: BertTokenizer.from_pretrained(bert_dir)
    with open(pkl, "rb") as handle:
        data = pickle.load(handle)
    result = {"ACOUSTIC_DIM": driver.ACOUSTIC_DIM, "VISUAL_DIM": driver.VISUAL_DIM, "splits": {}}
    for split in ("train", "dev", "test"):
        try:
            tensors = driver.get_appropriate_dataset(data[split]).tensors
            names = ("input_ids", "visual", "acoustic", "input_mask", "segment_ids", "label_ids")
            result["splits"][split] = {"ok": True, **{n: list(t.shape) for n, t in zip(names, tensors)}}
        except Exception as error:
            result["splits"][split] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    Path(out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
