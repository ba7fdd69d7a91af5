"""Videos -> frame folders: N evenly spaced frames per video (optionally face crops), written
atomically per video, resumable, parallel across videos, every video and frame accounted for in
``prepare.json`` and ``manifest.csv``."""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmark.data.splits import evenly_spaced
from benchmark.errors import BenchmarkError
from benchmark.files import atomic_write, write_json
from benchmark.prepare.faces import DlibHog, FaceFinder, crop_face
from benchmark.prepare.frames import Video, VideoError
from benchmark.processes import die_with_parent

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
RECORD = "video.json"  # inside each finished video folder: its own account (not an image: never read as one)
PARTIAL = ".partial"


@dataclass(frozen=True)
class Settings:
    frames: int = 32
    faces: bool = False
    size: int = 256
    scale: float = 1.3


@dataclass(frozen=True)
class Job:
    source: Path  # the video file
    target: Path  # its frame folder
    cls: str


def prepare_video(job: Job, settings: Settings, finder: FaceFinder | None = None) -> dict:
    """One video -> ``job.target``/0000.png ...; returns its record. Never raises for a bad video."""
    record = {"video": job.target.name, "class": job.cls, "source": str(job.source), "settings": asdict(settings),
              "frames_wanted": settings.frames,
              "frames_in_video": 0,
              "frames_decoded": 0, "faces_found": 0, "frames_written": 0, "replaced_no_face": 0, "failure": None}
    if (job.target / RECORD).is_file():
        return {**json.loads((job.target / RECORD).read_text()), "skipped": True}
    partial = job.target.with_name(job.target.name + PARTIAL)
    shutil.rmtree(partial, ignore_errors=True)  # a killed earlier attempt
    start = time.perf_counter()
    try:
        with Video(job.source) as video:
            record["frames_in_video"] = len(video)
            images = _faces(video, settings, finder, record) if settings.faces else _frames(video, settings, record)
    except VideoError as e:
        record["failure"] = str(e)
        return record
    finally:
        record["seconds"] = round(time.perf_counter() - start, 3)  # decoding and face finding
    if not images:
        record["failure"] = f"no face in any of its {record['frames_in_video']} frames"
        return record
    partial.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(partial / f"{i:04d}.png")
    record["frames_written"] = len(images)
    (partial / RECORD).write_text(json.dumps(record, indent=1))
    shutil.rmtree(job.target, ignore_errors=True)
    os.replace(partial, job.target)  # the folder appears complete or not at all
    return record


OPTIONS = {"frames": "--frames", "faces": "--faces", "size": "--size", "scale": "--scale"}


