"""How fast and how big is one training step, and what does batching the views buy?

The library's steps (``STStep``, ``PlainStep``) forward the weak unlabelled view under
``no_grad`` (it only yields detached pseudo-labels) and every view that needs a gradient in one
concatenated batch per network: teacher ``[x_lb; x_s]`` with metadata, student ``[x_lb; x_s]``.
This script times one full training step (forward, loss, backward, AdamW step, EMA: the library's
step outside Lightning, ``benchmarks/harness.py``'s ``StepTimer``) of three implementations with
the same maths, in the same run:

* ``fused``    the library step as it trains (``STStep``, the teacher back-propagated before the
  student's forward, or ``PlainStep``);
* ``naive``    the same, but every view is its own forward call (teacher: ``x_lb``, ``x_w``,
  ``x_s``; student: ``x_lb``, ``x_s``), the weak view still under ``no_grad``;
* ``onebatch`` the authors' layout (``stssl_fixmatch.py``): the teacher forwards ``[x_lb; x_w; x_s]`` in one
  batch *with* gradient, the student ``[x_lb; x_s]``.

``naive`` and ``onebatch`` back-propagate once, after the step, as the authors do.

* Before timing, every variant is run once on identical weights and inputs in eval mode (no
  stochastic depth); losses and gradients must match the library step's, or the comparison is
  void.
* Timed repetitions rotate the order of the variants every repetition, to spread thermal and
  scheduler drift evenly; medians are reported.
* Throughput counts every image forwarded through every network, with or without gradient:
  ST teacher ``B_l + 2 B_u`` plus student ``B_l + B_u``; plain ``B_l + 2 B_u``.
* Then a fresh subprocess per variant builds that variant only and runs the same warm-up and
  timed steps, closer to a real training process: it reports their median time ("solo"; the
  allocator state differs from the shared process, which can move the seconds by 10-20 %) and
  its peak resident set size (``VmHWM``): the whole process (Python, torch, weights, AdamW
  state, activations, allocator caching), not just tensors. Step 2 is the first to hold
  activations, gradients and AdamW state at once, so at least two steps are run. (``ru_maxrss``
  is not used: a child started by fork + exec inherits the parent's high-water mark.)
* The CPU time used by *other* processes while timing (interleaved and solo) is printed: on a
  shared machine, contention inflates the seconds (and, with spinning OpenMP threads, can
  distort the ratios), so a run with more than a few percent of foreign CPU should be repeated.

Inputs are random tensors (images after normalisation, valid metadata, random multi-hot
labels): the cost of a step does not depend on what the pixels show. Data loading and
augmentation are not included.

From the repository root:

    PYTHONPATH=. python benchmarks/step_speed.py                 # the cpu profile's sizes, ST-FixMatch
    PYTHONPATH=. python benchmarks/step_speed.py --plain         # plain FixMatch (PlainStep)
    PYTHONPATH=. python benchmarks/step_speed.py --paper-size    # ViT-S/16, 128 px, 8 + 56 images
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from benchmarks.harness import Shape, StepTimer, build_step, peak_rss_kib, random_views, timed
from stssl.algorithms import PseudoLabels, SSLAlgorithm
from stssl.algorithms.steps import StepResult, Views, distillation_loss

VARIANTS = ("fused", "naive", "onebatch")
LAMBDA_D = 1.0  # the library step's; any lambda_d > 0 costs the same
CPU = torch.device("cpu")
PAPER_SIZE = dict(model="vit_small_patch16", image_size=128, batch_lb=8, uratio=7, classes=43)


def st_loss(algo: SSLAlgorithm, v: Views, pl: PseudoLabels, zt_lb, zt_s, zs_lb, zs_s, t_token, s_token) -> torch.Tensor:
    """ST-FixMatch's loss (as the authors' ``stssl_fixmatch.py``); tokens are over ``[x_lb; x_s]``."""
    return (
        algo.supervised_loss(zt_lb, v.y_lb)
        + algo.lambda_u * algo.unsupervised_loss(zt_s, pl)
        + algo.supervised_loss(zs_lb, v.y_lb)
        + algo.lambda_u * algo.unsupervised_loss(zs_s, pl)
        + LAMBDA_D * distillation_loss(s_token, t_token.detach(), "mse")
    )


def plain_loss(algo: SSLAlgorithm, v: Views, pl: PseudoLabels, z_lb, z_s) -> torch.Tensor:
    return algo.supervised_loss(z_lb, v.y_lb) + algo.lambda_u * algo.unsupervised_loss(z_s, pl)


class _BaselineStep(nn.Module):
    """A step with another forward layout than the library's, for comparison (called as the
    library's steps are; FixMatch pseudo-labels with the live networks, not ``ema_nets``)."""

    def __init__(self, algo: SSLAlgorithm):
        super().__init__()
        self.algo = algo


