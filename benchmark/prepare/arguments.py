"""`benchmark prepare`'s command line: ``videos`` (class folders of videos) and one sub-command per
registered dataset recipe (built in: ffpp, celebdf, dfd, dfdc, dfdcp, uadfv, deeperforensics, ffiw,
wilddeepfake, df40; more through ``register_datasets``)."""

from __future__ import annotations

import argparse


def add_prepare(commands, recipes, positive, non_negative) -> None:
    prepare = commands.add_parser("prepare", help="a dataset or videos -> face frames + manifest.csv (N evenly spaced "
                                  "frames, optional face crops, landmarks, alignment)")
    source = prepare.add_subparsers(dest="source", required=True, metavar="DATASET")
    videos = source.add_parser("videos", help="SOURCE/<class>/<video>.mp4 -> DEST/<class>/<video>/0000.png ...")
    videos.add_argument("src", help="folder of class folders holding videos")
    videos.add_argument("dest", help="where the frame folders, manifest.csv and prepare.json go")
    _common(videos, positive, non_negative)
    for recipe in recipes:
        command = source.add_parser(recipe.name, help=f"{recipe.title}: {recipe.test_split}",
                                    description=f"{recipe.title} ({recipe.origin}). Expects in SRC: {recipe.layout}. "
                                    f"Labels: {recipe.labels}. Test split: {recipe.test_split}.")
        command.set_defaults(recipe=recipe)
        command.add_argument("src", help=f"the {recipe.title} download")
        if not recipe.in_place:
            command.add_argument("dest", help="where the frames, manifest.csv and prepare.json go")
        for option in recipe.options:
            command.add_argument(f"--{option.name}", default=option.default, choices=option.choices, help=option.help)
        if recipe.test_only:
            command.add_argument("--all-splits", action="store_true",
                                 help="also its train/val videos (default: only the official test videos)")
        if not recipe.frames:
            _common(command, positive, non_negative)
        else:
            command.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def _common(command: argparse.ArgumentParser, positive, non_negative) -> None:
    command.add_argument("--frames", type=positive, default=32, help="frames per video, evenly spaced (32)")
    command.add_argument("--faces", action="store_true", help="crop the largest face (dlib HOG, as FF++)")
    command.add_argument("--size", type=positive, default=256, help="face crop side in pixels (256)")
    command.add_argument("--scale", type=float, default=1.3, help="face box enlargement around its centre (1.3)")
    command.add_argument("--detector", choices=["hog", "cnn"], default="hog",
                         help="with --faces: dlib's HOG (default) or its MMOD CNN (more profile/dark faces, slower)")
    command.add_argument("--detect-size", type=positive, default=None, metavar="PX",
                         help="with --faces: find faces on the frame shrunk to this longer side, map boxes back")
    command.add_argument("--landmarks", action="store_true",
                         help="with --faces: dlib's 68 landmarks per face, saved as landmarks.npy per video")
    command.add_argument("--align", action="store_true", help="with --faces: DeepfakeBench's crop (5-point "
                         "similarity alignment at --scale to --size) instead of the square box; implies --landmarks")
    command.add_argument("--workers", type=non_negative, default=None, help="videos in parallel (cores - 1)")
    command.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def registered_recipes() -> list:
    """Every registered dataset recipe (plugins that fail to load are left out: `benchmark plugins` says why)."""
    from benchmark import plugins

    return [entry.value for entry in plugins.collect().datasets]
