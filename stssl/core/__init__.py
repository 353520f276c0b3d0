"""The ground floor: what every other part of stssl may use and which uses nothing of stssl.

:mod:`~stssl.core.checks` (valid values and one-line errors), :mod:`~stssl.core.files` (the one
atomic write and the one "write a partial folder, then rename"), :mod:`~stssl.core.locks` (a lock
per run across processes and machines) and :mod:`~stssl.core.devices` (device names and what this
machine has).
"""
