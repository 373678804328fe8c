# Utterance audio: any media -> 16 kHz mono wav, one job per shard (msaflow.audio).


rule audio:
    wildcard_constraints:
        ds=RAW_DATASETS,
    input:
        shard_table,
    output:
        wavs=directory(f"{WORK}/{{ds}}/audio/{{shard}}"),
        qc=f"{WORK}/{{ds}}/audio/{{shard}}.qc.tsv",
    params:
        settings=config["audio"],
        code=code_hash("audio.py", "corpus.py", "stages/audio.py"),
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/media.yaml"
    log:
        f"{WORK}/logs/{{ds}}/audio_{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/audio_{{shard}}.tsv"
    shell:
        "msaflow audio --shard-manifest {input} --out-dir {output.wavs} --qc {output.qc}"
        " --sample-rate {params.settings[sample_rate]} --timeout {params.settings[ffmpeg_timeout_s]}"
        " --threads {threads} > {log} 2>&1"


rule audio_all:
    input:
        lambda wc: expand(f"{WORK}/{wc.ds}/audio/{{shard}}.qc.tsv", shard=shard_names(wc.ds)),
    output:
        touch(f"{WORK}/{{ds}}/audio.done"),
    localrule: True
