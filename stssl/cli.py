"""Command line: ``python -m stssl train --profile cpu --algo fixmatch --st --seed 0``, and
``python -m stssl prepare-data bigearthnet --root DATA/bigearthnet`` to pack a real data set."""

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


def _prepare_data(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from stssl.data import prepare_data
    from stssl.data.geo import DataError

    try:
        out = prepare_data(args.dataset, args.root, args.out, args.image_size, args.workers, args.metadata)
    except DataError as err:
        parser.exit(1, f"stssl prepare-data: error: {err}\n")
    manifest = json.loads((out / "manifest.json").read_text())
    print(f"packed {manifest['count']} {args.dataset} images into {out} (verified)")


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
    pd = sub.add_parser("prepare-data", help="pack a real data set's RGB, labels and metadata into "
                        "memory-mapped arrays for fast loading (resumable)")
    pd.add_argument("dataset", choices=("bigearthnet", "eurosat"))
    pd.add_argument("--root", required=True, help="where the data set was downloaded (its original layout)")
    pd.add_argument("--out", help="the packed folder (default: <root>/stssl-packed-<image size>, "
                    "where load_data looks first)")
    pd.add_argument("--image-size", type=int, help="pixels per side (default: 128 BigEarthNet, 32 EuroSAT)")
    pd.add_argument("--workers", type=int, default=0, help="reader processes (0: read in this process)")
    pd.add_argument("--metadata", help="EuroSAT RGB layout: the location table (YAML, CSV or parquet)")
    args = parser.parse_args(argv)
    if args.command == "prepare-data":
        _prepare_data(args, parser)
        return
    try:
        cfg = resolve(args.profile, algo=args.algo, st=args.st, seed=args.seed, device=args.device,
                      **dict(args.overrides))
    except ValueError as err:
        parser.error(str(err))
    run = get_run(cfg)
    print(json.dumps({"run": str(run.path), **run.metrics}, indent=1))
