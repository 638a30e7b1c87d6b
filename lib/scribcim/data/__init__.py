"""Data: files -> volumes -> slices -> batches."""
from .datasets import DATASETS, get_dataset, load_part, split_for
from .splits import Split, fold_split
from .volumes import NUM_CLASSES, UNLABELLED, Volume, load_acdc

__all__ = ["DATASETS", "get_dataset", "load_part", "split_for", "Split", "fold_split",
           "NUM_CLASSES", "UNLABELLED", "Volume", "load_acdc"]