def check_same_settings(jobs: list[Job], settings: Settings, root: Path) -> None:
    """A destination prepared with other parameters is refused, naming the first that differs: resuming
    would keep its old frames under the new parameters (as a run dir refuses another experiment)."""
    wanted = asdict(settings)
    found = []
    try:
        found.append((root / "prepare.json", json.loads((root / "prepare.json").read_text())["parameters"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no summary yet (a first run killed early): the videos' own records say it
    found += [(job.target / RECORD, _saved_settings(job.target / RECORD)) for job in jobs]
    for where, saved in found:
        for key, flag in OPTIONS.items():
            if isinstance(saved, dict) and key in saved and saved[key] != wanted[key]:
                raise BenchmarkError(f"{where} was prepared with {flag} {saved[key]}, this run asks for {wanted[key]}; "
                                     f"prepare into another folder, or delete {root} to redo it")


def _saved_settings(record: Path) -> dict | None:
    try:
        return json.loads(record.read_text()).get("settings")
    except (OSError, ValueError, AttributeError):
        return None


def _frames(video: Video, settings: Settings, record: dict) -> list:
    out = []
    for index in evenly_spaced(list(range(len(video))), settings.frames):
        out.append(video.frame(index))
        record["frames_decoded"] += 1
    return out


def _faces(video: Video, settings: Settings, finder, record: dict) -> list:
    """A sampled frame without a face is replaced by the nearest frame (either side) that has one
    and is not used yet, so a video yields N faces unless it runs out of frames with faces."""
    finder = finder or DlibHog()
    total, seen, used = len(video), {}, set()

    def face_at(index):
        if index not in seen:
            rgb = video.frame(index)
            record["frames_decoded"] += 1
            seen[index] = crop_face(rgb, finder(rgb), settings.size, settings.scale)
            record["faces_found"] += seen[index] is not None
        return seen[index]

    for wanted in evenly_spaced(list(range(total)), settings.frames):
        found = None
        for distance in range(total):
            candidates = [wanted] if distance == 0 else [wanted + distance, wanted - distance]
            found = next((i for i in candidates if 0 <= i < total and i not in used and face_at(i) is not None), None)
            if found is not None:
                break
        if found is None:
            break  # the whole video was searched: no unused frame with a face is left
        used.add(found)
        record["replaced_no_face"] += found != wanted
    return [seen[i] for i in sorted(used)]  # in time order


def _run(args) -> dict:
    job, settings = args
    return prepare_video(job, settings)


def prepare(jobs: list[Job], settings: Settings, root: Path, workers: int, console: Console, what: dict) -> dict:
    """Run every job (``workers`` processes), then write ``root``/prepare.json and manifest.csv."""
    records = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("prepare videos", total=len(jobs))
        if workers > 0:
            with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent) as pool:
                for record in pool.map(_run, [(job, settings) for job in jobs]):
                    records.append(record)
                    progress.advance(task)
        else:
            for job in jobs:
                records.append(prepare_video(job, settings))
                progress.advance(task)
    summary = {
        "tool": f"forgery-benchmark {_version()}", "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "parameters": {**asdict(settings), **what}, "totals": _totals(records), "videos": records,
    }
    write_json(root / "prepare.json", summary)
    atomic_write(root / "manifest.csv", _manifest(jobs, records, root).to_csv(index=False))
    return summary


def _totals(records: list[dict]) -> dict:
    keys = ("frames_decoded", "faces_found", "frames_written", "replaced_no_face")
    totals = {"videos": len(records), "prepared": sum(r["failure"] is None for r in records),
              "failed": sum(r["failure"] is not None for r in records),
              "skipped_as_done": sum(bool(r.get("skipped")) for r in records),
              **{k: sum(r[k] for r in records) for k in keys}}
    fresh = [r for r in records if not r.get("skipped")]
    busy = sum(r.get("seconds", 0) for r in fresh)
    if busy > 0:  # per worker: seconds are each video's own decoding and face finding, this time
        totals["frames_decoded_per_s_per_worker"] = round(sum(r["frames_decoded"] for r in fresh) / busy, 1)
        totals["faces_per_s_per_worker"] = round(sum(r["faces_found"] for r in fresh) / busy, 1)
    return totals


def _manifest(jobs: list[Job], records: list[dict], root: Path) -> pd.DataFrame:
    """path,class,video of every frame written (paths relative to the manifest)."""
    rows = []
    for job, record in zip(jobs, records):
        if record["failure"] is None:
            for frame in sorted(job.target.glob("*.png")):
                rows.append((os.path.relpath(frame, root), job.cls, job.target.name))
    return pd.DataFrame(rows, columns=["path", "class", "video"])


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("forgery-benchmark")
    except metadata.PackageNotFoundError:
        return "unknown"


def video_jobs(source: Path, dest: Path) -> list[Job]:
    """SOURCE/<class>/<video>.mp4 -> DEST/<class>/<video>/ (videos directly in SOURCE: class = its name)."""
    jobs = []
    for path in sorted(p for p in source.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()):
        relative = path.relative_to(source)
        cls = relative.parts[0] if len(relative.parts) > 1 else source.name
        jobs.append(Job(path, dest / cls / path.stem, cls))
    return jobs


def ffpp_jobs(root: Path, compression: str) -> list[Job]:
    """The official FF++ tree: <...>/<compression>/videos/<id>.mp4 -> <...>/<compression>/frames/<id>/."""
    folders = [("Real_youtube", root / "original_sequences" / "youtube" / compression)]
    manipulated = root / "manipulated_sequences"
    if manipulated.is_dir():
        folders += [(m.name, m / compression) for m in sorted(manipulated.iterdir()) if m.is_dir()]
    jobs = []
    for cls, folder in folders:
        for path in sorted((folder / "videos").glob("*")) if (folder / "videos").is_dir() else []:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                jobs.append(Job(path, folder / "frames" / path.stem, cls))
    return jobs
