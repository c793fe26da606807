"""Datasets for supervised intrinsic-dimension runs: embedded 8×8 digits and MNIST from IDX files.

* ``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, shipped with the package, no
  download), split once into train/test with a fixed seed, stratified by class (20 % test).
* ``mnist``: the four standard IDX files (raw or ``.gz``) in a directory the user names
  (``data_dir`` argument, else the ``RLSUB_DATA_DIR`` environment variable). Nothing is
  downloaded. Any IDX file in that layout works (e.g. Fashion-MNIST).

Images come back as float32 ``[N, 1, H, W]`` in [0, 1] and labels as int64 ``[N]``.

>>> ds = load_dataset("digits")
>>> ds.x_train.shape[1:], ds.n_classes
((1, 8, 8), 10)
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rlsub.errors import ConfigError
from rlsub.utils.seeding import np_generator

#: Environment variable naming the MNIST directory when no ``data_dir`` is given.
DATA_DIR_ENV = "RLSUB_DATA_DIR"

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: IDX type byte → big-endian numpy dtype.
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: Fixed seed of the digits train/test split: the test set is the same for every trial.
DIGITS_SPLIT_SEED = 20180424
DIGITS_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Dataset:
    """A train/test split of images ``[N, C, H, W]`` (float32 in [0, 1]) and int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int = 10
    source: str = ""

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def train_size(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def test_size(self) -> int:
        return int(self.y_test.shape[0])

    def tensors(self, device: str | torch.device = "cpu") -> tuple[torch.Tensor, ...]:
        """``(x_train, y_train, x_test, y_test)`` as tensors on ``device`` (kept in memory)."""
        dev = torch.device(device)
        return tuple(
            torch.from_numpy(a).to(dev) for a in (self.x_train, self.y_train, self.x_test, self.y_test)
        )


# -- IDX --------------------------------------------------------------------------------------
def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode an IDX blob: magic ``00 00 type ndim``, ndim big-endian uint32 sizes, then the data.

    Raises ConfigError (naming ``name``) on a bad magic number, unknown type, or a payload whose
    size does not match the header (truncated or with trailing bytes).
    """
    if len(data) < 4:
        raise ConfigError(f"{name}: not an IDX file (only {len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise ConfigError(f"{name}: bad IDX magic number 0x{data[:4].hex()} (expected 0x0000TTNN)")
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_TYPES:
        raise ConfigError(f"{name}: unknown IDX data type 0x{type_code:02x} (magic 0x{data[:4].hex()})")
    if ndim == 0:
        raise ConfigError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ConfigError(f"{name}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise ConfigError(f"{name}: truncated IDX data ({got} bytes after the header, dims {dims} need {expected})")
    if got > expected:
        raise ConfigError(f"{name}: {got - expected} unexpected trailing bytes after IDX data of dims {dims}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed when its name ends in ``.gz``."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ConfigError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    return parse_idx(data, str(path))


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """``data_dir``, else ``$RLSUB_DATA_DIR``; ConfigError if neither names a directory."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
    if data_dir is None:
        raise ConfigError(
            f"MNIST needs a data directory: pass data_dir or set {DATA_DIR_ENV} to a folder holding "
            f"{', '.join(MNIST_FILES.values())} (raw or .gz)"
        )
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise ConfigError(f"MNIST data directory {path} does not exist or is not a directory")
    return path


def _find_idx(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{directory / stem}[.gz]: MNIST file missing")


def read_mnist(data_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The four MNIST arrays as stored: images uint8 ``[N, 28, 28]``, labels uint8 ``[N]``.

    Checks that images are 3-D 28×28, labels 1-D in 0..9, and that image and label counts match.
    """
    directory = resolve_data_dir(data_dir)
    out: dict[str, np.ndarray] = {}
    paths = {key: _find_idx(directory, stem) for key, stem in MNIST_FILES.items()}
    for key, path in paths.items():
        arr = read_idx(path)
        if arr.dtype != np.uint8:
            raise ConfigError(f"{path}: expected unsigned bytes, got IDX type {arr.dtype}")
        if key.endswith("images") and (arr.ndim != 3 or arr.shape[1:] != (28, 28)):
            raise ConfigError(f"{path}: expected images of shape [N, 28, 28], got {list(arr.shape)}")
        if key.endswith("labels"):
            if arr.ndim != 1:
                raise ConfigError(f"{path}: expected a 1-D label vector, got shape {list(arr.shape)}")
            if arr.size and arr.max() > 9:
                raise ConfigError(f"{path}: label {int(arr.max())} out of range 0..9")
        out[key] = arr
    for split in ("train", "test"):
        n_img, n_lab = len(out[f"{split}_images"]), len(out[f"{split}_labels"])
        if n_img != n_lab:
            raise ConfigError(
                f"{paths[f'{split}_images']}: {n_img} images but {paths[f'{split}_labels'].name} has {n_lab} labels"
            )
    return out


def _mtimes(directory: Path) -> tuple[tuple[str, int, int], ...]:
    stats = []
    for stem in MNIST_FILES.values():
        for p in (directory / stem, directory / f"{stem}.gz"):
            if p.is_file():
                st = p.stat()
                stats.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(stats)


@functools.lru_cache(maxsize=2)
def _load_mnist_cached(directory: str, _stamp: tuple) -> Dataset:
    raw = read_mnist(directory)

    def images(a: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) / 255.0)[:, None]

    return Dataset(
        name="mnist",
        x_train=images(raw["train_images"]),
        y_train=raw["train_labels"].astype(np.int64),
        x_test=images(raw["test_images"]),
        y_test=raw["test_labels"].astype(np.int64),
        source=directory,
    )


def load_mnist(data_dir: str | os.PathLike | None = None) -> Dataset:
    """MNIST as a Dataset (cached per directory and file timestamps, so sweeps read it once)."""
    directory = resolve_data_dir(data_dir).resolve()
    return _load_mnist_cached(str(directory), _mtimes(directory))


# -- digits -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def load_digits() -> Dataset:
    """scikit-learn's 8×8 digits, split 80/20 per class with a fixed seed (same split always)."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]  # pixel values are 0..16
    y = bunch.target.astype(np.int64)
    rng = np_generator(DIGITS_SPLIT_SEED, "digits-split")
    test_idx = []
    for c in range(10):
        members = np.flatnonzero(y == c)
        members = members[rng.permutation(members.size)]
        test_idx.append(members[: int(round(DIGITS_TEST_FRACTION * members.size))])
    test = np.zeros(y.size, dtype=bool)
    test[np.concatenate(test_idx)] = True
    return Dataset(
        name="digits",
        x_train=np.ascontiguousarray(x[~test]),
        y_train=y[~test],
        x_test=np.ascontiguousarray(x[test]),
        y_test=y[test],
        source="sklearn.datasets.load_digits",
    )


DATASETS = ("digits", "mnist")


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load ``digits`` (embedded) or ``mnist`` (from ``data_dir`` / ``$RLSUB_DATA_DIR``)."""
    if name == "digits":
        return load_digits()
    if name == "mnist":
        return load_mnist(data_dir)
    raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "Dataset",
    "MNIST_FILES",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "parse_idx",
    "read_idx",
    "read_mnist",
]
