"""Training data without a framework: readers, fitting, batches, the recipe, the run folder."""

from __future__ import annotations

import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from train_helpers import write_cifar, write_fashion_mnist

import archspec
from archspec.train import recipe
from archspec.train.config import TrainConfig, TrainError
from archspec.train.datasets import FASHION_MNIST_DIR, load_cifar10, load_dataset
from archspec.train.pipeline import (
    Sharding,
    TrainBatches,
    choose_fit,
    eval_batches,
    fit_images,
    prepare,
)
from archspec.train.progress import Reporter
from archspec.train.runfolder import Row, RunFolder


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cifar(tmp_path_factory.mktemp("cifar"))


def test_cifar_reader_reads_the_python_format(cifar: Path) -> None:
    for folder in (cifar, cifar / "cifar-10-batches-py"):  # the folder or its parent
        data = load_cifar10(folder)
        assert data.train_images.shape == (200, 3, 32, 32) and data.train_images.dtype == np.uint8
        assert data.test_images.shape == (50, 3, 32, 32)
        assert data.classes[0] == "airplane" and len(data.classes) == 10
    raw = pickle.loads((cifar / "cifar-10-batches-py/data_batch_1").read_bytes(), encoding="bytes")
    first = np.asarray(raw[b"data"][0]).reshape(3, 32, 32)
    assert np.array_equal(load_cifar10(cifar).train_images[0], first)  # rows are RGB planes
    assert list(load_cifar10(cifar).train_labels[:40]) == raw[b"labels"]


def test_cifar_pickles_cannot_run_code(tmp_path: Path) -> None:
    root = write_cifar(tmp_path)

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    (root / "cifar-10-batches-py/data_batch_3").write_bytes(pickle.dumps({b"data": Exploit()}))
    with pytest.raises(TrainError, match="refused to load builtins.print"):
        load_cifar10(root)


def test_missing_datasets_name_the_layout_or_the_package(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="CIFAR-10 not found") as caught:
        load_dataset("cifar10", str(tmp_path), (3, 32, 32))
    assert "data_batch_1" in caught.value.help and "downloads nothing" in caught.value.help
    with pytest.raises(TrainError, match="Fashion-MNIST not found") as caught:
        load_dataset("fashion-mnist", str(tmp_path), (3, 32, 32))
    assert "apt-get install dataset-fashion-mnist" in caught.value.help
    with pytest.raises(TrainError, match="no image folder") as caught:
        load_dataset("folder", str(tmp_path), (3, 32, 32))
    assert "DIR/train/<class>" in caught.value.help


def test_fashion_mnist_from_idx_files(tmp_path: Path) -> None:
    data = load_dataset("fashion-mnist", str(write_fashion_mnist(tmp_path)), (3, 32, 32))
    assert data.train_images.shape == (64, 1, 28, 28) and data.test_images.shape == (32, 1, 28, 28)
    assert data.classes[9] == "Ankle boot"
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(TrainError, match="not a readable gzip file"):
        load_dataset("fashion-mnist", str(tmp_path), (3, 32, 32))


def test_debian_fashion_mnist_package_is_installed_and_read() -> None:
    """make test installs dataset-fashion-mnist (apt), as it does graphviz."""
    data = load_dataset("fashion-mnist", None, (3, 32, 32))
    assert str(FASHION_MNIST_DIR) == "/usr/share/datasets/fashion-mnist"
    assert data.train_images.shape == (60_000, 1, 28, 28)
    assert data.test_images.shape == (10_000, 1, 28, 28)
    assert np.bincount(data.train_labels).tolist() == [6000] * 10


def test_image_folder_dataset(tmp_path: Path) -> None:
    from PIL import Image

    for split, count in (("train", 3), ("test", 2)):
        for label, name in enumerate(("cat", "dog")):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = np.full((20, 24, 3), 60 * label + i, np.uint8)
                Image.fromarray(pixels).save(tmp_path / split / name / f"{i}.png")
    (tmp_path / "train/cat/notes.txt").write_text("not an image")
    data = load_dataset("folder", str(tmp_path), (3, 16, 16))
    assert data.classes == ("cat", "dog")
    assert data.train_images.shape == (6, 3, 16, 16)  # resized as they load
    assert data.train_labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.test_images[3, 0, 5, 5] == 61
    grey = load_dataset("folder", str(tmp_path), (1, 8, 8))
    assert grey.train_images.shape == (6, 1, 8, 8)
    (tmp_path / "test/cat/1.png").write_bytes(b"not a png")
    with pytest.raises(TrainError, match="cannot read the image"):
        load_dataset("folder", str(tmp_path), (3, 16, 16))


