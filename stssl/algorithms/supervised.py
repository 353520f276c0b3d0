"""Supervised baseline: labelled images only (the authors'
``semilearn/algorithms/fullysupervised/fullysupervised.py``)."""

from stssl.algorithms.base import SSLAlgorithm, register_algorithm


@register_algorithm
class Supervised(SSLAlgorithm):
    name = "supervised"
    uses_unlabelled = False
