# Frame-level facial features from the video, one job per (visual set, shard) (msaflow.visual,
# DESIGN.md §7). The mediapipe sets run a worker in the visual environment (config visual.python,
# handed over as MSAFLOW_VISUAL_PYTHON, see common.smk); the openface set calls FeatureExtraction.


rule visual:
    wildcard_constraints:
        ds=RAW_DATASETS,
        vset=one_of([s for sets in ENGINE_SETS.values() for s in sets]),
    input:
        shard=shard_table,
    output:
        h5=f"{WORK}/{{ds}}/visual/{{vset}}/{{shard}}.h5",
        qc=f"{WORK}/{{ds}}/visual/{{vset}}/{{shard}}.qc.tsv",
    params:
        # Only what changes the numbers: the engine, its options, the QC threshold and the code.
        engine=config["visual"]["engine"],
        options=_visual_options,
        min_face_fraction=config["visual"]["min_face_fraction"],
        openface=_openface_args,
        code=_visual_code,
    threads: 1
    resources:
        mem_mb=lambda wc: config["visual"]["mem_mb"],
        runtime=lambda wc: config["visual"]["runtime_min"],
    conda:
        "../../envs/features.yaml"
    log:
        f"{WORK}/logs/{{ds}}/visual_{{vset}}_{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/visual_{{vset}}_{{shard}}.tsv"
    shell:
        "OMP_NUM_THREADS={threads} msaflow visual --vset {wildcards.vset} --engine {params.engine}"
        " --dataset {wildcards.ds} --shard-manifest {input.shard} --options {params.options:q}"
        " --min-face-fraction {params.min_face_fraction} {params.openface}"
        " --out {output.h5} --qc {output.qc} > {log} 2>&1"


rule visual_all:
    input:
        lambda wc: expand(f"{WORK}/{wc.ds}/visual/{wc.vset}/{{shard}}.qc.tsv", shard=shard_names(wc.ds)),
    output:
        touch(f"{WORK}/{{ds}}/visual/{{vset}}.done"),
    localrule: True
