"""Does one ST-FixMatch step at the paper's batch (64 labelled + 448 unlabelled) fit in 24 GB?

The paper trains ViT-S/16 at 128 px with 64 + 448 images per step: the teacher sees 960 images,
the student 512. The authors' code cannot fit that batch in this machine's 24 GB (on the CPU).
This script runs ``--steps`` full training steps (forward, loss, backward, AdamW) of
``stssl``'s ``STStep`` at that size and prints seconds per step and the peak resident set size
(``VmHWM``, the whole process: Python, torch, weights, optimizer state, activations), with and
without gradient checkpointing (``--checkpointing``). Inputs are random tensors: the cost of a
step does not depend on the pixels.

    python benchmarks/paper_batch_memory.py --checkpointing
"""

from __future__ import annotations

import argparse
import time

import torch

from stssl.algorithms import TaskContext, build_algorithm
from stssl.algorithms.steps import STStep, Views
from stssl.meta import encode_meta
from stssl.models import build_teacher_student
from stssl.train import param_groups


def peak_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-lb", type=int, default=64)
    parser.add_argument("--uratio", type=int, default=7)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--checkpointing", action="store_true")
    args = parser.parse_args()
    b_l, b_u = args.batch_lb, args.batch_lb * args.uratio

    torch.manual_seed(0)
    teacher, student = build_teacher_student("vit_small_patch16", 128, 43)
    nets = torch.nn.ModuleDict({"teacher": teacher, "student": student}).train()
    for net in nets.values():
        net.grad_checkpointing = args.checkpointing
    step = STStep(build_algorithm("fixmatch", TaskContext(multilabel=True, num_classes=43)), lambda_d=1.0)
    opt = torch.optim.AdamW(param_groups(nets, 5e-4), lr=1e-4, foreach=True)

    def meta(n: int) -> torch.Tensor:
        return encode_meta(torch.rand(n) * 20 + 40, torch.rand(n) * 30 - 10, torch.randint(1, 366, (n,)).float())

    views = Views(
        x_lb=torch.randn(b_l, 3, 128, 128),
        y_lb=(torch.rand(b_l, 43) < 0.2).float(),
        meta_lb=meta(b_l),
        x_w=torch.randn(b_u, 3, 128, 128),
        x_s=torch.randn(b_u, 3, 128, 128),
        meta_u=meta(b_u),
    )
    setup = peak_rss_mib()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        step(nets, views, 0.0, backward_teacher=torch.Tensor.backward).loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    print(
        f"ST-FixMatch, ViT-S/16 at 128 px, {b_l} + {b_u} images, gradient checkpointing "
        f"{'on' if args.checkpointing else 'off'}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        f"seconds per step: {', '.join(f'{t:.1f}' for t in times)}; "
        f"peak RSS {peak_rss_mib():.0f} MiB (after set-up: {setup:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
