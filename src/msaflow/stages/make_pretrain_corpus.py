"""`msaflow make-pretrain-corpus`: synthesise the offline pretraining corpus (msaflow.pretraining.synth)."""


def configure(parser):
    parser.add_argument("--spec", required=True, help="demo spec YAML (its sentence sampler)")
    parser.add_argument("--out-dir", required=True, help="corpus folder to write (LibriSpeech layout)")
    parser.add_argument("--utterances", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--voices", nargs="*", default=None, help="espeak-ng voices (default: not the demo's speakers)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log", default=None)


def main(args):
    from msaflow.pretraining.synth import make_synth_corpus

    make_synth_corpus(args.spec, args.out_dir, args.utterances, args.seed, args.voices or None, args.threads, args.log)