def test_fitting_images_to_the_input() -> None:
    grey = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 1, 28, 28)
    pad = choose_fit("auto", (1, 28, 28), (3, 32, 32))
    assert pad.mode == "pad" and pad.input == (3, 32, 32)
    assert "zero-padded to 32x32" in pad.description and "replicated" in pad.description
    padded = fit_images(grey, pad)
    assert padded.shape == (2, 1, 32, 32) and np.array_equal(padded[:, :, 2:30, 2:30], grey)
    assert choose_fit("auto", (3, 40, 40), (3, 32, 32)).mode == "resize"
    resize = choose_fit("resize", (3, 40, 40), (3, 32, 32))
    assert fit_images(np.zeros((1, 3, 40, 40), np.uint8), resize).shape == (1, 3, 32, 32)
    rebuilt = choose_fit("input", (1, 28, 28), (3, 32, 32))
    assert rebuilt.input == (1, 28, 28) and rebuilt.mode == "input"
    colour = np.full((1, 3, 32, 32), 200, np.uint8)
    assert fit_images(colour, choose_fit("auto", (3, 32, 32), (1, 32, 32)))[0, 0, 0, 0] == 200
    with pytest.raises(TrainError, match="4-channel"):
        choose_fit("auto", (4, 32, 32), (3, 32, 32))
    with pytest.raises(TrainError, match="do not fit"):
        choose_fit("pad", (3, 40, 40), (3, 32, 32))


def test_batches_are_a_function_of_the_step_and_shard_the_global_batch(cifar: Path) -> None:
    dataset = load_cifar10(cifar)
    data = prepare(dataset, choose_fit("auto", (3, 32, 32), (3, 32, 32)))
    one = TrainBatches(data, 16, seed=3, augment=True, shard=Sharding())
    images, labels = one.batch(7)
    assert images.shape == (16, 3, 32, 32) and images.dtype == np.float32
    again = TrainBatches(data, 16, seed=3, augment=True, shard=Sharding()).batch(7)
    assert np.array_equal(images, again[0]) and np.array_equal(labels, again[1])
    halves = [TrainBatches(data, 16, 3, True, Sharding(r, 2)).batch(7) for r in (0, 1)]
    assert np.array_equal(np.concatenate([h[0] for h in halves]), images)
    assert not np.array_equal(one.batch(8)[0], images)
    # every epoch visits every image once (12 whole batches of 16 from 200 images)
    seen = np.concatenate([one.order(0)[s * 16 : (s + 1) * 16] for s in range(one.per_epoch)])
    assert len(set(seen.tolist())) == 192 and one.per_epoch == 12
    assert not np.array_equal(one.order(0), one.order(1))


def test_augmentation_is_the_papers_pad_crop_flip_after_mean_subtraction(cifar: Path) -> None:
    dataset = load_cifar10(cifar)
    data = prepare(dataset, choose_fit("auto", (3, 32, 32), (3, 32, 32)))
    mean = dataset.train_images.mean(axis=0) / 255.0
    assert np.allclose(data.mean, mean, atol=1e-6)
    batches = TrainBatches(data, 8, seed=0, augment=True, shard=Sharding())
    images, _ = batches.batch(2)
    rng = np.random.default_rng((0, 1, 2))
    offsets, flips = rng.integers(0, 9, (8, 2)), rng.random(8) < 0.5
    chosen = batches.order(0)[16:24]
    for i, index in enumerate(chosen):
        centred = dataset.train_images[index] / 255.0 - mean
        padded = np.pad(centred, ((0, 0), (4, 4), (4, 4)))
        dy, dx = offsets[i]
        expected = padded[:, dy : dy + 32, dx : dx + 32]
        expected = expected[:, :, ::-1] if flips[i] else expected
        assert np.allclose(images[i], expected, atol=1e-6)
    assert flips.any() and not flips.all()
    plain = TrainBatches(data, 8, seed=0, augment=False, shard=Sharding()).batch(2)[0]
    assert np.allclose(plain[0], dataset.train_images[chosen[0]] / 255.0 - mean, atol=1e-6)


def test_eval_batches_cover_the_test_set_once_with_one_shape(cifar: Path) -> None:
    data = prepare(load_cifar10(cifar), choose_fit("auto", (3, 32, 32), (3, 32, 32)))
    batches = list(eval_batches(data, 16, 0, Sharding()))
    assert [b[0].shape for b in batches] == [(16, 3, 32, 32)] * 4
    labels = np.concatenate([b[1] for b in batches])
    assert (labels >= 0).sum() == 50 and (labels[50:] == -1).all()
    shares = [list(eval_batches(data, 16, 40, Sharding(r, 2))) for r in (0, 1)]
    assert sum((b[1] >= 0).sum() for share in shares for b in share) == 40


