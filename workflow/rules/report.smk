# The report of a dataset: results/report_{ds}.html (msaflow.reporting), and Snakemake's own report
# (`snakemake --report report.zip`) through the report(...) flags on the main outputs.
# Which models: config report.models (built when missing) plus, with report.include_existing, every
# configured model whose results/{model}_{ds}.json already exists (msaflow.training.workflow_config).


rule report:
    input:
        unpack(lambda wc: wfc.report_inputs(config, wc.ds, shard_names(wc.ds), dataset_source(wc.ds))),
    output:
        report(
            "results/report_{ds}.html",
            caption="../report/report_html.rst",
            category="Report",
            labels={"dataset": "{ds}", "file": "report"},
        ),
    params:
        runs_root=lambda wc: f"{WORK}/{wc.ds}/runs",
        audio_dirs=lambda wc: (
            " ".join(f"{WORK}/{wc.ds}/audio/{s}" for s in shard_names(wc.ds)) if dataset_source(wc.ds) == "raw" else ""
        ),
        benchmarks=lambda wc: f"{WORK}/benchmarks/{wc.ds}",
        examples=config["report"]["examples"],
        attention="" if config["report"]["attention"] else "--no-attention",
        code=code_hash("reporting", "evaluation", "dataset_summary.py", "bundle.py", "stages/report.py"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    conda:
        "../../envs/train.yaml"
    log:
        f"{WORK}/logs/{{ds}}/report.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/report.tsv"
    shell:
        "msaflow report --dataset {wildcards.ds} --results {input.results} --runs-root {params.runs_root}"
        " --summary {input.summary} --manifest {input.manifest} --align {input.align} --audio-dirs {params.audio_dirs}"
        " --tokens {input.tokens} --benchmarks {params.benchmarks} --examples {params.examples} {params.attention}"
        " --out {output} > {log} 2>&1"
