"""Tiny stand-ins for the public datasets' official layouts: the right folder and file names, split
lists and label files, each video a few generated frames (see test_prepare.make_clip). ``build``
returns, per recipe, the (class, video) pairs its official test split must hold."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
from PIL import Image

from test_prepare import make_clip

FFPP_PAIRS = {"train": [("071", "054")], "val": [("720", "672")], "test": [("953", "974"), ("012", "026")]}
MANIPULATIONS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")


class Clips:
    """Each clip a distinct corner tag, so no two clips share a frame (the leak audit would object)."""

    def __init__(self, frames: int = 4):
        self.tags, self.frames = itertools.count(3, 2), frames

    def __call__(self, path: Path) -> Path:
        return make_clip(path, self.frames, tag=next(self.tags) % 250)


def faces(folder: Path, n: int, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), np.uint8)).save(folder / f"{i}.png")


def build(root: Path, clip: Clips | None = None) -> dict[str, set[tuple[str, str]]]:
    clip = clip or Clips()
    tests = {}
    ff = root / "FaceForensics++"
    for split, pairs in FFPP_PAIRS.items():
        for a, b in pairs:
            for vid in (a, b):
                clip(ff / "original_sequences/youtube/c23/videos" / f"{vid}.mp4")
            for m in MANIPULATIONS:
                for fake in (f"{a}_{b}", f"{b}_{a}"):
                    clip(ff / "manipulated_sequences" / m / "c23/videos" / f"{fake}.mp4")
    # DFD lives in the FF++ download; all of it is the test set
    for actor in ("01__talking", "02__walking"):
        clip(ff / "original_sequences/actors/c23/videos" / f"{actor}.mp4")
    for fake in ("01_02__talking__4ABCDEFG", "02_01__walking__1ZYXWVUT"):
        clip(ff / "manipulated_sequences/DeepFakeDetection/c23/videos" / f"{fake}.mp4")
    tests["dfd"] = {("DFD_real", "01__talking"), ("DFD_real", "02__walking"),
                    ("DFD_fake", "01_02__talking__4ABCDEFG"), ("DFD_fake", "02_01__walking__1ZYXWVUT")}

    cdf = root / "Celeb-DF-v2"
    for folder, names in {"Celeb-real": ["id0_0000", "id0_0001"], "YouTube-real": ["00000", "00001"],
                          "Celeb-synthesis": ["id0_id1_0000", "id0_id1_0001", "id1_id0_0000"]}.items():
        for name in names:
            clip(cdf / folder / f"{name}.mp4")
    listed = [("1", "Celeb-real", "id0_0001"), ("1", "YouTube-real", "00000"), ("0", "Celeb-synthesis", "id0_id1_0001"),
              ("0", "Celeb-synthesis", "id1_id0_0000")]
    (cdf / "List_of_testing_videos.txt").write_text("".join(f"{lab} {f}/{n}.mp4\n" for lab, f, n in listed))
    tests["celebdf"] = {(f"CDFv2_{f}", n) for _, f, n in listed}

    dfdc = root / "DFDC"
    for name in ("aaaa", "bbbb", "cccc"):
        clip(dfdc / "test/videos" / f"{name}.mp4")
    (dfdc / "test/labels.csv").write_text("filename,label\naaaa.mp4,0\nbbbb.mp4,1\ncccc.mp4,1\n")
    part = dfdc / "train/dfdc_train_part_0"
    for name in ("dddd", "eeee"):
        clip(part / f"{name}.mp4")
    (part / "metadata.json").write_text(json.dumps({"dddd.mp4": {"label": "REAL", "split": "train"},
                                                    "eeee.mp4": {"label": "FAKE", "split": "train", "original": "dddd.mp4"}}))
    tests["dfdc"] = {("DFDC_real", "aaaa"), ("DFDC_fake", "bbbb"), ("DFDC_fake", "cccc")}

    dfdcp = root / "DFDCP"
    entries = {"original_videos/643049/643049_A_001.mp4": ("real", "test"),
               "original_videos/643049/643049_A_002.mp4": ("real", "train"),
               "method_A/643049/643049_A/1255229_643049_A_001.mp4": ("fake", "test"),
               "method_A/643049/643049_A/1255229_643049_A_002.mp4": ("fake", "train"),
               "method_B/643049/643049_B/1255229_643049_B_001.mp4": ("fake", "test")}
    for key in entries:
        clip(dfdcp / key)
    (dfdcp / "dataset.json").write_text(json.dumps({k: {"label": lab, "set": s} for k, (lab, s) in entries.items()}))
    tests["dfdcp"] = {("DFDCP_real", "643049_A_001"), ("DFDCP_fakeA", "1255229_643049_A_001"),
                      ("DFDCP_fakeB", "1255229_643049_B_001")}

    uadfv = root / "UADFV"
    for label, name in (("real", "0000"), ("real", "0001"), ("fake", "0000_fake"), ("fake", "0001_fake")):
        clip(uadfv / label / f"{name}.mp4")
    tests["uadfv"] = {("UADFV_real", "0000"), ("UADFV_real", "0001"), ("UADFV_fake", "0000_fake"), ("UADFV_fake", "0001_fake")}

    dfo = root / "DeeperForensics-1.0"
    lists = {"train": ["071_M101.mp4"], "val": ["720_W102.mp4"], "test": ["953_M103.mp4", "012_W104.mp4"]}
    for split, names in lists.items():
        (dfo / "lists/splits").mkdir(parents=True, exist_ok=True)
        (dfo / "lists/splits" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for name in names:
            clip(dfo / "manipulated_videos/end_to_end" / name)
    tests["deeperforensics"] = {("DFo_fake", "953_M103"), ("DFo_fake", "012_W104"), ("DFo_real", "953"), ("DFo_real", "012")}

    ffiw = root / "FFIW10K-v1-release"
    for folder in ("source", "target"):
        for split in ("train", "val", "test"):
            clip(ffiw / folder / split / f"{split}_{folder}_0.mp4")
    tests["ffiw"] = {("FFIW_real", "test_source_0"), ("FFIW_fake", "test_target_0")}

    wdf = root / "WildDeepfake"
    for n, (archive, seq) in enumerate([("real_train", "0/real/1"), ("real_test", "3/real/7"),
                                         ("fake_train", "1/fake/2"), ("fake_test", "4/fake/9"), ("fake_test", "4/fake/10")]):
        faces(wdf / archive / seq, 3, seed=n)
    tests["wilddeepfake"] = {("WDF_real", "3-real-7"), ("WDF_fake", "4-fake-9"), ("WDF_fake", "4-fake-10")}

    df40 = root / "DF40"
    for n, (method, domain, video) in enumerate([("simswap", "ff", "000_003"), ("simswap", "cdf", "id0_id1_0000"),
                                                  ("heygen", "real", "r0"), ("heygen", "fake", "f0")]):
        faces(df40 / method / domain / "frames" / video, 3, seed=100 + n)
    tests["df40"] = {("simswap_ff", "000_003"), ("simswap_cdf", "id0_id1_0000"), ("heygen_real", "r0"), ("heygen_fake", "f0")}
    return tests


# recipe -> (its source folder under the fixture root, extra arguments)
SOURCES = {"dfd": ("FaceForensics++", []), "celebdf": ("Celeb-DF-v2", []), "dfdc": ("DFDC", []),
           "dfdcp": ("DFDCP", []), "uadfv": ("UADFV", []), "ffiw": ("FFIW10K-v1-release", []),
           "deeperforensics": ("DeeperForensics-1.0", ["--ffpp", "{root}/FaceForensics++"]),
           "wilddeepfake": ("WildDeepfake", []), "df40": ("DF40", [])}


DF40_CLASSES = {"train": [("simswap", "ff"), ("fomm", "ff"), ("stylegan3", "ff")],
                "test": [(m, "ff") for m in ("simswap", "blendface", "fomm", "sadtalker", "stylegan3", "ddpm")]
                + [(m, "cdf") for m in ("simswap", "fomm", "stylegan3")]}


def build_df40(root: Path) -> None:
    """DF40's two downloads side by side (train/, test/), with the classes suites/df40.yaml names; the
    'ff' videos carry FF++ ids of the fixture's official train / val / test pairs."""
    seed = 200
    for split, classes in DF40_CLASSES.items():
        for method, domain in classes:
            ff = {"train": ["071_054", "720_672"], "test": ["953_974", "012_026"]}[split]
            videos = ff if domain == "ff" else ["id0_id1_0000"]
            for video in videos:
                seed += 1
                faces(root / split / method / domain / "frames" / video, 2, seed=seed)
