# Evaluate stage: seeds -> results/{model}_{ds}.json (metrics over seeds, baseline tests, provenance).


rule evaluate:
    input:
        unpack(lambda wc: wfc.evaluate_inputs(config, wc.ds, wc.model, dataset_source(wc.ds))),
    output:
        report(
            "results/{model}_{ds}.json",
            caption="../report/result_json.rst",
            category="Results",
            labels={"dataset": "{ds}", "file": "{model}"},
        ),
    params:
        runs=lambda wc: wfc.run_dirs(config, wc.ds, wc.model),
        baseline=lambda wc: wfc.evaluate_baseline_args(config, wc.ds, wc.model),
        config=lambda wc: wfc.evaluate_config_json(config, wc.ds, wc.model, dataset_source(wc.ds)),
        settings=config["evaluate"],
        code=code_hash("evaluation", "stages/evaluate.py", "stages/show.py"),
        benchmarks=lambda wc: f"{WORK}/benchmarks/{wc.ds}",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../../envs/train.yaml"
    log:
        f"{WORK}/logs/{{ds}}/evaluate-{{model}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/evaluate-{{model}}.tsv"
    shell:
        "msaflow evaluate --model {wildcards.model} --dataset {wildcards.ds} --runs {params.runs} {params.baseline}"
        " --tokens {input.tokens} --config {params.config:q} --code {params.code}"
        " --confidence {params.settings[confidence]} --bootstrap {params.settings[bootstrap]}"
        " --benchmarks {params.benchmarks} --dataset-summary {input.summary} --out {output} > {log} 2>&1"


rule dataset_summary:
    input:
        unpack(lambda wc: wfc.summary_inputs(config, wc.ds, shard_names(wc.ds), dataset_source(wc.ds))),
    output:
        report(
            "results/dataset_{ds}.json",
            caption="../report/dataset_json.rst",
            category="Data",
            labels={"dataset": "{ds}", "file": "summary"},
        ),
    params:
        qc=lambda wc, input: wfc.summary_qc_args(input),
        audio_dirs=lambda wc: (
            " ".join(f"{WORK}/{wc.ds}/audio/{s}" for s in shard_names(wc.ds)) if dataset_source(wc.ds) == "raw" else ""
        ),
        code=code_hash("dataset_summary.py", "stages/summarize.py"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/media.yaml"
    log:
        f"{WORK}/logs/{{ds}}/dataset_summary.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/dataset_summary.tsv"
    shell:
        "msaflow summarize --dataset {wildcards.ds} --manifest {input.manifest} --align {input.align}"
        " --audio-dirs {params.audio_dirs} --qc {params.qc} --out {output} > {log} 2>&1"