class NaiveSTStep(_BaselineStep):
    def forward(self, nets: nn.ModuleDict, v: Views, progress: float, ema_nets=None) -> StepResult:
        teacher, student = nets["teacher"], nets["student"]
        with torch.no_grad():
            pl = self.algo.pseudo_label(teacher(v.x_w, v.meta_u).logits, progress)
        t_lb, t_s = teacher(v.x_lb, v.meta_lb), teacher(v.x_s, v.meta_u)
        s_lb, s_s = student(v.x_lb), student(v.x_s)
        loss = st_loss(
            self.algo,
            v,
            pl,
            t_lb.logits,
            t_s.logits,
            s_lb.logits,
            s_s.logits,
            torch.cat([t_lb.token, t_s.token]),
            torch.cat([s_lb.token, s_s.token]),
        )
        return StepResult(loss, {}, pl)


class OneBatchSTStep(_BaselineStep):
    def forward(self, nets: nn.ModuleDict, v: Views, progress: float, ema_nets=None) -> StepResult:
        b_l, b_u = len(v.x_lb), len(v.x_w)
        t = nets["teacher"](torch.cat([v.x_lb, v.x_w, v.x_s]), torch.cat([v.meta_lb, v.meta_u, v.meta_u]))
        s = nets["student"](torch.cat([v.x_lb, v.x_s]))
        zt_lb, zt_w, zt_s = t.logits.split([b_l, b_u, b_u])
        zs_lb, zs_s = s.logits.split([b_l, b_u])
        pl = self.algo.pseudo_label(zt_w.detach(), progress)
        loss = st_loss(
            self.algo, v, pl, zt_lb, zt_s, zs_lb, zs_s, torch.cat([t.token[:b_l], t.token[b_l + b_u :]]), s.token
        )
        return StepResult(loss, {}, pl)


class NaivePlainStep(_BaselineStep):
    def forward(self, nets: nn.ModuleDict, v: Views, progress: float, ema_nets=None) -> StepResult:
        model = nets["model"]
        with torch.no_grad():
            pl = self.algo.pseudo_label(model(v.x_w).logits, progress)
        return StepResult(plain_loss(self.algo, v, pl, model(v.x_lb).logits, model(v.x_s).logits), {}, pl)


class OneBatchPlainStep(_BaselineStep):
    def forward(self, nets: nn.ModuleDict, v: Views, progress: float, ema_nets=None) -> StepResult:
        b_l, b_u = len(v.x_lb), len(v.x_w)
        z_lb, z_w, z_s = nets["model"](torch.cat([v.x_lb, v.x_w, v.x_s])).logits.split([b_l, b_u, b_u])
        pl = self.algo.pseudo_label(z_w.detach(), progress)
        return StepResult(plain_loss(self.algo, v, pl, z_lb, z_s), {}, pl)


def make_variants(args) -> tuple[nn.ModuleDict, dict[str, nn.Module], Views]:
    """The networks, the three steps and the views."""
    kind = "FixMatch" if args.plain else "ST-FixMatch"
    shape = Shape(kind, args.model, args.image_size, args.batch_lb, args.uratio, args.classes, True)
    nets, fused = build_step(kind, shape)
    if args.plain:
        steps = {"fused": fused, "naive": NaivePlainStep(fused.algo), "onebatch": OneBatchPlainStep(fused.algo)}
    else:
        steps = {"fused": fused, "naive": NaiveSTStep(fused.algo), "onebatch": OneBatchSTStep(fused.algo)}
    return nets, steps, random_views(kind, shape, CPU)


def images_per_step(args) -> int:
    b_l, b_u = args.batch_lb, args.batch_lb * args.uratio
    return b_l + 2 * b_u if args.plain else (b_l + 2 * b_u) + (b_l + b_u)


