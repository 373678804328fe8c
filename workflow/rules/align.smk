# Word-level forced alignment, one job per shard (msaflow.align, DESIGN.md §3 and §6).
# Every transcript word gets (start, end) in its utterance's audio; QC says ok | fallback | failed.


rule align:
    wildcard_constraints:
        ds=RAW_DATASETS,
    input:
        manifest=shard_table,
        # The QC table, not the wav folder, is the dependency: Snakemake can checksum a file but
        # not a directory, so a touched wav must not rerun alignment.
        audio_qc=f"{WORK}/{{ds}}/audio/{{shard}}.qc.tsv",
    output:
        tsv=f"{WORK}/{{ds}}/align/{{shard}}.tsv",
        qc=f"{WORK}/{{ds}}/align/{{shard}}.qc.tsv",
        **_align_textgrid_output(),
    params:
        audio_dir=lambda wc: f"{WORK}/{wc.ds}/audio/{wc.shard}",
        settings={k: v for k, v in config["align"].items() if k != "threads"},
        code=code_hash("align", "text.py", "stages/align.py"),
        # Shared between jobs (entries are merged under a lock); a cache, not an output.
        g2p_cache=f"{WORK}/cache/align_g2p_{config['align']['espeak_voice']}.tsv",
        textgrid_arg=lambda wc, output: f"--textgrid-dir '{output.textgrids}'" if config["align"]["textgrids"] else "",
        markers_arg="--keep-markers" if config["align"]["keep_markers"] else "",
        switches=" ".join(flag for key, flag in (("refine_boundaries", "--no-refine-boundaries"),
                                                  ("number_readings", "--no-number-readings"))
                          if not config["align"][key]),
        mfa_args=_align_mfa_args(),
    threads: config["align"]["threads"]
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/mfa.yaml" if config["align"]["engine"] == "mfa" else "../../envs/align.yaml"
    log:
        f"{WORK}/logs/{{ds}}/align_{{shard}}.log",
    benchmark:
        f"{WORK}/benchmarks/{{ds}}/align_{{shard}}.tsv"
    shell:
        "msaflow align --shard-manifest {input.manifest} --audio-dir {params.audio_dir} --audio-qc {input.audio_qc}"
        " --out {output.tsv} --qc {output.qc} --engine {params.settings[engine]} --threads {threads}"
        " --beam-log10={params.settings[beam_log10]} --wbeam-log10={params.settings[wbeam_log10]}"
        " --retry-beam-log10={params.settings[retry_beam_log10]} --retry-wbeam-log10={params.settings[retry_wbeam_log10]}"
        " --silence-probability {params.settings[silence_probability]}"
        " --min-engine-fraction {params.settings[min_engine_fraction]}"
        " --window-s {params.settings[window_s]} --max-uncovered-speech-s {params.settings[max_uncovered_speech_s]}"
        " {params.switches}"
        " --espeak-voice {params.settings[espeak_voice]} --g2p-cache {params.g2p_cache}"
        " --mfa-dictionary {params.settings[mfa][dictionary]} --mfa-acoustic-model {params.settings[mfa][acoustic_model]}"
        " {params.mfa_args} {params.markers_arg} {params.textgrid_arg} > {log} 2>&1"


rule align_all:
    input:
        lambda wc: expand(f"{WORK}/{wc.ds}/align/{{shard}}.qc.tsv", shard=shard_names(wc.ds)),
    output:
        touch(f"{WORK}/{{ds}}/align.done"),
    localrule: True
