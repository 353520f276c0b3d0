"""Command line.

``python -m stssl train --profile cpu --algo fixmatch --st --seed 0``: one run (or read it from the cache).
``python -m stssl plan all --profile paper --data-root ...``: the runs pages need, cached or not, and the time.
``python -m stssl sweep table1 figure6 --profile smoke --executor local``: train them all (GPUs, CPU workers, SLURM).
``python -m stssl runs``: the run cache (finished, partial, locked, damaged), and its clean-up.
``python -m stssl book --profile cpu``: execute every notebook of the book into ``book/results/``.
``python -m stssl check-book _build/html``: fail on a page missing from the TOC, a broken image, an error in an output.
``python -m stssl prepare-data bigearthnet --root DATA/bigearthnet``: pack a real data set.
``python -m stssl download eurosat --root DATA/eurosat``: fetch a data set (torchgeo's files, MD5-checked before extraction).
``python -m stssl predict RUN_DIR_OR_KEY IMAGES_OR_TABLE --out preds.csv``: a finished run's class probabilities.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from stssl.config import RunConfig, distinct, load_yaml, resolve
from stssl.core import signals
from stssl.core.checks import ConfigError, OneLineError
from stssl.core.files import DiskError
from stssl.data import packable, registry


def _value(text: str, what: str = "a value") -> object:
    """A number as a number (YAML reads ``1e-3`` as a string), anything else as YAML (a bad one: a
    one-line :class:`ConfigError` naming ``what``)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return load_yaml(text, what)


def _override(text: str) -> tuple[str, str]:
    """``key=value``, the value kept as text until :func:`_settings` reads it (its error is then one line)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    return key, value


def _settings(pairs: list[tuple[str, str]], option: str) -> dict:
    return {key: _value(text, f"{option} {key}={text}") for key, text in pairs}


def _names(text: str | None, numbers: bool = False) -> list | None:
    """``"4,3,2"`` -> ``[4, 3, 2]`` (``numbers``: digits become integers), ``"a,b"`` -> ``["a", "b"]``."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    return [int(item) if numbers and item.isdecimal() else item for item in items]


def _prepare_data(args: argparse.Namespace) -> None:
    from stssl.data import prepare_data

    options = {
        "metadata": args.metadata,
        "table": args.table,
        "scale": args.scale,
        "bands": _names(args.bands, numbers=True),
        "classes": _names(args.classes),
    }
    out = prepare_data(args.dataset, args.root, args.out, args.image_size, args.workers, **options)
    manifest = json.loads((out / "manifest.json").read_text())
    print(f"packed {manifest['count']} {args.dataset} images into {out} (verified)")


def _download(args: argparse.Namespace) -> None:
    root = Path(args.root)
    registry.get(args.dataset).download(root)
    print(f"downloaded {args.dataset} into {root} (every file MD5-checked before anything was extracted)")
    if registry.get(args.dataset).source is not None:
        print(f"next: python -m stssl prepare-data {args.dataset} --root {root}  (packs it for fast loading)")


def _train(args: argparse.Namespace) -> None:
    from stssl.runs import get_run

    if args.config:
        fields = dataclasses.asdict(RunConfig.from_yaml(Path(args.config).read_text(), args.config))
        cfg = resolve(fields.pop("profile"), **{**fields, **_settings(args.overrides, "--set")})
    else:
        cfg = resolve(
            args.profile,
            algo=args.algo,
            st=args.st,
            seed=args.seed,
            device=args.device,
            **_settings(args.overrides, "--set"),
        )
    run = get_run(cfg, progress=not args.quiet)
    print(json.dumps({"run": str(run.path), **run.metrics}, indent=1))


def _predict(args: argparse.Namespace) -> None:
    from stssl.cache import find_run
    from stssl.networks import network_name
    from stssl.predict import check_out, predict_input, write_predictions

    if args.out is not None:  # a wrong --out fails before anything is predicted
        check_out(args.out, args.overwrite)
    run = find_run(args.run)
    frame = predict_input(run, args.input, args.network, args.device, args.data_root, args.batch_size)
    if args.out is None:
        frame.to_csv(sys.stdout, index=False)
        return
    out = write_predictions(frame, args.out, args.overwrite)
    print(
        f"{len(frame)} predictions of the {network_name(run.config, args.network)} of run {run.path.name} "
        f"({run.config.describe()}) -> {out}"
    )


def _page_configs(args: argparse.Namespace) -> list[RunConfig]:
    from stssl.experiments import page_configs, pages

    return distinct(
        [
            c
            for page in pages(args.pages)
            for c in page_configs(
                page, args.profile, args.data_root, args.eurosat_root, args.seeds, args.dataset, args.device
            )
        ]
    )


def _executor(args: argparse.Namespace, cfgs: list[RunConfig]):
    from stssl.sweep import LocalExecutor, SlurmExecutor

    if args.executor == "slurm":
        return SlurmExecutor(
            args.partition,
            args.time_min,
            args.gpus_per_job,
            args.cpus_per_job,
            args.array_parallelism,
            _settings(args.sbatch, "--sbatch"),
            args.cluster,
        )
    gpus = [g for g in (args.gpus or "").split(",") if g]
    if not gpus and args.workers is None:
        from stssl.runs import default_workers

        args.workers = default_workers(cfgs)
    return LocalExecutor(gpus, args.workers or 1)


