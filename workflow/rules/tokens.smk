# Tokens stage: word-pieces + word-level features copied to their pieces, and the unaligned frame
# sequences of audio (and vision) resampled to tokens.frame_rate (DESIGN §3, msaflow.frames).
# The file is named by the audio set; the visual set (tokens.vision_fset / dataset_vision_fsets)
# is an input and a param, so changing it reruns tokens onward.
# Config helpers: msaflow.training.workflow_config (imported here, used through lambdas).
from msaflow.training import workflow_config as wfc  # noqa: E402
from msaflow.normalization import scope_of as normalization_scope  # noqa: E402


rule tokens:
    input:
        unpack(lambda wc: wfc.tokens_inputs(config, wc.ds, wc.fset, shard_names(wc.ds), dataset_source(wc.ds))),
    output:
        tokens=f"{WORK}/{{ds}}/tokens/{{encoder}}/{{fset}}.pt",
        qc=f"{WORK}/{{ds}}/tokens/{{encoder}}/{{fset}}.qc.tsv",
    params:
        max_length=config["tokens"]["max_length"],
        frame_rate=config["tokens"]["frame_rate"],
        max_frames=config["tokens"]["max_frames"],
        frame_dtype=config["tokens"]["frame_dtype"],
        # the frames follow words.znorm: per speaker when the word-level features are
        frame_znorm="speaker" if normalization_scope(config["words"]["znorm"]) == "speaker" else "train",
        speaker_min_utterances=config["words"]["speaker_min_utterances"],
        vision_set=lambda wc: wfc.tokens_vset(config, wc.ds, dataset_source(wc.ds)) or "none",
        vision_missing=config["tokens"]["vision_missing"],
        vision=lambda wc, input: wfc.tokens_vision_args(config, wc.ds, input, dataset_source(wc.ds)),
        code=code_hash("tokenize.py", "frames.py", "normalization.py", "features/csd.py", "encoders.py", "stages/tokens.py"),
    threads: 1
    resources:
        # the frame files are read one shard at a time; the padded 20 Hz float16 tensors of all
        # utterances stay in memory (MOSEI: about 2.5 GB, docs/models.md)
        mem_mb=lambda wc, input: max(4000, 2000 + int(input.size_mb) // 2),
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
        " --audio-frames {input.audio_frames} --frame-rate {params.frame_rate} --max-frames {params.max_frames}"
        " --frame-dtype {params.frame_dtype} --frame-znorm {params.frame_znorm}"
        " --speaker-min-utterances {params.speaker_min_utterances} {params.vision}"
        " --out {output.tokens} --qc {output.qc} > {log} 2>&1"
