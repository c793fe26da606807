"""Datasets: the embedded digits split and the MNIST IDX reader (real files and corrupted copies)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from rlsub.errors import ConfigError
from rlsub.supervised.datasets import (
    DATA_DIR_ENV,
    MNIST_FILES,
    load_dataset,
    load_digits,
    load_mnist,
    parse_idx,
    read_idx,
    read_mnist,
)

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared/data/mnist"
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists() and not (MNIST_DIR / "train-images-idx3-ubyte").exists(),
    reason=f"real MNIST IDX files not found in {MNIST_DIR}",
)


def idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    """Encode ``arr`` as an IDX blob (big-endian header and data)."""
    dtype = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.asarray(arr, dtype=dtype).tobytes()


def write_fake_mnist(directory: Path, n_train: int = 12, n_test: int = 5, gz: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for key, arr in arrays.items():
        blob = idx_bytes(arr)
        if gz:
            (directory / f"{MNIST_FILES[key]}.gz").write_bytes(gzip.compress(blob))
        else:
            (directory / MNIST_FILES[key]).write_bytes(blob)
    return arrays


# -- digits -----------------------------------------------------------------------------------
def test_digits_split_fixed_stratified_and_normalised():
    ds = load_digits()
    assert ds.x_train.shape == (1438, 1, 8, 8) and ds.x_test.shape == (359, 1, 8, 8)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    counts = np.bincount(ds.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 20 % of each class
    from sklearn.datasets import load_digits as sk

    # Train and test are disjoint and together are the whole data set (no row lost or repeated).
    flat = sk().images.reshape(len(sk().images), -1).astype(np.float32) / 16
    both = np.concatenate([ds.x_train, ds.x_test]).reshape(-1, 64)
    assert sorted(map(bytes, both)) == sorted(map(bytes, flat))
    load_digits.cache_clear()
    again = load_digits()
    np.testing.assert_array_equal(again.y_test, ds.y_test)
    np.testing.assert_array_equal(again.x_test, ds.x_test)


def test_unknown_dataset():
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_dataset("cifar")


# -- IDX parser -------------------------------------------------------------------------------
def test_parse_idx_roundtrip_types():
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    np.testing.assert_array_equal(parse_idx(idx_bytes(a, 0x0C)), a)
    f = np.linspace(-1, 1, 6, dtype=np.float32)
    out = parse_idx(idx_bytes(f, 0x0D))
    assert out.dtype == np.float32 and out.dtype.byteorder in "=|"
    np.testing.assert_array_equal(out, f)


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"\x00\x00", "not an IDX file"),
        (b"\x08\x03\x00\x00" + b"\x00" * 20, "bad IDX magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01x", "unknown IDX data type"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
        (idx_bytes(np.zeros((3, 2), np.uint8))[:-1], "truncated IDX data"),
        (idx_bytes(np.zeros((3, 2), np.uint8)) + b"\x00", "trailing bytes"),
    ],
)
def test_parse_idx_rejects_bad_blobs(blob, message):
    with pytest.raises(ConfigError, match=message) as e:
        parse_idx(blob, "some-file")
    assert "some-file" in str(e.value) and "\n" not in str(e.value)


# -- MNIST layout (synthetic files) -----------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_read_mnist_synthetic(tmp_path, gz):
    arrays = write_fake_mnist(tmp_path, gz=gz)
    out = read_mnist(tmp_path)
    for key, arr in arrays.items():
        np.testing.assert_array_equal(out[key], arr)
    ds = load_mnist(tmp_path)
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_train.dtype == np.float32
    np.testing.assert_allclose(ds.x_test[:, 0], arrays["test_images"] / 255.0, rtol=1e-6)
    assert ds.y_train.dtype == np.int64


def test_mnist_missing_file(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ConfigError, match=r"t10k-labels-idx1-ubyte\[\.gz\]: MNIST file missing"):
        read_mnist(tmp_path)


def test_mnist_truncated_gzip_and_raw(tmp_path):
    write_fake_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])  # cut inside the compressed stream
    with pytest.raises(ConfigError, match="train-images-idx3-ubyte.gz"):
        read_mnist(tmp_path)
    raw = tmp_path / "raw"
    write_fake_mnist(raw, gz=False)
    p = raw / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ConfigError, match="train-images-idx3-ubyte: truncated IDX data"):
        read_mnist(raw)


def test_mnist_not_gzip(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"this is not gzip data at all")
    with pytest.raises(ConfigError, match="train-labels-idx1-ubyte.gz: cannot read"):
        read_mnist(tmp_path)


def test_mnist_wrong_magic(tmp_path):
    write_fake_mnist(tmp_path, gz=False)
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(b"\x01\x02" + p.read_bytes()[2:])
    with pytest.raises(ConfigError, match="t10k-images-idx3-ubyte: bad IDX magic"):
        read_mnist(tmp_path)


def test_mnist_count_mismatch(tmp_path):
    write_fake_mnist(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(11, np.uint8)))
    with pytest.raises(ConfigError, match="12 images but train-labels-idx1-ubyte has 11 labels"):
        read_mnist(tmp_path)


def test_mnist_wrong_shapes_and_labels(tmp_path):
    write_fake_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((5, 8, 8), np.uint8)))
    with pytest.raises(ConfigError, match=r"expected images of shape \[N, 28, 28\]"):
        read_mnist(tmp_path)
    write_fake_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(5, 10, np.uint8)))
    with pytest.raises(ConfigError, match="label 10 out of range"):
        read_mnist(tmp_path)


def test_mnist_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(ConfigError, match=DATA_DIR_ENV):
        read_mnist(None)
    with pytest.raises(ConfigError, match="does not exist"):
        read_mnist(tmp_path / "nowhere")
    write_fake_mnist(tmp_path)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert read_mnist()["train_images"].shape == (12, 28, 28)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        read_idx(tmp_path / "x.gz")


# -- real MNIST -------------------------------------------------------------------------------
@needs_mnist
def test_read_real_mnist():
    out = read_mnist(MNIST_DIR)
    assert out["train_images"].shape == (60000, 28, 28) and out["train_images"].dtype == np.uint8
    assert out["test_images"].shape == (10000, 28, 28) and out["test_images"].dtype == np.uint8
    assert out["train_labels"].shape == (60000,) and out["test_labels"].shape == (10000,)
    for key in ("train_labels", "test_labels"):
        assert out[key].dtype == np.uint8
        assert set(np.unique(out[key])) == set(range(10))
    assert out["train_images"].max() == 255 and out["train_images"].min() == 0
