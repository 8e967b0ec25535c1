"""Data loaders: real MNIST / Fashion-MNIST checked against published figures, broken files, toy sets, CSV."""

from __future__ import annotations

import functools
import gzip
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from chainrule import datasets
from chainrule.datasets import files
from chainrule.errors import ConfigError, DataError

# Published label counts (the data README; LeCun et al. for MNIST, Xiao et al. for Fashion-MNIST).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@functools.cache
def _load(root: Path, kind: str):
    return datasets.load_mnist(root, kind=kind, dtype=np.uint8)


def _idx_bytes(magic: int, shape: tuple[int, ...], data: bytes) -> bytes:
    return np.array([magic, *shape], dtype=">u4").tobytes() + data


def _write_gz(path: Path, content: bytes) -> None:
    with gzip.open(path, "wb") as stream:
        stream.write(content)


# ----------------------------------------------------------------------------- real files
def test_mnist_label_counts_and_shapes_match_published(shared_data):
    (x_train, y_train), (x_test, y_test) = _load(shared_data, "mnist")
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    # The first training labels as printed in countless tutorials.
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_mnist_pixel_statistics_match_the_usual_normalisation_constants(shared_data):
    # transforms.Normalize((0.1307,), (0.3081,)) in the PyTorch MNIST example; 0.2860 / 0.3530 for Fashion.
    for kind, mean, std in (("mnist", 0.1307, 0.3081), ("fashion", 0.2860, 0.3530)):
        (x_train, _), _ = _load(shared_data, kind)
        n = x_train.size
        total = x_train.sum(dtype=np.int64)
        squares = np.einsum("ij,ij->", x_train, x_train, dtype=np.int64)
        assert total / (255 * n) == pytest.approx(mean, abs=5e-5), kind
        assert np.sqrt(squares / n - (total / n) ** 2) / 255 == pytest.approx(std, abs=5e-5), kind


def test_fashion_has_balanced_classes(shared_data):
    (_, y_train), (_, y_test) = _load(shared_data, "fashion")
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_float_dtype_scales_bytes_and_unflattened_shape(shared_data):
    x, y = datasets.load_mnist(shared_data, split="test", flatten=False)
    assert x.shape == (10000, 28, 28) and x.dtype == np.float32
    (_, _), (raw, raw_y) = _load(shared_data, "mnist")
    np.testing.assert_array_equal(x.reshape(10000, -1), (raw / np.float32(255)).astype(np.float32))
    np.testing.assert_array_equal(y, raw_y)
    x64, _ = datasets.load_mnist(shared_data / "mnist", split="test", dtype=np.float64)  # the folder itself
    assert x64.dtype == np.float64 and x64.min() == 0.0 and x64.max() == 1.0


def test_search_order_env_then_cache(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CHAINRULE_DATA", str(shared_data))
    _, y = datasets.load_mnist(split="test")
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    # Without $CHAINRULE_DATA the cache is used: torchvision's layout is found there too.
    monkeypatch.delenv("CHAINRULE_DATA")
    raw = tmp_path / "cache" / "chainrule" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in TEST_FILES:
        (raw / name).symlink_to(shared_data / "fashion-mnist" / name)
    _, y = datasets.load_mnist(kind="fashion", split="test")
    assert np.bincount(y).tolist() == [1000] * 10
    assert files.cache_dir() == tmp_path / "cache" / "chainrule"


def test_missing_files_say_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))

    def no_network(*args, **kwargs):
        raise AssertionError("load_mnist reached for the network without download=True")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(DataError) as info:
        datasets.load_mnist()
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "download=True" in message and "CHAINRULE_DATA" in message
    assert str(tmp_path / "env" / "mnist") in message and str(tmp_path / "cache" / "chainrule") in message
    (tmp_path / "mine").mkdir()
    _write_gz(tmp_path / "mine" / "t10k-labels-idx1-ubyte.gz", _idx_bytes(2049, (1,), b"\x03"))
    with pytest.raises(DataError, match=r"has 1 of 2"):
        datasets.load_mnist(tmp_path / "mine", split="test")


