"""`msaflow shard`: one shard's rows of the manifest -> work/{ds}/shards/{shard}.tsv."""

from msaflow.common import get_logger
from msaflow.corpus import write_shard


def configure(parser):
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--shard", required=True, help="shard name, e.g. s003")
    parser.add_argument("--out", required=True)
    parser.add_argument("--log", default=None)


def main(args):
    n = write_shard(args.manifest, args.shard, args.out)
    get_logger("shard", args.log).info("shard %s: %d utterances", args.shard, n)
