"""Jobs that compose training, evaluation and reports: :mod:`.reproduce` (``make reproduce``), :mod:`.ablation`,
:mod:`.bench` (the training-step benchmark) and :mod:`.redraw` (``scribcim figures``: every committed figure).
"""
