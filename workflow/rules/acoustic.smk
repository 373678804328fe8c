# Frame-level acoustic features, one job per (feature set, shard) (msaflow.features, DESIGN.md §7).


rule acoustic:
    wildcard_constraints:
        ds=RAW_DATASETS,
        fset="covarep_like|egemaps|compare",
    input:
        audio_qc=f"{WORK}/{{ds}}/audio/{{shard}}.qc.tsv",
    output:
        h5=f"{WORK}/{{ds}}/acoustic/{{fset}}/{{shard}}.h5",
        qc=f"{WORK}/{{ds}}/acoustic/{{fset}}/{{shard}}.qc.tsv",
    params:
        audio_dir=lambda wc: f"{WORK}/{wc.ds}/audio/{wc.shard}",
        # Only what changes the numbers: resources and the list of sets must not rerun anything.
        options=lambda wc: json.dumps(config["acoustic"]["options"].get(wc.fset, {}), sort_keys=True),
        code=lambda wc: code_hash(
            "features/__init__.py", "features/registry.py", "features/csd.py",
            "features/covarep_like.py" if wc.fset == "covarep_like" else "features/opensmile_sets.py",
            "stages/acoustic.py",
        ),
    threads: 1
    resources:
        mem_mb=lambda wc: config["acoustic"]["mem_mb"],
        runtime=lambda wc: config["acoustic"]["runtime_min"],
    conda:
        "../../envs/features.yaml"
    log:
        f"{WORK}/logs/{{ds}}/acoustic_{{fset}}_{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/acoustic_{{fset}}_{{shard}}.tsv"
    shell:
        "msaflow acoustic --fset {wildcards.fset} --dataset {wildcards.ds} --audio-dir {params.audio_dir}"
        " --audio-qc {input.audio_qc} --options {params.options:q} --out {output.h5} --qc {output.qc} > {log} 2>&1"


rule acoustic_all:
    input:
        lambda wc: expand(
            f"{WORK}/{wc.ds}/acoustic/{wc.fset}/{{shard}}.qc.tsv", shard=shard_names(wc.ds)
        ),
    output:
        touch(f"{WORK}/{{ds}}/acoustic/{{fset}}.done"),
    localrule: True
