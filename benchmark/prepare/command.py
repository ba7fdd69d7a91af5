"""`benchmark prepare ffpp | videos`: the command's checks and console lines around
:func:`benchmark.prepare.videos.prepare`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from benchmark.errors import BenchmarkError
from benchmark.features.encoders import default_workers
from benchmark.prepare.faces import DlibHog
from benchmark.prepare.videos import Settings, check_same_settings, ffpp_jobs, prepare, video_jobs


def prepare_command(args, console: Console) -> int:
    """Check the options, find the videos, prepare them, and say what happened (one line per problem video)."""
    if args.scale < 1 or args.scale > 4:
        raise BenchmarkError(f"--scale must be between 1 and 4, got {args.scale}")
    if args.source == "ffpp":
        root = Path(args.root)
        jobs, what = ffpp_jobs(root, args.compression), {"layout": "ffpp", "compression": args.compression}
        where = f"{root}/original_sequences/youtube/{args.compression}/videos/ or manipulated_sequences/*/{args.compression}/videos/"
    else:
        root = Path(args.dest)
        if root.resolve().is_relative_to(Path(args.src).resolve()):
            raise BenchmarkError(f"DEST {args.dest} is inside SRC {args.src}: the frames would be mixed with the "
                                 "videos (and read as data of SRC); choose a DEST outside it")
        jobs, what = video_jobs(Path(args.src), root), {"layout": "folders", "source": str(Path(args.src).resolve())}
        where = f"{args.src} (class folders of .mp4, .avi, .mov, .mkv, .webm files)"
    if not jobs:
        raise BenchmarkError(f"no videos found in {where}")
    settings = Settings(frames=args.frames, faces=args.faces, size=args.size, scale=args.scale)
    check_same_settings(jobs, settings, root)
    if args.faces:
        DlibHog()  # a missing dlib is said now, in one line, not once per video
    root.mkdir(parents=True, exist_ok=True)
    summary = prepare(jobs, settings, root, default_workers() if args.workers is None else args.workers, console, what)
    totals = summary["totals"]
    console.print(f"{totals['videos']} videos: {totals['prepared']} prepared ({totals['skipped_as_done']} already "
                  f"done), {totals['failed']} failed; {totals['frames_written']} frames written, "
                  f"{totals['frames_decoded']} decoded" + (f", {totals['faces_found']} faces found, "
                  f"{totals['replaced_no_face']} no-face frames replaced by a neighbour" if args.faces else ""),
                  highlight=False)
    if "frames_decoded_per_s_per_worker" in totals:
        console.print(f"per worker: {totals['frames_decoded_per_s_per_worker']} frames decoded/s"
                      + (f", {totals['faces_per_s_per_worker']} faces/s" if args.faces else ""), highlight=False)
    for record in summary["videos"]:
        why = record["failure"]
        if not why and record["frames_written"] < record["frames_wanted"]:  # short: said, as for a failure
            why = (f"only {record['frames_written']} of {record['frames_wanted']} frames: "
                   + (f"the video has {record['frames_in_video']}" if record["frames_in_video"] < record["frames_wanted"]
                      else "the others have no face"))
        if why:
            console.print(f"[yellow]video {escape(record['source'])}:[/] {escape(why)}", highlight=False, soft_wrap=True)
    console.print(f"wrote {root / 'prepare.json'} and {root / 'manifest.csv'}", highlight=False, soft_wrap=True)
    return 0
