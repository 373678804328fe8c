# Exports of the word-level features for other frameworks' own loaders (MMSA, MAG-BERT), one per
# acoustic feature set, with the configured visual set's words when there is one (docs/exports.md).


rule exports:
    input:
        unpack(_exports_vision_input),
        manifest=f"{WORK}/{{ds}}/manifest.tsv",
        align=lambda wc: expand(f"{WORK}/{wc.ds}/align/{{shard}}.tsv", shard=shard_names(wc.ds)),
        audio=f"{WORK}/{{ds}}/words/{{fset}}.csd",
        audio_qc=f"{WORK}/{{ds}}/words/{{fset}}.qc.tsv",
    output:
        mmsa=f"{WORK}/{{ds}}/exports/{{fset}}_mmsa_aligned.pkl",
        mag=f"{WORK}/{{ds}}/exports/{{fset}}_mag.pkl",
        info=f"{WORK}/{{ds}}/exports/{{fset}}_exports.json",
        qc=f"{WORK}/{{ds}}/exports/{{fset}}.qc.tsv",
    params:
        settings=config["exports"],
        vision=lambda wc, input: f"--vision-words {input.vision}" if "vision" in input.keys() else "",
        code=code_hash("features/exports.py", "stages/exports.py", "encoders.py", "features/csd.py"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/train.yaml"
    log:
        f"{WORK}/logs/{{ds}}/exports_{{fset}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/exports_{{fset}}.tsv"
    shell:
        "msaflow exports --manifest {input.manifest} --align {input.align} --audio-words {input.audio}"
        " --audio-qc {input.audio_qc} {params.vision}"
        " --placeholder-vision-dim {params.settings[placeholder_vision_dim]}"
        " --encoder {params.settings[encoder]} --length {params.settings[length]} --rows {params.settings[rows]}"
        " --threads {threads}"
        " --mmsa-out {output.mmsa} --mag-out {output.mag} --info-out {output.info} --qc {output.qc} > {log} 2>&1"


rule exports_all:
    input:
        lambda wc: expand(f"{WORK}/{wc.ds}/exports/{{fset}}_mmsa_aligned.pkl", fset=config["acoustic"]["feature_sets"]),
    output:
        touch(f"{WORK}/{{ds}}/exports.done"),
    localrule: True
