# Word-level averages of frame features (CMU-MultimodalSDK semantics), per feature set: acoustic
# (acoustic/{fset}/) and visual (visual/{vset}/) sets go through the same `msaflow words`.
from msaflow.normalization import scope_of as normalization_scope  # noqa: E402


rule words:
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
        settings={k: config["words"][k] for k in ("mode", "fill_value")},
        columns=lambda wc: json.dumps(config["words"]["columns"].get(wc.fset, "all")),
        presets=lambda wc: json.dumps(config["words"]["presets"]),
        znorm=lambda wc: f"--znorm {normalization_scope(config['words']['znorm'])}",
        speaker_min_utterances=config["words"]["speaker_min_utterances"],
        code=code_hash(
            "features/__init__.py", "features/csd.py", "features/word_average.py",
            "features/words_build.py", "stages/words.py", "normalization.py",
        ),
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
        "msaflow words --fset {wildcards.fset} --dataset {wildcards.ds} --manifest {input.manifest}"
        " --frames {input.h5} --frames-qc {input.h5qc} --align {input.align} --align-qc {input.alignqc}"
        " --out {output.csd} --qc {output.qc} --mode {params.settings[mode]}"
        " --fill-value {params.settings[fill_value]} --columns {params.columns:q} --presets {params.presets:q}"
        " {params.znorm} --speaker-min-utterances {params.speaker_min_utterances} > {log} 2>&1"


rule words_all:
    input:
        lambda wc: expand(f"{WORK}/{wc.ds}/words/{{fset}}.csd",
                          fset=acoustic_sets(wc.ds) + visual_sets(wc.ds)),
    output:
        touch(f"{WORK}/{{ds}}/words.done"),
    localrule: True
