"""Data: files -> volumes -> slices -> batches."""
from .datasets import DATASETS, dataset_root, get_dataset, load_part, load_volumes, split_for
from .splits import Split, fold_split
from .volumes import NUM_CLASSES, UNLABELLED, Volume, load_acdc

__all__ = ["DATASETS", "dataset_root", "get_dataset", "load_part", "load_volumes", "split_for", "Split", "fold_split",
           "NUM_CLASSES", "UNLABELLED", "Volume", "load_acdc"]
