"""Data for training: MNIST and Fashion-MNIST (IDX files), CSV tables, the embedded 8x8 digits, toy 2-D sets.

Every loader returns NumPy arrays: features ``x`` of shape (n_samples, n_features) and
labels ``y`` of shape (n_samples,). Files are read from a folder you name, else
``$CHAINRULE_DATA``, else the user cache; nothing is downloaded unless you ask
(``download=True``), and published files are checked against their checksums.
"""

from chainrule.datasets.files import cache_dir
from chainrule.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from chainrule.datasets.memmap import csv_to_npy, map_idx, open_npy
from chainrule.datasets.mnist import FASHION_LABELS, load_mnist
from chainrule.datasets.tabular import load_csv, load_digits, split_data
from chainrule.datasets.toy import TOY_SETS, circles, gaussians, moons, spirals, xor

__all__ = [
    "load_mnist", "read_idx", "IMAGES_MAGIC", "LABELS_MAGIC", "FASHION_LABELS", "cache_dir",
    "load_csv", "load_digits", "split_data", "open_npy", "map_idx", "csv_to_npy",
    "xor", "circles", "moons", "spirals", "gaussians", "TOY_SETS",
]
