"""The paper's experiments, one module per table or figure: which runs each needs, and how
their results are laid out beside the paper's.

Every module offers ``configs(profile, dataset=None, data_root=None, seeds=3, device="auto", ...)``,
the list of :class:`~stssl.config.RunConfig` it needs (``dataset=None``: the profile's own data
set), so a notebook and the reproduction summary ask for exactly the same runs, and the run
cache trains each of them once. Its ``table(runs)`` (or ``plot``) turns the finished runs into
the page's result.
"""