def _plan(args: argparse.Namespace) -> None:
    from stssl.sweep import format_plan, plan

    cfgs = _page_configs(args)
    print(format_plan(plan(cfgs, step_seconds=args.step_seconds), len(_executor(args, cfgs).slots)))


def _sweep(args: argparse.Namespace) -> None:
    from stssl.sweep import sweep

    cfgs = _page_configs(args)
    failures = sweep(cfgs, _executor(args, cfgs), step_seconds=args.step_seconds)
    if failures:
        print(f"{len(failures)} run(s) failed:\n" + "\n".join(failures), file=sys.stderr)
        sys.exit(1)


def _runs(args: argparse.Namespace) -> None:
    from stssl.cache import folders, runs_root

    root = runs_root()
    counts: dict[str, int] = {}
    kept = []
    for folder in folders(root):
        status = folder.status()
        counts[status] = counts.get(status, 0) + 1
        removed = ""
        if (status == "damaged" and args.remove_damaged) or (status == "partial" and args.remove_partial):
            try:
                folder.remove()
                removed = "  (removed)"
            except OneLineError as err:
                kept.append(f"{folder.path.parent.name}/{folder.key}")
                removed = f"  (not removed: {err})"
        print(f"{status:9} {folder.path.parent.name}/{folder.key}{removed}")
    print(f"{root}: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty"))
    if kept:
        raise DiskError(f"{len(kept)} run(s) could not be removed ({', '.join(kept)}): see the lines above")


def _book(args: argparse.Namespace) -> None:
    from stssl.book import execute_notebooks

    execute_notebooks(args.profile, args.data_root, args.eurosat_root, args.seeds, args.out, args.pages)


