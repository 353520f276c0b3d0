"""Our training step against the authors' on this machine, in one run (issue 13, part 4).

ViT-S/16 at 128 px, 8 labelled + 56 unlabelled images, 43 classes (BigEarthNet's shapes), the
threads this machine has. Each variant runs alone in a fresh process, one after the other,
alternating ours and theirs for ``--rounds`` rounds, so both see the same machine state:

* **theirs**: the authors' code, a checkout of https://github.com/mxbh/spatiotemporal-ssl
  (``git clone`` it anywhere; the figures in ``benchmarks/RESULTS.md`` are of commit 47e6299).
  Their algorithm object is built as their ``train.py`` builds it, from their BigEarthNet config
  (``config/bigearthnet/stssl_fixmatch0.01.yaml`` or ``fixmatch0.01.yaml``; ``amp: false``, so
  fp32) at the batch above and without the pretrained download, except that it reads no data
  set: the step's inputs are given. One step is exactly what their training loop runs per
  iteration: ``train_step(**process_batch(...))``, then their ``ParamUpdateHook`` (backward,
  AdamW, the scheduler) and ``EMAHook`` (their EMA and the copy into ``ema_model``). Their
  ``.cuda()`` calls are made no-ops, the only change to how their code runs. Packages that
  their import chain names but the step never uses (wandb, aim, transformers, torchaudio,
  scikit-image, tensorboard, ruamel, progress, scikit-multilearn) are stand-ins when they are
  not installed; the report lists which, since a real import would only add to their memory.
* **ours**: the library's step with AdamW and the EMA (``benchmarks/harness.py``'s ``StepTimer``), in fp32 and
  in bf16 autocast (the ``paper`` profile's precision; on a CPU only with bf16 hardware).

The inputs are random normalised images and valid metadata: neither step's cost depends on the
pixels. Data loading is timed by neither (``benchmarks/data_speed.py`` compares the readers).
Per variant: seconds of each step after one warm-up step, the process's resident memory before
the first step, and its peak (``VmHWM``: the whole process: Python, imports, both networks,
the EMA, AdamW's state, activations, and what the allocator keeps).

    PYTHONPATH=. python benchmarks/side_by_side.py --authors /path/to/spatiotemporal-ssl [--rounds 2] [--steps 3]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.abc
import importlib.machinery
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

BATCH_LB, URATIO, CLASSES, IMAGE = 8, 7, 43, 128
CONFIGS = {
    "ST-FixMatch": "config/bigearthnet/stssl_fixmatch0.01.yaml",
    "FixMatch": "config/bigearthnet/fixmatch0.01.yaml",
}
UNUSED_BY_THE_STEP = (
    "wandb",
    "aim",
    "transformers",
    "torchaudio",
    "skimage",
    "ruamel",
    "progress",
    "skmultilearn",
    "torch.utils.tensorboard",
)


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Empty modules for the packages in ``names`` that cannot be imported here."""

    def __init__(self, names: list[str]):
        self.names = names

    def find_spec(self, name, path, target=None):
        if any(name == n or name.startswith(n + ".") for n in self.names):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        from unittest import mock

        module = mock.MagicMock(name=spec.name)
        module.__path__, module.__spec__, module.__name__ = [], spec, spec.name
        return module

    def exec_module(self, module):
        pass


def _missing(name: str) -> bool:
    try:
        importlib.import_module(name)  # imported as their code would: its memory counts
        return False
    except ImportError:
        return True


