"""Does one ST-FixMatch step at the paper's batch (64 labelled + 448 unlabelled) fit in 24 GB?

The paper trains ViT-S/16 at 128 px with 64 + 448 images per step: the teacher sees 960 images,
the student 512. The authors' code cannot fit that batch in this machine's 24 GB (on the CPU).
This script runs ``--steps`` full training steps (forward, loss, backward, AdamW) of
``stssl``'s ``STStep`` at that size and prints seconds per step and the peak resident set size
(``VmHWM``, the whole process: Python, torch, weights, optimizer state, activations), with and
without gradient checkpointing (``--checkpointing``). Inputs are random tensors: the cost of a
step does not depend on the pixels (``benchmarks/harness.py``'s networks, step and views; no EMA).

    PYTHONPATH=. python benchmarks/paper_batch_memory.py --checkpointing
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.harness import LR, WEIGHT_DECAY, Shape, build_step, peak_rss_kib, random_views
from stssl.training.module import make_optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-lb", type=int, default=64)
    parser.add_argument("--uratio", type=int, default=7)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--checkpointing", action="store_true")
    args = parser.parse_args()
    b_l, b_u = args.batch_lb, args.batch_lb * args.uratio

    torch.manual_seed(0)
    shape = Shape("BigEarthNet", "vit_small_patch16", 128, args.batch_lb, args.uratio, 43, True)
    nets, step = build_step("ST-FixMatch", shape)
    for net in nets.train().values():
        net.grad_checkpointing = args.checkpointing
    opt = make_optimizer(nets, LR, WEIGHT_DECAY)  # foreach on the CPU
    views = random_views("ST-FixMatch", shape, torch.device("cpu"))
    setup = peak_rss_kib() / 1024
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
        f"peak RSS {peak_rss_kib() / 1024:.0f} MiB (after set-up: {setup:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