def _check_book(args: argparse.Namespace) -> None:
    from stssl.book import check_html

    problems = check_html(Path(args.html), Path(args.source))
    if problems:
        sys.exit(f"the built book has {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    print(f"{args.html}: every page of _toc.yml built, every image present, no error in any output")


def _page_arguments(p: argparse.ArgumentParser, pages: bool = True) -> None:
    if pages:
        p.add_argument("pages", nargs="+", metavar="PAGE", help="notebook names (table1, figure6, ...) or all")
    p.add_argument("--profile", default="cpu", help="cpu | smoke | paper")
    p.add_argument("--data-root", help="the profile's data set (paper: BigEarthNet)")
    p.add_argument("--eurosat-root", help="paper profile: EuroSAT, for Table 4")
    p.add_argument("--dataset", help="another data set than the profile's, for the pages that take one")
    p.add_argument("--seeds", type=_value, help='every page\'s seeds (a count, "0,3"), instead of its own')
    p.add_argument("--device", default="auto")


def _executor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=("local", "slurm"), default="local")
    p.add_argument("--gpus", help="local: GPU indices, one run per GPU (e.g. 0,1,2,3)")
    p.add_argument("--workers", type=int, help="local without GPUs: CPU processes (default: one per core)")
    p.add_argument(
        "--step-seconds",
        type=float,
        help="seconds per training step, for the estimate "
        "(default: measured on the cache's finished runs, or benchmarks/step-seconds.json)",
    )
    p.add_argument("--partition", help="slurm: partition")
    p.add_argument("--time-min", type=int, default=120, help="slurm: time limit per job (requeued when hit)")
    p.add_argument("--gpus-per-job", type=int, default=1)
    p.add_argument("--cpus-per-job", type=int, default=8)
    p.add_argument("--array-parallelism", type=int, default=16, help="slurm: jobs of the array at once")
    p.add_argument(
        "--sbatch",
        type=_override,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="slurm: any other sbatch option, e.g. --sbatch account=proj",
    )
    p.add_argument("--cluster", help=argparse.SUPPRESS)  # "local": submitit's local executor (tests)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="stssl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train one run (or read it from the run cache) and print its metrics")
    tr.add_argument("--profile", default="cpu")
    tr.add_argument("--algo", default="fixmatch")
    tr.add_argument("--st", action="store_true", help="+ ST-SSL (teacher with metadata, student without)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", default="auto")
    tr.add_argument("--config", help="a run's config.yaml (from the cache or a sweep): train exactly that run")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument(
        "--set",
        dest="overrides",
        type=_override,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set steps=2000",
    )
    pl = sub.add_parser("plan", help="the distinct runs some pages need: finished, partial or missing, and the time")
    _page_arguments(pl)
    _executor_arguments(pl)
    sw = sub.add_parser("sweep", help="train every run some pages need that is not finished")
    _page_arguments(sw)
    _executor_arguments(sw)
    ru = sub.add_parser("runs", help="list the run cache (finished, partial, locked, damaged)")
    ru.add_argument("--remove-damaged", action="store_true", help="delete damaged runs (they retrain when asked for)")
    ru.add_argument("--remove-partial", action="store_true", help="delete partial runs nobody is training")
    bk = sub.add_parser("book", help="execute the book's notebooks into book/results/ (make book then builds the HTML)")
    _page_arguments(bk, pages=False)
    bk.add_argument("--pages", nargs="+", default=["all"], help="only these pages")
    bk.add_argument("--out", default="book/results", help="where the executed notebooks go")
    ck = sub.add_parser("check-book", help="check the built HTML: pages in the TOC, images, no error in outputs")
    ck.add_argument("html", help="the built HTML (_build/html)")
    ck.add_argument("--source", default=".", help="the folder of _toc.yml and book/")
    pd = sub.add_parser(
        "prepare-data",
        help="pack a real data set's RGB, labels and metadata into memory-mapped arrays for fast loading (resumable)",
    )
    pd.add_argument("dataset", choices=packable())
    pd.add_argument("--root", required=True, help="where the data set was downloaded (its original layout)")
    pd.add_argument(
        "--out", help="the packed folder (default: <root>/stssl-packed-<image size>, where load_data looks first)"
    )
    pd.add_argument(
        "--image-size",
        type=int,
        help="pixels per side (default: 128 BigEarthNet, 32 EuroSAT; a folder's: its images' own)",
    )
    pd.add_argument("--workers", type=int, default=0, help="reader processes (0: read in this process)")
    pd.add_argument("--metadata", help="EuroSAT RGB layout: the location table (YAML, CSV or parquet)")
    pd.add_argument(
        "--table",
        help="folder: the table of images, locations, dates and labels (default: the one "
        "CSV or parquet file in --root)",
    )
    pd.add_argument("--bands", help="folder of GeoTIFFs: red,green,blue as band names or 1-based indices, e.g. 4,3,2")
    pd.add_argument("--scale", type=float, help="folder of GeoTIFFs: the pixel value shown as white (e.g. 3000)")
    pd.add_argument("--classes", help="folder: the class names in order, comma-separated (default: sorted)")
    dl = sub.add_parser("download", help="download a data set: torchgeo's files, each MD5-checked before extraction")
    dl.add_argument("dataset", choices=registry.with_feature(lambda spec: spec.download is not None))
    dl.add_argument("--root", required=True, help="the folder to download into (then: prepare-data --root)")
    pr = sub.add_parser(
        "predict",
        help="a finished run's class probabilities and predicted labels for images",
        description="One row per image: id, lat, lon, doy (when known), p_<class> per class, "
        "predicted (multi-label: the classes of probability >= 0.5 joined by ';'; single-label: "
        "the most probable) and label (the truth, when the input has labels).",
    )
    pr.add_argument(
        "run",
        metavar="RUN",
        help="a finished run's folder (<runs>/<dataset>/<key>) or its "
        "12-character key (python -m stssl runs lists them)",
    )
    pr.add_argument(
        "input",
        metavar="INPUT",
        help="a table of the folder data set (CSV or parquet: image, lat, "
        "lon, date or doy, label optional) or a folder holding one; a folder of images without a table "
        "(.png, .jpg, .jpeg, .tif: no metadata, so no teacher) or one image; or a data set's name "
        "(its test split)",
    )
    pr.add_argument(
        "--out",
        metavar="FILE",
        help="write the predictions to FILE (CSV, or parquet for a .parquet name; its missing folders are made); "
        "default: CSV on standard output",
    )
    pr.add_argument("--overwrite", action="store_true", help="let --out replace an existing file")
    pr.add_argument(
        "--network",
        choices=("student", "teacher", "model"),
        help="default: the reported network (+ ST-SSL: the student, from the image alone; else the "
        "model); teacher: from the image and its location and day (needs an input with metadata)",
    )
    pr.add_argument("--device", default="auto")
    pr.add_argument("--data-root", help="for a data set's name: where it is (default: the run's own data set's)")
    pr.add_argument("--batch-size", type=int, help="images per forward pass (default: the run's eval_batch_size)")
    args = parser.parse_args(argv)
    commands = {
        "download": _download,
        "train": _train,
        "plan": _plan,
        "sweep": _sweep,
        "runs": _runs,
        "book": _book,
        "check-book": _check_book,
        "prepare-data": _prepare_data,
        "predict": _predict,
    }
    try:
        with signals.stop_on_signals():
            commands[args.command](args)
    except (OneLineError, FileNotFoundError) as err:  # a user's mistake or a damaged file: one line, no traceback
        # 2 for a setting out of range, as argparse does for a bad argument; 1 for data and files
        parser.exit(2 if isinstance(err, ConfigError) else 1, f"stssl {args.command}: error: {err}\n")
    except (KeyboardInterrupt, SystemExit):  # Lightning turns a stop in training into SystemExit(1)
        if signals.received is None:
            raise
        again = shlex.join(["python", "-m", "stssl", *(sys.argv[1:] if argv is None else argv)])
        parser.exit(
            128 + signals.received,
            f"stssl {args.command}: stopped by {signals.received.name}; finished runs are kept and the others resume "
            f"from their last checkpoint: run `{again}` again\n",
        )
