# Raw audio and cross-modal pretraining for CMT (docs/models.md): the waveforms sibling of the tokens
# file, the synthesised offline pretraining corpus, pretraining (PT) and task-adaptive pretraining (TAPT).
# Config helpers: msaflow.training.workflow_config (wfc, imported in tokens.smk).

wildcard_constraints:
    name=r"[A-Za-z0-9.-]+_[A-Za-z0-9.-]+_\d+x\d+",


rule waveforms:
    wildcard_constraints:
        ds=RAW_DATASETS,
    input:
        tokens=f"{WORK}/{{ds}}/tokens/{{encoder}}/{{fset}}.pt",
        audio=lambda wc: expand(f"{WORK}/{wc.ds}/audio/{{shard}}", shard=shard_names(wc.ds)),
    output:
        waveforms=f"{WORK}/{{ds}}/tokens/{{encoder}}/{{fset}}.waveforms.pt",
        qc=f"{WORK}/{{ds}}/tokens/{{encoder}}/{{fset}}.waveforms.qc.tsv",
    params:
        max_seconds=config["waveforms"]["max_seconds"],
        code=code_hash("waveforms.py", "stages/waveforms.py"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/train.yaml"
    log:
        f"{WORK}/logs/{{ds}}/waveforms_{{encoder}}_{{fset}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/waveforms_{{encoder}}_{{fset}}.tsv"
    shell:
        "msaflow waveforms --tokens {input.tokens} --audio-dirs {input.audio} --max-seconds {params.max_seconds}"
        " --out {output.waveforms} --qc {output.qc} > {log} 2>&1"


rule make_pretrain_corpus:
    input:
        spec=config["demo"]["spec"],
    output:
        directory(f"{WORK}/pretrain/synth_corpus"),
    params:
        settings=config["pretrain"]["synth"],
        voices=" ".join(config["pretrain"]["synth"].get("voices", [])),
        code=code_hash("pretraining/synth.py", "demo.py", "stages/make_pretrain_corpus.py"),
    threads: 2
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../../envs/media.yaml"
    log:
        f"{WORK}/logs/make_pretrain_corpus.log",
    benchmark:
        f"{WORK}/benchmarks/make_pretrain_corpus.tsv"
    shell:
        "msaflow make-pretrain-corpus --spec {input.spec} --out-dir {output} --utterances {params.settings[utterances]}"
        " --seed {params.settings[seed]} --voices {params.voices} --threads {threads} > {log} 2>&1"


rule pretrain:
    input:
        corpus=wfc.pretrain_corpora(config),
    output:
        model=f"{WORK}/pretrain/{{name}}/model.pt",
        history=f"{WORK}/pretrain/{{name}}/history.json",
        qc=f"{WORK}/pretrain/{{name}}/corpus.qc.tsv",
    params:
        arch=lambda wc: wfc.pretrain_architecture(config, wc.name),
        settings=json.dumps(wfc.pretrain_settings(config), sort_keys=True),
        out_dir=lambda wc: f"{WORK}/pretrain/{wc.name}",
        code=code_hash("pretraining", "models/cmt.py", "models/blocks.py", "models/base.py", "encoders.py",
                       "tokenize.py", "waveforms.py", "training/trainer.py", "stages/pretrain.py"),
    threads: config["pretrain"]["threads"]
    resources:
        mem_mb=config["pretrain"]["mem_mb"],
        runtime=config["pretrain"]["runtime_min"],
        gpu=1,
    conda:
        "../../envs/train.yaml"
    log:
        f"{WORK}/logs/pretrain_{{name}}.log",
    benchmark:
        f"{WORK}/benchmarks/pretrain_{{name}}.tsv"
    shell:
        "msaflow pretrain --corpus {input.corpus} --text-encoder {params.arch[encoder]}"
        " --speech-encoder {params.arch[speech_encoder]} --layers {params.arch[layers]} --heads {params.arch[heads]}"
        " --settings {params.settings:q} --out-dir {params.out_dir} --threads {threads} > {log} 2>&1"


rule tapt:
    wildcard_constraints:
        ds=RAW_DATASETS,
    input:
        init=f"{WORK}/pretrain/{{name}}/model.pt",
        tokens=lambda wc: wfc.tokens_path(config, wc.ds, "raw"),
        waveforms=lambda wc: wfc.waveforms_path(config, wc.ds, "raw"),
    output:
        model=f"{WORK}/{{ds}}/tapt/{{name}}/model.pt",
        history=f"{WORK}/{{ds}}/tapt/{{name}}/history.json",
    params:
        settings=json.dumps(wfc.tapt_settings(config), sort_keys=True),
        out_dir=lambda wc: f"{WORK}/{wc.ds}/tapt/{wc.name}",
        code=code_hash("pretraining", "models/cmt.py", "models/blocks.py", "models/base.py", "encoders.py",
                       "waveforms.py", "training/trainer.py", "stages/pretrain.py", "stages/tapt.py"),
    threads: config["pretrain"]["threads"]
    resources:
        mem_mb=config["pretrain"]["mem_mb"],
        runtime=config["pretrain"]["runtime_min"],
        gpu=1,
    conda:
        "../../envs/train.yaml"
    log:
        f"{WORK}/logs/{{ds}}/tapt_{{name}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/tapt_{{name}}.tsv"
    shell:
        "msaflow tapt --init {input.init} --tokens {input.tokens} --waveforms {input.waveforms}"
        " --settings {params.settings:q} --out-dir {params.out_dir} --threads {threads} > {log} 2>&1"
