import os

from msaflow.demo import face_files  # noqa: E402

# The embedded demo corpus, synthesised from resources/demo/spec.yaml (msaflow.demo).


rule make_demo:
    input:
        spec=config["demo"]["spec"],
        faces=lambda wc: face_files(config["demo"]["spec"]),
    output:
        label=f"{WORK}/demo/corpus/label.csv",
        raw=directory(f"{WORK}/demo/corpus/Raw"),
        process=f"{WORK}/demo/corpus/generative_process.json",
    params:
        seed=config["demo"]["seed"],
        root=lambda wc, output: os.path.dirname(output.label),
        code=code_hash("demo.py", "demo_faces.py", "stages/make_demo.py"),
    threads: 2
    resources:
        mem_mb=1000,
        runtime=20,
    conda:
        "../../envs/media.yaml"
    log:
        f"{WORK}/logs/make_demo.log",
    benchmark:
        f"{WORK}/benchmarks/make_demo.tsv"
    shell:
        "msaflow make-demo --spec {input.spec} --seed {params.seed} --root {params.root}"
        " --threads {threads} > {log} 2>&1"
