# Train stage: one job per (model, seed); seeds default to MMSA's 1111-1115.
# models.<model>.train changes the train settings for one model (e.g. a paper's batch size);
# train.dataset_overrides.<ds> changes them for one dataset (e.g. demo epochs) and wins, except over
# models.<model>.train.dataset_overrides.<ds> (e.g. CMT's 25 epochs on the demo).


rule train:
    input:
        unpack(_train_inputs),
    output:
        model=f"{WORK}/{{ds}}/runs/{{model}}/seed{{seed}}/model.pt",
        predictions=f"{WORK}/{{ds}}/runs/{{model}}/seed{{seed}}/predictions.tsv",
        history=f"{WORK}/{{ds}}/runs/{{model}}/seed{{seed}}/history.json",
        # test predictions with each non-text modality zeroed / shuffled (msaflow.training.ablation)
        ablation=f"{WORK}/{{ds}}/runs/{{model}}/seed{{seed}}/ablation.tsv",
        # what `msaflow predict` needs besides model.pt (msaflow.bundle)
        bundle=f"{WORK}/{{ds}}/runs/{{model}}/seed{{seed}}/bundle.json",
    params:
        model_settings=lambda wc: wfc.model_settings_json(config, wc.model, wc.ds),
        train_settings=lambda wc: wfc.train_settings_json(config, wc.ds, wc.model),
        extra=lambda wc, input: wfc.train_extra_args(input),
        # the upstream stages' settings, recorded in the run bundle (they change the data anyway)
        pipeline=lambda wc: wfc.pipeline_settings_json(config, wc.ds, dataset_source(wc.ds)),
        out_dir=lambda wc: f"{WORK}/{wc.ds}/runs/{wc.model}/seed{wc.seed}",
        # the model's own module and the shared modules it imports, not the other models (issue 15)
        code=lambda wc: code_hash(
            *wfc.model_code_files(config, wc.model), "training/__init__.py", "training/trainer.py", "training/ablation.py", "training/bertadam.py", "encoders.py",
            "tokenize.py", "evaluation/metrics.py", "bundle.py", "stages/train.py",
            *(["waveforms.py"] if wfc.model_reads_waveforms(config, wc.model) else []),
        ),
    threads: config["train"]["threads"]
    resources:
        mem_mb=6000,
        runtime=240,
        gpu=1,
    conda:
        "../../envs/train.yaml"
    log:
        f"{WORK}/logs/{{ds}}/train-{{model}}_seed{{seed}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/train-{{model}}_seed{{seed}}.tsv"
    shell:
        "msaflow train --tokens {input.tokens} --model {wildcards.model} --seed {wildcards.seed}"
        " --model-settings {params.model_settings:q} --train-settings {params.train_settings:q}"
        " --dataset {wildcards.ds} --pipeline {params.pipeline:q}"
        " --out-dir {params.out_dir} {params.extra} --threads {threads} > {log} 2>&1"
