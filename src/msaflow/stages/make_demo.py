"""`msaflow make-demo`: synthesise the embedded demo corpus (see msaflow.demo)."""

from msaflow.demo import make_demo_corpus


def configure(parser):
    parser.add_argument("--spec", required=True, help="demo spec YAML (resources/demo/spec.yaml)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--root", required=True, help="corpus folder to write (label.csv, Raw/)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log", default=None)


def main(args):
    make_demo_corpus(args.spec, args.seed, args.root, threads=args.threads, log_file=args.log)
