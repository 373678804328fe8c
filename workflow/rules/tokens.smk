# Tokens stage: word-pieces + word-level features copied to their pieces (DESIGN §3).
# Config helpers: msaflow.training.workflow_config (imported here, used through lambdas).
from msaflow.training import workflow_config as wfc  # noqa: E402


rule tokens:
    input:
        manifest=f"{WORK}/{{ds}}/manifest.tsv",
        align=lambda wc: expand(f"{WORK}/{wc.ds}/align/{{shard}}.tsv", shard=shard_names(wc.ds)),
        # the words QC decides who enters (usable ids); align QC failures are excluded too
        usable_qc=f"{WORK}/{{ds}}/words/{{fset}}.qc.tsv",
        upstream_qc=lambda wc: expand(f"{WORK}/{wc.ds}/align/{{shard}}.qc.tsv", shard=shard_names(wc.ds)),
        audio_words=f"{WORK}/{{ds}}/words/{{fset}}.csd",
    output:
        tokens=f"{WORK}/{{ds}}/tokens/{{encoder}}/{{fset}}.pt",
        qc=f"{WORK}/{{ds}}/tokens/{{encoder}}/{{fset}}.qc.tsv",
    params:
        max_length=config["tokens"]["max_length"],
        code=code_hash("tokenize.py", "encoders.py", "stages/tokens.py"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/train.yaml"
    log:
        f"{WORK}/logs/{{ds}}/tokens_{{encoder}}_{{fset}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/tokens_{{encoder}}_{{fset}}.tsv"
    shell:
        "msaflow tokens --manifest {input.manifest} --align {input.align} --upstream-qc {input.upstream_qc}"
        " --usable-qc {input.usable_qc}"
        " --audio-words {input.audio_words} --encoder {wildcards.encoder} --max-length {params.max_length}"
        " --out {output.tokens} --qc {output.qc} > {log} 2>&1"
