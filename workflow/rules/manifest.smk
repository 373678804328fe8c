# Corpus validation and shard assignment (msaflow.corpus).


rule manifest:
    input:
        label=lambda wc: f"{corpus_root(wc.ds)}/label.csv",
    output:
        f"{WORK}/{{ds}}/manifest.tsv",
    params:
        root=lambda wc: corpus_root(wc.ds),
        shards=lambda wc: dataset_config(wc.ds)["shards"],
        code=code_hash("corpus.py", "stages/manifest.py"),
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        f"{WORK}/logs/{{ds}}/manifest.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/manifest.tsv"
    shell:
        "{MSAFLOW} manifest --root {params.root} --shards {params.shards} --out {output} > {log} 2>&1"


rule shard:
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
    log:
        f"{WORK}/logs/{{ds}}/shard_{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/shard_{{shard}}.tsv"
    shell:
        "{MSAFLOW} shard --manifest {input} --shard {wildcards.shard} --out {output} > {log} 2>&1"
