"""`benchmark prepare <dataset> | videos`: the command's checks and console lines around
:func:`benchmark.prepare.videos.prepare` (videos) and :func:`benchmark.prepare.recipe_run.index_frames`
(datasets shipped as face crops)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from benchmark.errors import BenchmarkError
from benchmark.features.encoders import default_workers
from benchmark.prepare.extract import Settings, tools
from benchmark.prepare.recipe_run import index_frames, jobs_of, recipe_items
from benchmark.prepare.videos import check_same_settings, prepare, video_jobs


def prepare_command(args, console: Console) -> int:
    """Check the options, find the videos, prepare them, and say what happened (one line per problem video)."""
    recipe = getattr(args, "recipe", None)
    if recipe is not None and recipe.frames:
        return _index(args, recipe, console)
    settings = _settings(args)
    if recipe is not None:
        src = Path(args.src)
        root = src if recipe.in_place else Path(args.dest)
        options = {o.name: getattr(args, o.name) for o in recipe.options}
        _outside(root, src, recipe.in_place)
        items = recipe_items(recipe, src, options, getattr(args, "all_splits", False))
        jobs = jobs_of(recipe, items, root)
        what = {"dataset": recipe.name, **options, "all_splits": getattr(args, "all_splits", False),
                "source": str(src.resolve())}
    else:
        root = Path(args.dest)
        _outside(root, Path(args.src), False)
        jobs, what = video_jobs(Path(args.src), root), {"layout": "folders", "source": str(Path(args.src).resolve())}
        if not jobs:
            raise BenchmarkError(f"no videos found in {args.src} (class folders of .mp4, .avi, .mov, .mkv, .webm files)")
    if settings.faces:  # a missing dlib or model file is said now, in one line, not once per video
        what.update(_tool_facts(settings))
    check_same_settings(jobs, settings, root, what)
    root.mkdir(parents=True, exist_ok=True)
    summary = prepare(jobs, settings, root, default_workers() if args.workers is None else args.workers, console, what)
    _say(summary, settings, root, console)
    return 0


def _settings(args) -> Settings:
    if args.scale < 1 or args.scale > 4:
        raise BenchmarkError(f"--scale must be between 1 and 4, got {args.scale}")
    face_only = [flag for flag, given in (("--landmarks", args.landmarks), ("--align", args.align),
                                          ("--detector cnn", args.detector != "hog"),
                                          ("--detect-size", args.detect_size is not None)) if given]
    if face_only and not args.faces:
        raise BenchmarkError(f"{face_only[0]} works on faces: add --faces")
    return Settings(frames=args.frames, faces=args.faces, size=args.size, scale=args.scale, detector=args.detector,
                    detect_size=args.detect_size, landmarks=args.landmarks or args.align, align=args.align)


def _tool_facts(settings: Settings) -> dict:
    """The face detector and landmark model, by file digest, for prepare.json (and its rerun check)."""
    from benchmark.prepare.landmarks import sha256

    finder, landmarker = tools(settings)
    inner = getattr(finder, "finder", finder)
    facts = {"face_detector": f"dlib {settings.detector}" + (f" ({inner.path.name} sha256 {sha256(inner.path)[:16]})"
                                                             if hasattr(inner, "path") else "")}
    if landmarker is not None:
        facts["landmark_model"] = landmarker.describe()
    if settings.align:
        facts["alignment"] = (f"5-point similarity (dlib points 37, 44, 30, 49, 55) to the ArcFace template at "
                              f"scale {settings.scale}, {settings.size} px (DeepfakeBench)")
    return facts


def _outside(root: Path, src: Path, in_place: bool) -> None:
    if not in_place and root.resolve().is_relative_to(src.resolve()):
        raise BenchmarkError(f"DEST {root} is inside SRC {src}: the frames would be mixed with the "
                             "videos (and read as data of SRC); choose a DEST outside it")


def _index(args, recipe, console: Console) -> int:
    src, dest = Path(args.src), Path(args.dest)
    _outside(dest, src, False)
    options = {o.name: getattr(args, o.name) for o in recipe.options}
    items = recipe_items(recipe, src, options, getattr(args, "all_splits", False))
    summary = index_frames(items, dest, {"dataset": recipe.name, **options, "source": str(src.resolve()),
                                         "frames": "as shipped (face crops)"})
    totals = summary["totals"]
    console.print(f"{totals['videos']} face sequences, {totals['frames_indexed']} images indexed (not copied); "
                  f"wrote {dest / 'manifest.csv'} and {dest / 'prepare.json'}", highlight=False, soft_wrap=True)
    return 0


def _say(summary: dict, settings: Settings, root: Path, console: Console) -> None:
    totals = summary["totals"]
    console.print(f"{totals['videos']} videos: {totals['prepared']} prepared ({totals['skipped_as_done']} already "
                  f"done), {totals['failed']} failed; {totals['frames_written']} frames written, "
                  f"{totals['frames_decoded']} decoded" + (f", {totals['faces_found']} faces found, "
                  f"{totals['frames_without_face']} frames without a face (listed in prepare.json), "
                  f"{totals['replaced_no_face']} replaced by a neighbour" if settings.faces else ""), highlight=False)
    if "frames_decoded_per_s_per_worker" in totals:
        console.print(f"per worker: {totals['frames_decoded_per_s_per_worker']} frames decoded/s"
                      + (f", {totals['faces_per_s_per_worker']} faces/s" if settings.faces else ""), highlight=False)
    for record in summary["videos"]:
        why = record["failure"]
        if not why and record["frames_written"] < record["frames_wanted"]:  # short: said, as for a failure
            why = (f"only {record['frames_written']} of {record['frames_wanted']} frames: "
                   + (f"the video has {record['frames_in_video']}" if record["frames_in_video"] < record["frames_wanted"]
                      else "the others have no face"))
        if why:
            console.print(f"[yellow]video {escape(record['source'])}:[/] {escape(why)}", highlight=False, soft_wrap=True)
    console.print(f"wrote {root / 'prepare.json'} and {root / 'manifest.csv'}", highlight=False, soft_wrap=True)


