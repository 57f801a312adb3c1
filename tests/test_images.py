"""Image datasets from local files: IDX / CIFAR readers, the offline error, builtins, the CNN learning MNIST."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from fedfair.data import DatasetError, load_client, read_manifest
from fedfair.models import build_model
from fedfair.training import TrainConfig, evaluate, train_local
from fedfair.partitioners.builtins import build_builtin
from fedfair.partitioners.images import IDX_FILES, load_images, read_idx
from tests.conftest import SHARED_DATA


def _write_idx(path, array, compress=True):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(f"{path}.gz", "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def _tiny_idx_set(folder, prefix="", transpose=False, label_offset=0, compress=True):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for stem, n in (("train", 6), ("t10k", 4)):
        images = rng.integers(0, 256, (n, 28, 28))
        labels = rng.integers(0, 3, n) + label_offset
        stored = images.transpose(0, 2, 1) if transpose else images
        test_stem = "test" if prefix else "t10k"
        name = stem if stem == "train" else test_stem
        _write_idx(folder / f"{prefix}{name}-images-idx3-ubyte", stored, compress)
        _write_idx(folder / f"{prefix}{name}-labels-idx1-ubyte", labels, compress)
        arrays[stem] = (images, labels - label_offset)
    return arrays


def test_idx_reader_and_fashion_layout(tmp_path):
    arrays = _tiny_idx_set(tmp_path / "fashion-mnist", compress=False)
    raw = read_idx(tmp_path / "fashion-mnist" / IDX_FILES[0])
    np.testing.assert_array_equal(raw, arrays["train"][0])
    images = load_images("fashion-mnist", data_root=tmp_path)  # DIR/fashion-mnist
    assert images.pixels.shape == (10, 784) and images.input_shape == (1, 28, 28)
    np.testing.assert_allclose(images.pixels[:6], arrays["train"][0].reshape(6, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(images.labels, np.concatenate([arrays["train"][1], arrays["t10k"][1]]))
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01abcd")
    with pytest.raises(DatasetError, match="is not an unsigned-byte IDX file"):
        read_idx(tmp_path / "bad")


def test_emnist_is_turned_upright_and_letters_start_at_zero(tmp_path):
    arrays = _tiny_idx_set(tmp_path / "emnist", prefix="emnist-letters-", transpose=True, label_offset=1)
    images = load_images("emnist", data_root=tmp_path, emnist_split="letters")
    np.testing.assert_allclose(images.pixels[:6], arrays["train"][0].reshape(6, -1) / 255.0, rtol=1e-6)
    assert images.labels.min() == 0 and images.labels.tolist()[:6] == arrays["train"][1].tolist()


def test_cifar_binary_batches_and_no_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(1)
    batches = []
    for name in [f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]:
        pixels, labels = rng.integers(0, 256, (2, 3072)).astype(np.uint8), rng.integers(0, 10, 2).astype(np.uint8)
        (folder / name).write_bytes(np.hstack([labels[:, None], pixels]).tobytes())
        batches.append((pixels, labels))
    images = load_images("cifar10", data_root=tmp_path)
    assert images.pixels.shape == (12, 3072) and images.input_shape == (3, 32, 32)
    np.testing.assert_allclose(images.pixels[0], batches[0][0][0] / 255.0, rtol=1e-6)
    assert images.labels.tolist()[:2] == batches[0][1].tolist()
    python = tmp_path / "py" / "cifar10"
    python.mkdir(parents=True)
    (python / "data_batch_1").write_bytes(pickle.dumps({b"data": 1}))
    with pytest.raises(DatasetError, match="holds the python release \\(pickles\\), which fedfair does not load"):
        load_images("cifar10", data_root=tmp_path / "py")
    model = build_model({"model": "cnn"}, 3072, seed=0, num_classes=10, input_shape=images.input_shape)
    assert model(__import__("torch").from_numpy(images.pixels[:3])).shape == (3, 10)


def test_absent_image_files_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv("FEDFAIR_DATA_ROOT", raising=False)
    with pytest.raises(DatasetError, match=r"cifar10: .*not found and fedfair downloads nothing\. Put the files in a "
                                           r"directory and pass --data-root DIR"):
        load_images("cifar10", data_root=tmp_path)


def test_digits_builtin_is_a_ten_client_five_class_split(tmp_path):
    root = build_builtin("digits", tmp_path / "digits", seed=0)
    manifest = read_manifest(root)
    assert manifest.num_classes == 10 and manifest.input_shape == (1, 8, 8) and manifest.sensitive == {}
    assert manifest.client_names == [str(k) for k in range(10)]
    total, seen = 0, set()
    for k in range(10):
        data = load_client(root, k)
        labels = np.concatenate([data.train.y, data.test.y])
        assert len(np.unique(labels)) == 5
        assert len(data.test) == pytest.approx(0.2 * len(labels), abs=1)
        total += len(labels)
        seen |= set(labels.tolist())
    assert total == 1797 and seen == set(range(10))


@pytest.mark.skipif(not (SHARED_DATA / "mnist" / "mnist_5k.csv.gz").is_file(),
                    reason=f"MNIST-5k not found at {SHARED_DATA / 'mnist'} (../shared/data/mnist)")
def test_cnn_learns_mnist_in_a_short_run():
    images = load_images("mnist", data_root=SHARED_DATA)
    assert images.pixels.shape == (5000, 784) and np.bincount(images.labels).tolist() == [500] * 10
    from fedfair.data import Split

    order = np.random.default_rng(0).permutation(5000)
    train, test = order[:4000], order[4000:]
    split = lambda rows: Split(x=images.pixels[rows], y=images.labels[rows], sensitive={})  # noqa: E731
    model = build_model({"model": "cnn"}, 784, seed=0, num_classes=10, input_shape=(1, 28, 28))
    train_local(model, split(train), TrainConfig(lr=0.1, epochs=3, batch_size=32), seed=0)
    assert evaluate(model, split(test)).accuracy > 0.9  # 3 epochs on 4,000 digits
