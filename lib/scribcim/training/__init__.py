"""Training: the one loop (:mod:`.loop`), its run set-up (:mod:`.run_setup`), the method plug-ins and their
registry (:mod:`.methods`), losses, the weight average (:mod:`.ema`) and packed GPU runs (:mod:`.packed`).

Import the modules themselves (``from scribcim.training.loop import train``): this package imports nothing, so
that the configuration can ask the method registry without pulling in the loop.
"""