def test_paper_schedule_milestones_and_stop() -> None:
    config = TrainConfig(spec="specs/cifar/resnet20.yaml", defines={})
    assert (config.steps, config.batch_size, config.lr) == (64_000, 128, 0.1)
    assert (config.momentum, config.weight_decay) == (0.9, 1e-4)
    schedule = config.schedule_for(warmup=False)
    assert schedule.milestones == (32_000, 48_000)
    rates = {s: schedule.rate(s) for s in (0, 31_999, 32_000, 47_999, 48_000, 63_999)}
    assert rates == {0: 0.1, 31_999: 0.1, 32_000: 0.01, 47_999: 0.01, 48_000: 0.001, 63_999: 0.001}
    short = replace(config, steps=400).schedule_for(warmup=False)
    assert short.milestones == (200, 300)
    warm = config.schedule_for(warmup=True)
    assert warm.rate(10, warming=True) == 0.01 and warm.rate(10, warming=False) == 0.1
    cosine = replace(config, schedule="cosine", steps=100).schedule_for(warmup=False)
    assert cosine.rate(0) == 0.1 and abs(cosine.rate(50) - 0.05) < 1e-12 and cosine.rate(99) < 1e-3


def test_warmup_from_110_layers() -> None:
    def depth(path: str, **defines: object) -> int:
        rows = archspec.load(path, **defines).rows()
        return recipe.weighted_depth([(r.path, r.counts.macs) for r in rows])

    assert depth("specs/cifar/resnet110.yaml") == 110 and depth("specs/cifar/resnet56.yaml") == 56
    assert recipe.wants_warmup("auto", 110) and not recipe.wants_warmup("auto", 56)
    assert recipe.wants_warmup("on", 20) and not recipe.wants_warmup("off", 1202)


def test_config_checks_and_resume_rules() -> None:
    config = TrainConfig(spec="s.yaml", defines={"n": 1}, epochs=2.5, batch_size=16)
    assert config.resolved(200).steps == 30  # 12 whole batches per epoch
    assert TrainConfig.from_json(config.to_json()) == config
    with pytest.raises(TrainError, match="--schedule linear"):
        TrainConfig(spec="s.yaml", defines={}, schedule="linear")
    with pytest.raises(TrainError, match="torch options"):
        TrainConfig(spec="s.yaml", defines={}, backend="flax", amp=True)
    asked = replace(config, lr=0.05, device="cuda")
    with pytest.raises(TrainError, match="--lr 0.05 differs"):
        config.continued_with(asked, {"lr"})
    assert config.continued_with(asked, {"device"}).device == "cuda"
    assert config.continued_with(asked, set()) == config


def test_run_folder_rows_and_checkpoints(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    config = TrainConfig(spec="s.yaml", defines={})
    folder.create(config)
    with pytest.raises(TrainError, match="already holds a run"):
        folder.create(config)
    rows = [Row(s, s / 10, 0.1, 2.0 / s, 50.0, 60.0 + 1 / 3, 100.0, float(s)) for s in (1, 2, 3)]
    for row in rows:
        folder.append(row)
    assert folder.rows() == rows  # floats round-trip exactly
    assert folder.keep_rows_until(2) == rows[:2] and folder.rows() == rows[:2]
    for step in (2, 4, 6):
        folder.checkpoint_path(step, ".pt").write_bytes(b"x")
    folder.prune_checkpoints()
    assert folder.latest_checkpoint() == (6, folder.checkpoint_path(6, ".pt"))
    assert sorted(p.name for p in folder.checkpoints.iterdir()) == [
        "step-0000004.pt",
        "step-0000006.pt",
    ]
    assert folder.saved_config() == config
    umask = os.umask(0)
    os.umask(umask)
    assert folder.metrics_path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    import io

    from rich.console import Console

    row = Row(40, 0.5, 0.1, 1.23456, 45.0, 50.5, 812.0, 6.3)
    plain = io.StringIO()
    with Reporter(Console(file=plain), steps=100, start=0) as reporter:
        assert not reporter.due()
        reporter.advance(20, 1.5, 50.0, 800.0)
        reporter.row(row)
    assert plain.getvalue() == (
        "step 40/100  epoch 0.50  lr 0.1  loss 1.2346  train error 45.00%  "
        "test error 50.50%  812 images/s\n"
    )
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=160)
    with Reporter(terminal, steps=100, start=10) as reporter:
        assert reporter.due()
        reporter.advance(20, 1.5, 50.0, 800.0)
        terminal.print("x")  # forces a refresh of the live bar
    shown = screen.getvalue()
    assert "loss 1.5000" in shown and "error 50.0%" in shown and "800 images/s" in shown
    assert "20/100" in shown and "left" in shown
    silent = io.StringIO()
    with Reporter(Console(file=silent), 100, 0, enabled=False) as reporter:
        reporter.row(row)
    assert silent.getvalue() == ""
