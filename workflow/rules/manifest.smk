# Corpus validation and shard assignment (msaflow.corpus).


rule manifest:
    wildcard_constraints:
        ds=RAW_DATASETS,
    input:
        label=raw_label_csv,
    output:
        f"{WORK}/{{ds}}/manifest.tsv",
    params:
        root=lambda wc: corpus_root(wc.ds),
        shards=lambda wc: dataset_config(wc.ds)["shards"],
        folds=lambda wc: dataset_config(wc.ds).get("folds", "none"),
        code=code_hash("corpus.py", "folds.py", "stages/manifest.py"),
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/media.yaml"
    log:
        f"{WORK}/logs/{{ds}}/manifest.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/manifest.tsv"
    shell:
        "msaflow manifest --root {params.root:q} --shards {params.shards} --folds {params.folds}"
        " --out {output} > {log} 2>&1"


# A checkpoint: once a shard list is rewritten, Snakemake re-evaluates the jobs that read it, so a
# byte-identical list (checksum unchanged) reruns nothing; adding a video reruns only its shard.
checkpoint shard:
    input:
        f"{WORK}/{{ds}}/manifest.tsv",
    output:
        f"{WORK}/{{ds}}/shards/{{shard}}.tsv",
    params:
        code=code_hash("corpus.py", "stages/shard.py"),
    localrule: True
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/media.yaml"
    log:
        f"{WORK}/logs/{{ds}}/shard_{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/shard_{{shard}}.tsv"
    shell:
        "msaflow shard --manifest {input} --shard {wildcards.shard} --out {output} > {log} 2>&1"
