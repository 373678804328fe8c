# Entry from precomputed CMU-MultimodalSDK files (msaflow.sdk_entry): replaces manifest, align and
# acoustic for datasets whose folder holds the SDK's words, COVAREP and label files.


rule sdk_manifest:
    wildcard_constraints:
        ds=SDK_DATASETS,
    input:
        labels=sdk_path("labels"),
        words=sdk_path("words"),
    output:
        manifest=f"{WORK}/{{ds}}/manifest.tsv",
        qc=f"{WORK}/{{ds}}/sdk_manifest.qc.tsv",
    params:
        folds=lambda wc: dataset_config(wc.ds).get("folds", "none"),
        label_column=lambda wc: dataset_config(wc.ds).get("label_column", 0),
        shards=lambda wc: dataset_config(wc.ds)["shards"],
        code=code_hash("sdk_entry.py", "folds.py", "text.py", "corpus.py", "stages/sdk_manifest.py"),
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/features.yaml"
    log:
        f"{WORK}/logs/{{ds}}/sdk_manifest.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/sdk_manifest.tsv"
    shell:
        "msaflow sdk-manifest --labels {input.labels:q} --words {input.words:q} --label-column {params.label_column}"
        " --folds {params.folds} --shards {params.shards} --out {output.manifest} --qc {output.qc} > {log} 2>&1"


rule sdk_align:
    wildcard_constraints:
        ds=SDK_DATASETS,
    input:
        shard=shard_table,
        labels=sdk_path("labels"),
        words=sdk_path("words"),
    output:
        table=f"{WORK}/{{ds}}/align/{{shard}}.tsv",
        qc=f"{WORK}/{{ds}}/align/{{shard}}.qc.tsv",
    params:
        label_column=lambda wc: dataset_config(wc.ds).get("label_column", 0),
        code=code_hash("sdk_entry.py", "text.py", "stages/sdk_align.py"),
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/features.yaml"
    log:
        f"{WORK}/logs/{{ds}}/sdk_align_{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/sdk_align_{{shard}}.tsv"
    shell:
        "msaflow sdk-align --shard-manifest {input.shard} --labels {input.labels:q} --words {input.words:q}"
        " --label-column {params.label_column} --out {output.table} --qc {output.qc} > {log} 2>&1"


rule sdk_acoustic:
    wildcard_constraints:
        ds=SDK_DATASETS,
    input:
        shard=shard_table,
        align_qc=f"{WORK}/{{ds}}/align/{{shard}}.qc.tsv",
        acoustic=sdk_path("acoustic"),
    output:
        h5=f"{WORK}/{{ds}}/acoustic/{SDK_ACOUSTIC_FSET}/{{shard}}.h5",
        qc=f"{WORK}/{{ds}}/acoustic/{SDK_ACOUSTIC_FSET}/{{shard}}.qc.tsv",
    params:
        code=code_hash("sdk_entry.py", "features/csd.py", "stages/sdk_acoustic.py"),
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/features.yaml"
    log:
        f"{WORK}/logs/{{ds}}/sdk_acoustic_{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/sdk_acoustic_{{shard}}.tsv"
    shell:
        "msaflow sdk-acoustic --shard-manifest {input.shard} --align-qc {input.align_qc}"
        " --acoustic {input.acoustic:q} --dataset {wildcards.ds} --out {output.h5} --qc {output.qc} > {log} 2>&1"


rule sdk_visual:
    wildcard_constraints:
        ds=SDK_DATASETS,
        vset=one_of(SDK_VISUAL_SETS),
    input:
        shard=shard_table,
        align_qc=f"{WORK}/{{ds}}/align/{{shard}}.qc.tsv",
        visual=lambda wc: str(Path(dataset_config(wc.ds)["root"]) / sdk_visual_files(wc.ds)[wc.vset]),
    output:
        h5=f"{WORK}/{{ds}}/visual/{{vset}}/{{shard}}.h5",
        qc=f"{WORK}/{{ds}}/visual/{{vset}}/{{shard}}.qc.tsv",
    params:
        code=code_hash("sdk_entry.py", "features/csd.py", "stages/sdk_visual.py"),
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/features.yaml"
    log:
        f"{WORK}/logs/{{ds}}/sdk_visual_{{vset}}_{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/sdk_visual_{{vset}}_{{shard}}.tsv"
    shell:
        "msaflow sdk-visual --vset {wildcards.vset} --shard-manifest {input.shard} --align-qc {input.align_qc}"
        " --visual {input.visual:q} --dataset {wildcards.ds} --out {output.h5} --qc {output.qc} > {log} 2>&1"
