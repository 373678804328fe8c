# Word-level averages of frame features (CMU-MultimodalSDK semantics) and exports, per feature set.
# Acoustic and visual sets go through the same `msaflow words` (one averaging code path); only
# the acoustic sets write the MMSA / MAG-BERT exports, whose vision comes from
# words.exports.vision_fset's word file when set (common.smk export_vision_set).

rule words:
    wildcard_constraints:
        fset=one_of(ACOUSTIC_SETS),
    input:
        unpack(_export_vision_words),
        manifest=f"{WORK}/{{ds}}/manifest.tsv",
        h5=_words_shards("h5"),
        h5qc=_words_shards("h5qc"),
        align=_words_shards("align"),
        alignqc=_words_shards("alignqc"),
    output:
        csd=f"{WORK}/{{ds}}/words/{{fset}}.csd",
        qc=f"{WORK}/{{ds}}/words/{{fset}}.qc.tsv",
        mmsa=f"{WORK}/{{ds}}/words/exports/{{fset}}_mmsa_aligned.pkl",
        mag=f"{WORK}/{{ds}}/words/exports/{{fset}}_mag.pkl",
    params:
        settings=config["words"],
        columns=lambda wc: json.dumps(config["words"]["columns"].get(wc.fset, "all")),
        presets=lambda wc: json.dumps(config["words"]["presets"]),
        znorm=lambda wc: "" if config["words"]["znorm"] else "--no-znorm",
        vision=_export_vision_arg,
        code=code_hash(*WORDS_CODE, "features/exports.py"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/features.yaml"
    log:
        f"{WORK}/logs/{{ds}}/words_{{fset}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/words_{{fset}}.tsv"
    shell:
        WORDS_SHELL["exports"]


rule words_visual:
    wildcard_constraints:
        fset=one_of(VISUAL_SETS),
    input:
        manifest=f"{WORK}/{{ds}}/manifest.tsv",
        h5=_words_shards("h5"),
        h5qc=_words_shards("h5qc"),
        align=_words_shards("align"),
        alignqc=_words_shards("alignqc"),
    output:
        csd=f"{WORK}/{{ds}}/words/{{fset}}.csd",
        qc=f"{WORK}/{{ds}}/words/{{fset}}.qc.tsv",
    params:
        settings={k: config["words"][k] for k in ("mode", "fill_value")},  # not the export settings
        columns=lambda wc: json.dumps(config["words"]["columns"].get(wc.fset, "all")),
        presets=lambda wc: json.dumps(config["words"]["presets"]),
        znorm=lambda wc: "" if config["words"]["znorm"] else "--no-znorm",
        code=code_hash(*WORDS_CODE),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        "../../envs/features.yaml"
    log:
        f"{WORK}/logs/{{ds}}/words_{{fset}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/words_{{fset}}.tsv"
    shell:
        WORDS_SHELL["plain"]


rule words_all:
    input:
        lambda wc: expand(f"{WORK}/{wc.ds}/words/{{fset}}.csd",
                          fset=acoustic_sets(wc.ds) + visual_sets(wc.ds)),
    output:
        touch(f"{WORK}/{{ds}}/words.done"),
    localrule: True