def their_algorithm(authors: Path, kind: str) -> tuple[object, list[str]]:
    """The authors' algorithm object for ``kind``, built from their config as their ``train.py``
    does, without a data set."""
    import yaml

    stand_ins = [n for n in UNUSED_BY_THE_STEP if _missing(n)]
    sys.meta_path.insert(0, _StandIns(stand_ins))
    sys.path.insert(0, str(authors))
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # their code moves every tensor to the GPU
    from semilearn.core.utils import ALGORITHMS, get_net_builder  # noqa: E402 (after the path is set)

    config = yaml.safe_load((authors / CONFIGS[kind]).read_text())
    # PyYAML reads "1e-4" as a string (their code reads YAML 1.2 with ruamel): cast the numbers.
    args = argparse.Namespace(**{**config, "lr": float(config["lr"]), "weight_decay": float(config["weight_decay"])})
    args.batch_size, args.uratio, args.num_classes, args.img_size = BATCH_LB, URATIO, CLASSES, IMAGE
    args.use_pretrain, args.use_wandb, args.use_aim, args.use_tensorboard = False, False, False, False
    args.gpu, args.distributed, args.resume, args.clip_grad = None, False, False, 0.0
    args.num_eval_iter = args.num_log_iter = 10**9  # their evaluation, checkpoint and logging hooks stay idle
    base = ALGORITHMS[args.algorithm]
    no_data = type("WithoutData", (base,), {"set_dataset": lambda self: None, "set_data_loader": lambda self: {}})
    algorithm = no_data(args, get_net_builder(args.net, args.net_from_name))
    algorithm.model.train()
    algorithm.call_hook("before_run", "EMAHook")
    return algorithm, stand_ins


def their_batch(kind: str) -> dict:
    """One iteration's batch as their BigEarthNet loaders give it (images normalised, multi-hot
    labels, metadata with lat/lng in degrees and the date as a string)."""
    b_u = BATCH_LB * URATIO

    def meta(n: int) -> dict:
        days = torch.randint(0, 365, (n,)).tolist()
        dates = [
            (datetime.datetime(2017, 6, 1) + datetime.timedelta(days=d)).strftime("%Y-%m-%d %H:%M:%S") for d in days
        ]
        return {
            "lat": torch.rand(n, dtype=torch.float64) * 30 + 38,
            "lng": torch.rand(n, dtype=torch.float64) * 40 - 10,
            "date": dates,
        }

    batch = {
        "x_lb": torch.randn(BATCH_LB, 3, IMAGE, IMAGE),
        "y_lb": (torch.rand(BATCH_LB, CLASSES) < 0.1).float(),
        "x_ulb_w": torch.randn(b_u, 3, IMAGE, IMAGE),
        "x_ulb_s": torch.randn(b_u, 3, IMAGE, IMAGE),
    }
    if kind == "ST-FixMatch":
        batch.update(metainfo_lb=meta(BATCH_LB), metainfo_ulb=meta(b_u))
    return batch


def their_step(algorithm, batch: dict) -> None:
    """One iteration of their training loop (``STSSLAlgorithmBase.train``) without its data
    loader and its idle hooks."""
    algorithm.out_dict, algorithm.log_dict = algorithm.train_step(**algorithm.process_batch(**batch))
    algorithm.call_hook("after_train_step", "ParamUpdateHook")
    algorithm.call_hook("after_train_step", "EMAHook")
    algorithm.it += 1


def worker(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    stand_ins: list[str] = []
    if args.side == "theirs":
        algorithm, stand_ins = their_algorithm(Path(args.authors), args.kind)
        batch = their_batch(args.kind)
        step = lambda: their_step(algorithm, batch)  # noqa: E731
    else:
        from benchmarks.harness import Shape, library_timer  # not in their process: its imports would count

        shape = Shape("BigEarthNet", "vit_small_patch16", IMAGE, BATCH_LB, URATIO, CLASSES, True)
        timer = library_timer(args.kind, shape, torch.device("cpu"), bf16=args.precision == "bf16")
        step = lambda: timer.step(1)  # noqa: E731
    setup_kib = rss_kib("VmRSS")
    seconds = []
    for _ in range(1 + args.steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return {
        "side": args.side,
        "kind": args.kind,
        "precision": args.precision,
        "warmup_s": seconds[0],
        "seconds": seconds[1:],
        "setup_mib": setup_kib / 1024,
        "peak_mib": rss_kib("VmHWM") / 1024,
        "stand_ins": stand_ins,
        "threads": torch.get_num_threads(),
    }


def cpu_description() -> str:
    info = Path("/proc/cpuinfo").read_text()
    field = lambda key: next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith(key)), "?")  # noqa: E731
    flags = set(field("flags").split())
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return (
        f"{field('model name')}, family {field('cpu family')} model {field('model')}, "
        f"{len([ln for ln in info.splitlines() if ln.startswith('processor')])} vCPUs, flags: {', '.join(wanted)}"
    )


