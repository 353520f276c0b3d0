"""Supervised baseline: labelled images only (spec 4.1)."""

from stssl.algorithms.base import SSLAlgorithm


class Supervised(SSLAlgorithm):
    name = "supervised"
    uses_unlabelled = False
