# Helpers shared by all rule files. Paths follow the contracts in DESIGN.md §1.
import json
import os
import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from msaflow.codehash import code_hash  # noqa: E402

WORK = config["work_dir"]

wildcard_constraints:
    ds=r"[A-Za-z0-9_-]+",
    shard=r"s\d{3}",
    fset=r"[A-Za-z0-9_]+",
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


def shard_table(wc):
    """work/{ds}/shards/{shard}.tsv through its checkpoint (see manifest.smk)."""
    return checkpoints.shard.get(ds=wc.ds, shard=wc.shard).output[0]


def default_targets():
    return config.get("default_targets", [])


# --- Dataset sources: raw media (MMSA layout) or precomputed CMU-MultimodalSDK files -------------
from snakemake.exceptions import WorkflowError  # noqa: E402

from msaflow.sdk_entry import SDK_ACOUSTIC_FSET, SDK_FILES, SDK_VISUAL_FILES, missing_sdk_message  # noqa: E402
from msaflow.sdk_entry import sdk_visual_files as _sdk_visual_files  # noqa: E402

def sdk_files(ds):
    cfg = dataset_config(ds)
    names = dict(SDK_FILES.get(cfg.get("folds", "none"), {}))
    names.update(cfg.get("sdk_files", {}))
    return names


def dataset_source(ds):
    """raw or sdk; `auto` looks at what the dataset folder holds and explains what is missing."""
    cfg = dataset_config(ds)
    source = cfg.get("source", "auto")
    if source != "auto":
        return source
    root = Path(cfg["root"])
    if (root / "label.csv").exists():
        return "raw"
    files = sdk_files(ds)
    if files and missing_sdk_message(root, files) is None:
        return "sdk"
    sdk_hint = missing_sdk_message(root, files) if files else "set datasets.<name>.sdk_files to use SDK files"
    raise WorkflowError(
        f"dataset {ds!r}: no data in {root}. Either (1) raw videos in the MMSA layout: {root}/label.csv "
        f"(columns video_id, clip_id, text, label, annotation, mode) and {root}/Raw/<video_id>/<clip_id>.mp4; "
        f"or (2) {sdk_hint}. Set datasets.{ds}.root in config.yaml (or --config) to the folder. "
        f"See README, section 'CMU-MOSI and CMU-MOSEI'."
    )


def _source_or_raw(ds):
    """A dataset whose folder holds nothing counts as raw: the manifest rule then explains what is missing."""
    try:
        return dataset_source(ds)
    except WorkflowError:
        return "raw"


def one_of(names):
    """A wildcard pattern matching exactly these names (and nothing when the list is empty)."""
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


# Which rules produce a dataset's manifest, word tables and frame features is decided per dataset
# by wildcard constraints (raw media vs CMU-MultimodalSDK files), so no two rules ever compete for
# a file, on the submitting host or inside a cluster job.
RAW_DATASETS = one_of([ds for ds in config["datasets"] if _source_or_raw(ds) == "raw"])
SDK_DATASETS = one_of([ds for ds in config["datasets"] if _source_or_raw(ds) == "sdk"])


# --- Before the DAG: how jobs call msaflow, the requested datasets, model names (issue 15) ------
from msaflow.workflow_support import msaflow_shell_prefix, requested_datasets  # noqa: E402

# `msaflow` in a rule runs this Snakefile's src/ with the Python running Snakemake (no activated
# venv or PATH needed, locally and in SLURM jobs); with --use-conda/apptainer, the env's msaflow.
shell.prefix(msaflow_shell_prefix(
    sys.executable, Path(workflow.basedir) / "src",
    own_envs=any(m.name in ("CONDA", "APPTAINER") for m in workflow.deployment_settings.deployment_method),
))

# A requested dataset without data stops here with the where-to-put-what message alone.
for _ds in requested_datasets(sys.argv[1:], WORK, config["datasets"], default_targets()):
    try:
        dataset_source(_ds)
    except WorkflowError as _error:
        sys.exit(str(_error))

# Only configured models: results/{model}_{ds}.json must not match results/dataset_{ds}.json.
wildcard_constraints:
    model=one_of(config.get("models") or {}),
# --- end of issue-15 block -------------------------------------------------------------------


def sdk_visual_files(ds):
    """{visual set: file name} of the SDK visual files (FACET, OpenFace 2) present in the dataset folder."""
    cfg = dataset_config(ds)
    return _sdk_visual_files(cfg["root"], cfg.get("folds", "none"), cfg.get("sdk_files", {}).get("visual", {}))


def raw_label_csv(wc):
    dataset_source(wc.ds)  # raises with the where-to-put-what message when the folder is empty
    return f"{corpus_root(wc.ds)}/label.csv"


def sdk_path(kind):
    return lambda wc: str(Path(dataset_config(wc.ds)["root"]) / sdk_files(wc.ds)[kind])


