"""What CIM matched: :mod:`.matching` (a trained model's attention on a case, the training slices it saw,
as the matching notebook and the explorer show them) and :mod:`.purity` (how class-pure its banks can be).
"""
