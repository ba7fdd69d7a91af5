import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from benchmark.data.dataset import load_dataset
from benchmark.data.images import image_batches, load_rgb
from benchmark.data.splits import split_groups
from benchmark.errors import BenchmarkError
from benchmark.suite import DataConfig

from conftest import make_class_folders, save_image

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def index_folders(root, real, fakes, fractions, **options):
    config = DataConfig(root=None, real=real, layout="folders", split=fractions, synthetic=None, **options)
    return load_dataset(config, root, fakes)


def test_every_class_is_split_by_video_and_test_never_meets_train(faces_root):
    dataset = index_folders(faces_root, "Real_youtube", ["FaceSwap", "NeuralTextures"], FRACTIONS)
    frame = dataset.to_frame()
    assert set(frame["class"]) == {"Real_youtube", "FaceSwap", "NeuralTextures"}
    for cls, rows in frame.groupby("class"):
        assert set(rows["split"]) == {"train", "val", "test"}, cls
        # all frames of one video land in one split
        assert (rows.groupby("video")["split"].nunique() == 1).all(), cls
    train = dataset.cell("FaceSwap", "train")
    test = dataset.cell("NeuralTextures", "test")
    assert not set(train.paths) & set(test.paths)
    assert set(test.labels) == {0, 1} and set(train.labels) == {0, 1}


def test_split_is_deterministic_and_stable_when_videos_are_added():
    groups = [f"{i:03d}" for i in range(40)]
    first = split_groups(groups, FRACTIONS)
    assert first == split_groups(list(reversed(groups)), FRACTIONS)
    counts = {s: sum(1 for v in first.values() if v == s) for s in ("train", "val", "test")}
    assert counts == {"train": 28, "val": 6, "test": 6}
    more = split_groups(groups + ["new"], FRACTIONS)
    moved = [g for g in groups if more[g] != first[g]]
    assert len(moved) <= 2  # only cut points shift, not a reshuffle


def test_loose_images_are_groups_of_one(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("Real", "Fake"):
        for i in range(10):
            save_image(tmp_path / cls / f"{i}.png", rng, (0, 0, 0), 16)
    (tmp_path / "Real" / "notes.txt").write_text("not an image")
    dataset = index_folders(tmp_path, "Real", ["Fake"], FRACTIONS)
    assert len(dataset.samples) == 20
    assert all(s.video == s.path.rsplit("/", 1)[1] for s in dataset.samples)
    assert not dataset.has_videos


def test_missing_class_folder_names_it_and_lists_what_is_there(faces_root):
    with pytest.raises(BenchmarkError, match="class 'Deepfakes' not found: .*FaceSwap"):
        index_folders(faces_root, "Real_youtube", ["Deepfakes"], FRACTIONS)
    with pytest.raises(BenchmarkError, match="data.real: class 'Real'"):
        index_folders(faces_root, "Real", ["FaceSwap"], FRACTIONS)


def test_too_few_videos_is_an_error(tmp_path):
    make_class_folders(tmp_path, {"Real": (0, 0, 0), "Fake": (9, 9, 9)}, videos=2)
    with pytest.raises(BenchmarkError, match="has no (val|test|train) images.*at least 3 are needed"):
        index_folders(tmp_path, "Real", ["Fake"], FRACTIONS)


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "I;16", "P", "LA"])
def test_every_mode_becomes_8bit_rgb(tmp_path, mode):
    gray = np.full((8, 8), 128, dtype=np.uint8)
    if mode == "I;16":
        image = Image.fromarray(np.full((8, 8), 128 * 257, dtype=np.uint16))
    else:
        image = Image.fromarray(gray, "L").convert(mode)
    suffix = "jpg" if mode == "CMYK" else "png"
    image.save(tmp_path / f"x.{suffix}")
    rgb = load_rgb(str(tmp_path / f"x.{suffix}"))
    assert rgb.mode == "RGB" and rgb.size == (8, 8)
    # mid-grey stays mid-grey: 16-bit is rescaled, not clipped to white
    assert abs(np.asarray(rgb).mean() - 128) < 3


def test_fast_decode_reads_large_jpegs_at_reduced_scale(tmp_path):
    rng = np.random.default_rng(0)
    save_image(tmp_path / "big.jpg", rng, (0, 0, 0), 600)
    save_image(tmp_path / "big.png", rng, (0, 0, 0), 600)
    assert load_rgb(str(tmp_path / "big.jpg")).size == (600, 600)
    assert load_rgb(str(tmp_path / "big.jpg"), draft_size=224).size == (300, 300)  # 1/2 scale still covers 224
    assert load_rgb(str(tmp_path / "big.png"), draft_size=224).size == (600, 600)  # PNG has no draft mode


def test_augmentation_does_not_depend_on_the_decoding_workers(tmp_path):
    """Random crops and flips draw from the pass's seed and the image's index, not from whichever
    process decodes it: --workers 0, 2 (or a Ray worker) train on the same pixels."""
    root = make_class_folders(tmp_path / "d", {"Real": (0, 0, 0)}, videos=6, frames=2)
    paths = sorted(str(p) for p in root.rglob("*.*"))
    augment = transforms.Compose([transforms.Resize((40, 40)), transforms.RandomCrop(32),
                                  transforms.RandomHorizontalFlip(), transforms.ToTensor()])

    def two_passes(workers: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(3)
        return [images for _ in range(2) for images, _ in
                image_batches(paths, np.zeros(len(paths)), augment, 5, True, generator, workers)]

    torch.manual_seed(0)
    alone = two_passes(0)
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(1))  # the global RNG was left alone (dropout draws from it)
    parallel = two_passes(2)
    assert len(alone) == len(parallel) and all(torch.equal(a, b) for a, b in zip(alone, parallel))
    assert not torch.equal(alone[0], alone[len(alone) // 2])  # each pass draws new crops and order