def check_equivalence(nets: nn.ModuleDict, steps: dict[str, nn.Module], views: Views) -> float:
    """Every variant must give the library step's loss and gradients (eval mode: no stochastic depth)."""
    nets = copy.deepcopy(nets).eval()
    losses, grads = {}, {}
    for name, step_fn in steps.items():
        nets.zero_grad(set_to_none=True)
        loss = step_fn(nets, views, 0.0).loss
        loss.backward()
        losses[name] = loss.detach()
        grads[name] = torch.cat([p.grad.flatten() for p in nets.parameters() if p.grad is not None])
    scale = grads["fused"].abs().max().item()
    for name in steps:
        torch.testing.assert_close(losses[name], losses["fused"], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(grads[name], grads["fused"], rtol=1e-3, atol=1e-4 * scale)
    return losses["fused"].item()


def time_interleaved(args, nets: nn.ModuleDict, steps: dict[str, nn.Module], views: Views) -> dict[str, list[float]]:
    """Warm-up then timed repetitions of every variant, rotating their order each repetition."""
    trainers = {name: StepTimer(copy.deepcopy(nets), step_fn, views, CPU, args.bf16) for name, step_fn in steps.items()}
    names = list(trainers)
    times: dict[str, list[float]] = {name: [] for name in names}
    total = args.warmup + args.steps
    for rep in range(total):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        last = {name: timed(trainers[name].step, CPU)[1] for name in order}
        if rep >= args.warmup:
            for name, seconds in last.items():
                times[name].append(seconds)
        print(
            f"  rep {rep + 1}/{total} ({'warm-up' if rep < args.warmup else 'timed'}): "
            + ", ".join(f"{name} {seconds:.3f}s" for name, seconds in last.items()),
            file=sys.stderr,
            flush=True,
        )
    return times


def cpu_seconds() -> tuple[float, float]:
    """(busy CPU-s of the machine since boot, CPU-s of this process and its finished children)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    own = os.times()
    busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    return busy, own.user + own.system + own.children_user + own.children_system


def solo_worker(args) -> None:
    """Subprocess body: build one variant, run its warm-up and timed steps, print times and RSS as JSON."""
    torch.manual_seed(0)
    nets, steps, views = make_variants(args)
    timer = StepTimer(nets, steps[args.worker], views, CPU, args.bf16)
    setup_kib = peak_rss_kib()
    seconds = [timed(timer.step, CPU)[1] for _ in range(args.warmup + args.steps)][args.warmup :]
    print(json.dumps({"seconds": statistics.median(seconds), "setup_kib": setup_kib, "peak_kib": peak_rss_kib()}))


def run_solo(variant: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, *sys.argv[1:], "--worker", variant]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def report(args, times: dict[str, list[float]], solo: dict[str, dict[str, float]] | None) -> None:
    n_img = images_per_step(args)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"\n{'variant':<9} {'median s/step':>13} {'min':>8} {'max':>8} {'img/step':>8} {'img/s':>8}"
        + (f" {'solo s/step':>11} {'setup RSS MiB':>13} {'peak RSS MiB':>12}" if solo else "")
    )
    for name, t in times.items():
        row = f"{name:<9} {median[name]:>13.4f} {min(t):>8.4f} {max(t):>8.4f} {n_img:>8d} {n_img / median[name]:>8.1f}"
        if solo:
            s = solo[name]
            row += f" {s['seconds']:>11.4f} {s['setup_kib'] / 1024:>13.0f} {s['peak_kib'] / 1024:>12.0f}"
        print(row)
    for other in ("naive", "onebatch"):
        line = f"fused/{other}: time {median['fused'] / median[other]:.3f}"
        if solo:
            line += (
                f", solo time {solo['fused']['seconds'] / solo[other]['seconds']:.3f}"
                f", peak RSS {solo['fused']['peak_kib'] / solo[other]['peak_kib']:.3f}"
            )
        print(line)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="vit_tiny_patch8")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch-lb", type=int, default=16)
    p.add_argument("--uratio", type=int, default=3, help="unlabelled batch = batch_lb x uratio")
    p.add_argument("--classes", type=int, default=12, help="multi-label classes")
    p.add_argument(
        "--steps", type=int, default=None, help="timed repetitions per variant (default 30; 3 with --paper-size)"
    )
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed repetitions per variant (default 5; 1 with --paper-size)"
    )
    p.add_argument(
        "--paper-size",
        action="store_true",
        help="vit_small_patch16, 128 px, 8 labelled + 56 unlabelled, 43 classes (overrides size options)",
    )
    p.add_argument("--plain", action="store_true", help="benchmark plain FixMatch (PlainStep) instead of ST-FixMatch")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="time the steps under CPU bf16 autocast (the paper profile's 'bf16-mixed'); "
        "the equivalence check stays fp32",
    )
    p.add_argument("--no-solo", action="store_true", help="skip the fresh-process runs (solo time, peak RSS)")
    p.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)  # internal: the solo subprocess
    args = p.parse_args()
    if args.paper_size:
        vars(args).update(PAPER_SIZE)
    if args.steps is None:
        args.steps = 3 if args.paper_size else 30
    if args.warmup is None:
        args.warmup = 1 if args.paper_size else 5
    if args.steps < 1 or args.warmup + args.steps < 2:
        p.error("need at least one timed step and two steps in all")
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        solo_worker(args)
        return
    b_u = args.batch_lb * args.uratio
    print(
        f"{'FixMatch' if args.plain else 'ST-FixMatch'}: {args.model}, {args.image_size} px, "
        f"{args.classes} classes (multi-label), B_l {args.batch_lb} + B_u {b_u}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {'bf16 autocast' if args.bf16 else 'fp32'}; "
        f"{args.warmup} warm-up + {args.steps} timed steps per variant, interleaved"
    )
    torch.manual_seed(0)
    nets, steps, views = make_variants(args)
    loss = check_equivalence(nets, steps, views)
    print(f"equivalence check passed: all variants give loss {loss:.6f} and the same gradients")
    (busy0, own0), wall0 = cpu_seconds(), time.perf_counter()
    times = time_interleaved(args, nets, steps, views)
    solo = None if args.no_solo else {name: run_solo(name) for name in steps}
    (busy1, own1), wall = cpu_seconds(), time.perf_counter() - wall0
    foreign = max(0.0, (busy1 - busy0) - (own1 - own0))
    print(
        f"other processes used {foreign:.1f} CPU-s during the {wall:.1f} s of timing "
        f"({100 * foreign / (wall * os.cpu_count()):.0f}% of {os.cpu_count()} cores)"
    )
    report(args, times, solo)


if __name__ == "__main__":
    main()