# ----------------------------------------------------------------------------- broken files
@pytest.fixture
def test_copy(shared_data, tmp_path) -> Path:
    """A writable copy of MNIST's two test files."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in TEST_FILES:
        shutil.copy(shared_data / "mnist" / name, folder / name)
    return folder


def test_truncated_published_file_names_file_and_sizes(test_copy):
    labels = test_copy / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:3000])
    with pytest.raises(DataError) as info:
        datasets.load_mnist(test_copy, split="test")
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte.gz" in message and "4,542 bytes" in message and "3,000 bytes" in message
    # Read without the checksum, the cut gzip stream is still refused.
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*(truncated|damaged)"):
        datasets.load_mnist(test_copy, split="test", verify=False)


def test_corrupt_byte_fails_md5(test_copy):
    labels = test_copy / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(labels.read_bytes())
    content[2000] ^= 0xFF
    labels.write_bytes(bytes(content))
    with pytest.raises(DataError, match="expected MD5 ec29112dd5afa0611ce80d1b7f02629c.*found [0-9a-f]{32}"):
        datasets.load_mnist(test_copy, split="test")


def test_fashion_file_passed_as_mnist_is_named(shared_data, test_copy):
    for name in TEST_FILES:
        shutil.copy(shared_data / "fashion-mnist" / name, test_copy / name)
    with pytest.raises(DataError, match="expected MNIST's t10k-images-idx3-ubyte.gz, found Fashion-MNIST's file"):
        datasets.load_mnist(test_copy, split="test")


@pytest.mark.parametrize("images, labels, pattern", [
    (_idx_bytes(2051, (2, 28, 28), bytes(2 * 784)), _idx_bytes(2051, (2,), bytes(2)),
     r"t10k-labels.*expected the IDX magic number 2049 \(labels\), found 2051"),
    (_idx_bytes(2051, (3, 28, 28), bytes(3 * 784)), _idx_bytes(2049, (2,), bytes(2)),
     r"3 images but 2 labels"),
    (_idx_bytes(2051, (2, 28, 28), bytes(784)), _idx_bytes(2049, (2,), bytes(2)),
     r"t10k-images.*shape \(2, 28, 28\), so 1,584 bytes uncompressed, found 800; the file truncated"),
    (_idx_bytes(2051, (2, 28, 28), bytes(2 * 784)), _idx_bytes(2049, (2,), bytes([1, 12])),
     r"expected classes 0..9, found 12"),
    (b"PK\x03\x04not gzip at all", _idx_bytes(2049, (2,), bytes(2)), r"t10k-images.*not a readable gzip file"),
])
def test_malformed_idx_files(tmp_path, images, labels, pattern):
    if images.startswith(b"PK"):
        (tmp_path / TEST_FILES[0]).write_bytes(images)
    else:
        _write_gz(tmp_path / TEST_FILES[0], images)
    _write_gz(tmp_path / TEST_FILES[1], labels)
    with pytest.raises(DataError, match=pattern):
        datasets.load_mnist(tmp_path, split="test", verify=False)


def test_read_idx_uncompressed_and_wrong_type(tmp_path):
    path = tmp_path / "data-idx2-ubyte"
    path.write_bytes(_idx_bytes(0x00000802, (2, 3), bytes(range(6))))
    np.testing.assert_array_equal(datasets.read_idx(path), np.arange(6, dtype=np.uint8).reshape(2, 3))
    path.write_bytes(_idx_bytes(0x00000D02, (2, 3), bytes(24)))  # 0x0D = float32 elements
    with pytest.raises(DataError, match="found 0x00000d02"):
        datasets.read_idx(path)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="kind must be 'mnist' or 'fashion'"):
        datasets.load_mnist(kind="kmnist")
    with pytest.raises(ConfigError, match="split"):
        datasets.load_mnist(split="validation")
    with pytest.raises(ConfigError, match="dtype"):
        datasets.load_mnist(dtype=np.int32)


# ----------------------------------------------------------------------------- downloads (never the network)
def test_download_from_file_url_after_a_failing_mirror(shared_data, tmp_path):
    mirrors = [(tmp_path / "nowhere").as_uri(), (shared_data / "mnist").as_uri()]
    x, y = datasets.load_mnist(tmp_path / "root", split="test", download=True, mirrors=mirrors)
    for name in TEST_FILES:
        assert (tmp_path / "root" / "mnist" / name).read_bytes() == (shared_data / "mnist" / name).read_bytes()
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    assert sorted(p.name for p in (tmp_path / "root" / "mnist").iterdir()) == sorted(TEST_FILES)


def test_download_refuses_a_corrupt_mirror_and_leaves_nothing(shared_data, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in TEST_FILES:
        content = bytearray((shared_data / "mnist" / name).read_bytes())
        content[-20] ^= 1
        (mirror / name).write_bytes(bytes(content))
    with pytest.raises(DataError, match=r"could not download t10k-images.*expected 1,648,877 bytes with MD5 9fb6"):
        datasets.load_mnist(tmp_path / "root", split="test", download=True, mirrors=[mirror.as_uri()])
    assert list((tmp_path / "root" / "mnist").iterdir()) == []


def test_download_uses_urlopen_with_each_mirror(tmp_path, monkeypatch, shared_data):
    seen = []

    def fake_urlopen(url, timeout):
        seen.append(url)
        return open(shared_data / "mnist" / url.rsplit("/", 1)[1], "rb")

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    _, y = datasets.load_mnist(split="test", download=True)
    assert seen == ["https://ossci-datasets.s3.amazonaws.com/mnist/" + name for name in TEST_FILES]
    assert (tmp_path / "chainrule" / "mnist" / TEST_FILES[1]).is_file() and len(y) == 10000


# ----------------------------------------------------------------------------- toy sets
@pytest.mark.parametrize("name", sorted(datasets.TOY_SETS))
def test_toy_sets_are_seeded_shaped_and_balanced(name):
    make = datasets.TOY_SETS[name]
    x, y = make(101, seed=3)
    assert x.shape == (101, 2) and x.dtype == np.float64 and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1
    x2, y2 = make(101, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(make(101, seed=4)[0], x)
    assert make(10, seed=0, dtype=np.float32)[0].dtype == np.float32


def test_toy_geometry_without_noise():
    x, y = datasets.xor(400, seed=0)
    np.testing.assert_array_equal(y, (x[:, 0] > 0) != (x[:, 1] > 0))
    assert np.abs(x).max() <= 1
    x, y = datasets.circles(400, noise=0, factor=0.3, seed=0)
    np.testing.assert_allclose(np.hypot(x[:, 0], x[:, 1]), np.where(y == 0, 1.0, 0.3))
    x, y = datasets.moons(400, noise=0, seed=0)
    centre = np.where(y[:, None] == 0, [0.0, 0.0], [1.0, 0.5])
    np.testing.assert_allclose(np.hypot(*(x - centre).T), 1.0)
    assert np.all(np.where(y == 0, x[:, 1] >= 0, x[:, 1] <= 0.5))
    x, y = datasets.spirals(300, noise=0, n_classes=3, turns=0.5, seed=0)
    r = np.hypot(x[:, 0], x[:, 1])
    angle = np.arctan2(x[:, 1], x[:, 0])
    expected = 2 * np.pi * (0.5 * r + y / 3)
    np.testing.assert_allclose(np.cos(angle - expected), 1.0, atol=1e-9)
    centers = [[0, 0], [5, 5]]
    x, y = datasets.gaussians(200, centers=centers, noise=0.25, seed=0)
    residual = x - np.asarray(centers, dtype=float)[y]
    assert residual.std() == pytest.approx(0.25, rel=0.1)


def test_toy_bad_arguments():
    with pytest.raises(ConfigError, match="noise"):
        datasets.moons(10, noise=-1)
    with pytest.raises(ConfigError, match="n_samples"):
        datasets.spirals(2, n_classes=3)
    with pytest.raises(ConfigError, match="factor"):
        datasets.circles(10, factor=1.5)


# ----------------------------------------------------------------------------- CSV
def test_csv_by_name_index_and_none(tmp_path):
    table = np.random.default_rng(0).normal(size=(20, 4))
    path = tmp_path / "t.csv"
    labels = np.arange(20) % 3
    np.savetxt(path, np.column_stack([table, labels]), delimiter=",", header="a,b,c,d,label", comments="")
    x, y = datasets.load_csv(path, target="label")
    np.testing.assert_allclose(x, table, rtol=1e-15)
    assert y.dtype == np.int64 and y.tolist() == labels.tolist()
    x, y = datasets.load_csv(path, target=1)
    np.testing.assert_allclose(y, table[:, 1], rtol=1e-15)
    assert x.shape == (20, 4) and y.dtype == np.float64
    x, y = datasets.load_csv(path, target=None, dtype=np.float32)
    assert x.shape == (20, 5) and x.dtype == np.float32 and y is None
    path.write_text("1;2;0\n3;4;1\n")
    x, y = datasets.load_csv(path, delimiter=";", header=False)
    assert x.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1]


@pytest.mark.parametrize("text, kwargs, error, pattern", [
    ("a,b,y\n1,2,0\n3,4\n", {}, DataError, r"line 3: 2 fields, expected 3 as in the header"),
    ("a,b,y\n1,2,0\n3,x7,1\n", {}, DataError, r"line 3, column 'b': expected a number, found 'x7'"),
    ("a,b,y\n1,,0\n", {}, DataError, r"line 2, column 'b'.*empty value"),
    ("a,b,y\n1,nan,0\n", {}, DataError, r"line 2, column 'b': expected a finite number, found nan"),
    ("a,b,y\n1,2,0\n", {"target": "label"}, DataError, r"no column named 'label'; the columns are: a, b, y"),
    ("a,b,y\n1,2,0\n", {"target": 5}, DataError, r"index 5 is out of range for 3 columns"),
    ("1,2,0\n", {"header": False, "target": "y"}, ConfigError, r"header=False"),
    ("y\n1\n", {}, DataError, r"at least one feature column"),
    ("", {}, DataError, r"empty file"),
])
def test_csv_errors_name_line_and_column(tmp_path, text, kwargs, error, pattern):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(error, match=pattern):
        datasets.load_csv(path, **kwargs)


def test_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        datasets.load_csv(tmp_path / "absent.csv")


# ----------------------------------------------------------------------------- digits and split
def test_digits_equal_scikit_learn():
    sk = pytest.importorskip("sklearn.datasets")
    reference = sk.load_digits()
    x, y = datasets.load_digits()
    np.testing.assert_array_equal(x, reference.data / 16.0)
    np.testing.assert_array_equal(y, reference.target)
    raw, _ = datasets.load_digits(dtype=np.float32, scale=False)
    assert raw.dtype == np.float32 and raw.max() == 16
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_split_data_partitions_and_stratifies():
    x, y = datasets.load_digits()
    (x_tr, y_tr), (x_te, y_te) = datasets.split_data(x, y, 0.25, seed=0, stratify=True)
    assert len(x_tr) + len(x_te) == len(x)
    rows = np.concatenate([x_tr, x_te])
    assert np.array_equal(np.sort(rows.view([("", rows.dtype)] * 64), axis=0),
                          np.sort(x.view([("", x.dtype)] * 64), axis=0))
    np.testing.assert_array_equal(np.bincount(y_te), np.ceil(0.25 * np.bincount(y)))
    (_, _), (_, y_te2) = datasets.split_data(x, y, 0.25, seed=0, stratify=True)
    np.testing.assert_array_equal(y_te, y_te2)
    with pytest.raises(DataError, match="rows"):
        datasets.split_data(x, y[:10])


def test_wheel_ships_the_digits_file(tmp_path):
    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "src"
    shutil.copytree(root / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(root / "pyproject.toml", source)
    shutil.copy(root / "README.md", source)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                             "-q", "-w", str(tmp_path / "wheel")], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {result.stderr.strip()[-200:]}")
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "chainrule/data/digits.csv.gz" in names and "chainrule/data/README.md" in names
