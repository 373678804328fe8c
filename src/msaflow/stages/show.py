"""Stage `show`: print a result file as a table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from msaflow.common import MsaflowError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="results/{model}_{ds}.json")
    parser.add_argument("--json", action="store_true", help="print the test metric summary as JSON instead")


def main(args) -> int:
    from msaflow.evaluation.results import RESULT_FORMAT, format_table

    for i, path in enumerate(args.results):
        p = Path(path)
        if not p.exists():
            raise MsaflowError(f"{p} does not exist (build it with: snakemake --cores 2 {p})")
        try:
            result = json.loads(p.read_text())
        except json.JSONDecodeError as error:
            raise MsaflowError(f"{p} is not valid JSON ({error})") from None
        if not isinstance(result, dict) or result.get("format") != RESULT_FORMAT:
            raise MsaflowError(f"{p} is not an msaflow result file (format {RESULT_FORMAT})")
        if args.json:
            print(json.dumps({m: v["mean"] for m, v in result["metrics"]["test"].items()}, indent=2))
        else:
            if i:
                print()
            print(format_table(result))
    return 0
