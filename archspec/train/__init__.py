"""Training specs on real data with the paper's recipe: ``archspec train/eval/experiment``.

Data flows ``datasets`` (read files into uint8 arrays) -> ``pipeline`` (fit to the spec's
input, the paper's augmentation, batches as a pure function of the step) -> a backend
trainer (``archspec.backends.pytorch.trainer`` or ``archspec.backends.nnx.trainer``)
driven by ``loop``, which writes the run folder (``runfolder``: config, ``metrics.csv``,
checkpoints; ``plots``: curves). Nothing here imports a framework at module level.
"""