# --- align ---------------------------------------------------------------------------------
def _align_textgrid_output():
    """The per-utterance TextGrid folder exists only when align.textgrids is on."""
    if config["align"]["textgrids"]:
        return {"textgrids": directory(f"{WORK}/{{ds}}/align/{{shard}}.textgrids")}
    return {}


def _align_mfa_args():
    return " ".join(f"--mfa-arg={arg}" for arg in config["align"]["mfa"]["extra_args"])


# --- visual --------------------------------------------------------------------------------
from msaflow.visual import ENGINE_SETS  # noqa: E402

# Frame features of a feature set live under acoustic/ or visual/ (DESIGN.md §1); the words stage
# averages both the same way. SDK sets: covarep (acoustic), facet41/facet42/openface2 (visual).
ACOUSTIC_SETS = ["covarep_like", "egemaps", "compare", SDK_ACOUSTIC_FSET]
SDK_VISUAL_SETS = sorted({vset for files in SDK_VISUAL_FILES.values() for vset in files})
VISUAL_SETS = [s for sets in ENGINE_SETS.values() for s in sets] + SDK_VISUAL_SETS
# The visual environment's python (mediapipe); a relative path is taken from the workflow folder.
# Handed to `msaflow visual` through the environment (jobs inherit it; a cluster job re-reads this
# file), not as a param: where the environment lives changes no number and must not rerun anything
# (a fresh clone elsewhere has another absolute path).
os.environ.update(MSAFLOW_VISUAL_PYTHON=str(Path(workflow.basedir) / config["visual"]["python"]))


def frames_dir(fset):
    return "visual" if fset in VISUAL_SETS else "acoustic"


def acoustic_sets(ds):
    """Acoustic sets whose word-level files words.done asks for (SDK datasets: the published COVAREP)."""
    return [SDK_ACOUSTIC_FSET] if _source_or_raw(ds) == "sdk" else list(config["acoustic"]["feature_sets"])


def visual_sets(ds):
    """Visual sets whose word-level files words.done asks for: config visual.feature_sets for raw
    media, the SDK visual files present for datasets read from CMU-MultimodalSDK files."""
    if _source_or_raw(ds) == "sdk":
        return list(sdk_visual_files(ds))
    return list(config["visual"]["feature_sets"])


def export_vision_set(ds):
    """Visual set whose word-level features fill the exports' vision (None: zero placeholder).
    exports.vision: null, a set name, or auto = the first of the dataset's visual sets."""
    wanted = config["exports"].get("vision")
    if not wanted:
        return None
    available = visual_sets(ds)
    if wanted == "auto" or (_source_or_raw(ds) == "sdk" and wanted not in available):
        return available[0] if available else None
    return wanted


def _visual_options(wc):
    return json.dumps(config["visual"]["options"].get(wc.vset, {}), sort_keys=True)


def _openface_args(wc):
    """FeatureExtraction location and extra arguments; only the openface set sees them."""
    if wc.vset not in ENGINE_SETS["openface"]:
        return ""
    of = config["visual"]["openface"]
    return " ".join([f"--openface-executable {shlex.quote(of['executable'])}"]
                    + [f"--openface-arg={shlex.quote(arg)}" for arg in of["extra_args"]])


def _visual_code(wc):
    engine_module = "visual/openface.py" if wc.vset in ENGINE_SETS["openface"] else "visual/mediapipe_engine.py"
    return code_hash("visual/__init__.py", "visual/facial_like.py", "visual/worker.py", engine_module,
                     "features/csd.py", "corpus.py", "stages/visual.py")


# --- words ---------------------------------------------------------------------------------
def _words_shards(kind):
    def inner(wc):
        shards = shard_names(wc.ds)
        frames = f"{WORK}/{wc.ds}/{frames_dir(wc.fset)}/{wc.fset}"
        return {
            "h5": [f"{frames}/{s}.h5" for s in shards],
            "h5qc": [f"{frames}/{s}.qc.tsv" for s in shards],
            "align": [f"{WORK}/{wc.ds}/align/{s}.tsv" for s in shards],
            "alignqc": [f"{WORK}/{wc.ds}/align/{s}.qc.tsv" for s in shards],
        }[kind]
    return inner


# --- exports ---------------------------------------------------------------------------------
def _exports_vision_input(wc):
    vset = export_vision_set(wc.ds)
    return {"vision": f"{WORK}/{wc.ds}/words/{vset}.csd"} if vset else {}


# --- train ---------------------------------------------------------------------------------
def _train_inputs(wc):
    """tokens; for raw-audio models (cmt) also the waveforms and the pretraining checkpoint. A
    raw-audio model on an SDK dataset (no media) stops the DAG here with the reason."""
    from msaflow.training import workflow_config

    try:
        return workflow_config.train_inputs(config, wc.ds, wc.model, dataset_source(wc.ds))
    except ValueError as error:
        raise WorkflowError(str(error))
