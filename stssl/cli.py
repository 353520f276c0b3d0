"""Command line: ``python -m stssl train --profile cpu --algo fixmatch --st --seed 0``."""

from __future__ import annotations

import argparse
import json

import yaml

from stssl.config import resolve
from stssl.runs import get_run


def _override(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    return key, yaml.safe_load(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="stssl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train one run (or read it from the run cache) and print its metrics")
    tr.add_argument("--profile", default="cpu")
    tr.add_argument("--algo", default="fixmatch")
    tr.add_argument("--st", action="store_true", help="+ ST-SSL (teacher with metadata, student without)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", default="auto")
    tr.add_argument("--set", dest="overrides", type=_override, action="append", default=[],
                    metavar="KEY=VALUE", help="override any config field, e.g. --set steps=2000")
    args = parser.parse_args(argv)
    try:
        cfg = resolve(args.profile, algo=args.algo, st=args.st, seed=args.seed, device=args.device,
                      **dict(args.overrides))
    except ValueError as err:
        parser.error(str(err))
    run = get_run(cfg)
    print(json.dumps({"run": str(run.path), **run.metrics}, indent=1))