def run_all(args: argparse.Namespace) -> list[dict]:
    from stssl.core.devices import cpu_has_bf16

    variants = [("ours", kind, "fp32") for kind in CONFIGS] + [("theirs", kind, "fp32") for kind in CONFIGS]
    if cpu_has_bf16():
        variants += [("ours", kind, "bf16") for kind in CONFIGS]
    results = []
    for round_ in range(args.rounds):
        # Alternate ours and theirs so that a change in the machine's state hits both alike.
        order = sorted(variants, key=lambda v: (v[1], v[0] != ("ours" if round_ % 2 == 0 else "theirs"), v[2]))
        for side, kind, precision in order:
            command = [
                sys.executable,
                __file__,
                "--worker",
                side,
                "--kind",
                kind,
                "--precision",
                precision,
                "--steps",
                str(args.steps),
                "--authors",
                args.authors,
            ]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            result = {**json.loads(out.strip().splitlines()[-1]), "round": round_}
            print(
                f"round {round_}: {side:6s} {kind:11s} {precision}: "
                f"{', '.join(f'{s:.2f}' for s in result['seconds'])} s/step, peak {result['peak_mib']:.0f} MiB",
                flush=True,
            )
            results.append(result)
    return results


def report(results: list[dict]) -> str:
    def pick(side, kind, precision="fp32"):
        rows = [r for r in results if (r["side"], r["kind"], r["precision"]) == (side, kind, precision)]
        return (
            (
                statistics.median(s for r in rows for s in r["seconds"]),
                statistics.median(r["peak_mib"] for r in rows),
                statistics.median(r["setup_mib"] for r in rows),
            )
            if rows
            else None
        )

    lines = [
        f"Machine: {cpu_description()}; Python {platform.python_version()}, torch {torch.__version__}, "
        f"{results[0]['threads']} threads; {datetime.date.today()}.",
        "",
        "| step | side | precision | s/step (median) | setup MiB | peak MiB | time vs theirs | memory vs theirs |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for kind in CONFIGS:
        theirs = pick("theirs", kind)
        for side, precision in (("theirs", "fp32"), ("ours", "fp32"), ("ours", "bf16")):
            mine = pick(side, kind, precision)
            if mine is None:
                continue
            lines.append(
                f"| {kind} | {side} | {precision} | {mine[0]:.2f} | {mine[2]:.0f} | {mine[1]:.0f} | "
                f"{mine[0] / theirs[0]:.2f}× | {mine[1] / theirs[1]:.2f}× |"
            )
    stand_ins = sorted({n for r in results for n in r["stand_ins"]})
    lines += ["", f"Stand-ins for their unused imports: {', '.join(stand_ins) or 'none'}."]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authors", required=True, help="a checkout of github.com/mxbh/spatiotemporal-ssl")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="timed steps per process, after one warm-up step")
    p.add_argument("--json", help="also write every process's figures here")
    p.add_argument("--worker", choices=("ours", "theirs"), help=argparse.SUPPRESS)
    p.add_argument("--kind", choices=tuple(CONFIGS), help=argparse.SUPPRESS)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help=argparse.SUPPRESS)
    args = p.parse_args()
    if not (Path(args.authors) / "semilearn").is_dir():
        sys.exit(
            f"{args.authors}: not a checkout of the authors' repository (no semilearn/ in it); "
            "git clone https://github.com/mxbh/spatiotemporal-ssl and pass its folder"
        )
    if args.worker:
        args.side = args.worker
        print(json.dumps(worker(args)))
        return
    results = run_all(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(report(results))


if __name__ == "__main__":
    main()
