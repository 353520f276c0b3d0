"""Switching a network's mode for a moment."""

from __future__ import annotations

from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(net: nn.Module):
    """Temporarily in eval mode (no stochastic depth), restoring the previous mode after."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)
