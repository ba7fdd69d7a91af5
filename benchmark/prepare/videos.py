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

import numpy as np

from benchmark.datasets import VIDEO_SUFFIXES
from benchmark.errors import BenchmarkError
from benchmark.files import atomic_write, write_json
from benchmark.prepare.extract import Settings, faces, frames
from benchmark.prepare.faces import FaceFinder
from benchmark.prepare.frames import Video, VideoError
from benchmark.processes import die_with_parent

RECORD = "video.json"  # inside each finished video folder: its own account (not an image: never read as one)
PARTIAL = ".partial"
LANDMARKS = "landmarks.npy"


@dataclass(frozen=True)
class Job:
    source: Path  # the video file
    target: Path  # its frame folder
    cls: str
    video: str | None = None  # the manifest's video (default: the folder's name)
    split: str | None = None  # the official split, written to the manifest when any job has one

    @property
    def name(self) -> str:
        return self.video or self.target.name


def prepare_video(job: Job, settings: Settings, finder: FaceFinder | None = None) -> dict:
    """One video -> ``job.target``/0000.png ...; returns its record. Never raises for a bad video."""
    record = {"video": job.target.name, "class": job.cls, "source": str(job.source), "settings": asdict(settings),
              "frames_wanted": settings.frames,
              "frames_in_video": 0,
              "frames_decoded": 0, "faces_found": 0, "frames_written": 0, "replaced_no_face": 0, "dropped": [],
              "failure": None}
    if (job.target / RECORD).is_file():
        return {**json.loads((job.target / RECORD).read_text()), "skipped": True}
    partial = job.target.with_name(job.target.name + PARTIAL)
    shutil.rmtree(partial, ignore_errors=True)  # a killed earlier attempt
    start = time.perf_counter()
    try:
        with Video(job.source) as video:
            record["frames_in_video"] = len(video)
            images, landmarks = faces(video, settings, record, finder) if settings.faces else frames(video, settings, record)
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
    if settings.faces and (settings.landmarks or settings.align):
        # (frames, 68, 2) float32, x y pixels in each saved crop, in the order of the frame files
        np.save(partial / LANDMARKS, np.stack(landmarks).astype(np.float32))
    (partial / RECORD).write_text(json.dumps(record, indent=1))
    shutil.rmtree(job.target, ignore_errors=True)
    os.replace(partial, job.target)  # the folder appears complete or not at all
    return record


OPTIONS = {"frames": "--frames", "faces": "--faces", "size": "--size", "scale": "--scale", "detector": "--detector",
           "detect_size": "--detect-size", "landmarks": "--landmarks", "align": "--align"}


DEFAULTS = asdict(Settings())


def check_same_settings(jobs: list[Job], settings: Settings, root: Path, what: dict | None = None) -> None:
    """A destination prepared with other parameters is refused, naming the first that differs: resuming
    would keep its old frames under the new parameters (as a run dir refuses another experiment).
    ``what`` (dataset, its options, the model files' digests) is compared with prepare.json too."""
    wanted = asdict(settings)
    found, summary = [], {}
    try:
        summary = json.loads((root / "prepare.json").read_text())["parameters"]
        found.append((root / "prepare.json", summary))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no summary yet (a first run killed early): the videos' own records say it
    found += [(job.target / RECORD, _saved_settings(job.target / RECORD)) for job in jobs]
    redo = f"prepare into another folder, or delete {root} to redo it"
    for where, saved in found:
        for key, flag in OPTIONS.items():
            # a record from before a key existed was made with its default (e.g. no --align)
            if isinstance(saved, dict) and saved.get(key, DEFAULTS[key]) != wanted[key]:
                raise BenchmarkError(f"{where} was prepared with {flag} {saved.get(key, DEFAULTS[key])}, this run "
                                     f"asks for {wanted[key]}; {redo}")
    for key, value in (what or {}).items():
        if isinstance(summary, dict) and key in summary and summary[key] != value:
            raise BenchmarkError(f"{root / 'prepare.json'} was prepared with {key} {summary[key]}, this run has "
                                 f"{value}; {redo}")


def _saved_settings(record: Path) -> dict | None:
    try:
        return json.loads(record.read_text()).get("settings")
    except (OSError, ValueError, AttributeError):
        return None


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
        "tool": f"forgery-benchmark {tool_version()}", "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "parameters": {**asdict(settings), **what}, "totals": _totals(records), "videos": records,
    }
    write_json(root / "prepare.json", summary)
    atomic_write(root / "manifest.csv", _manifest(jobs, records, root).to_csv(index=False))
    return summary


def _totals(records: list[dict]) -> dict:
    keys = ("frames_decoded", "faces_found", "frames_written", "replaced_no_face")
    totals = {"frames_without_face": sum(len(r.get("dropped", ())) for r in records),"videos": len(records), "prepared": sum(r["failure"] is None for r in records),
              "failed": sum(r["failure"] is not None for r in records),
              "skipped_as_done": sum(bool(r.get("skipped")) for r in records),
              **{k: sum(r.get(k, 0) for r in records) for k in keys}}
    fresh = [r for r in records if not r.get("skipped")]
    busy = sum(r.get("seconds", 0) for r in fresh)
    if busy > 0:  # per worker: seconds are each video's own decoding and face finding, this time
        totals["frames_decoded_per_s_per_worker"] = round(sum(r["frames_decoded"] for r in fresh) / busy, 1)
        totals["faces_per_s_per_worker"] = round(sum(r["faces_found"] for r in fresh) / busy, 1)
    return totals


def _manifest(jobs: list[Job], records: list[dict], root: Path) -> pd.DataFrame:
    """path,class,video[,split][,landmarks,landmark_row] of every frame written (paths relative to
    the manifest); split when the dataset has official lists, landmarks when they were found."""
    rows = []
    for job, record in zip(jobs, records):
        if record["failure"] is None:
            marks = job.target / LANDMARKS
            for row, frame in enumerate(sorted(job.target.glob("*.png"))):
                rows.append((os.path.relpath(frame, root), job.cls, job.name, job.split or "",
                             os.path.relpath(marks, root) if marks.is_file() else "", row if marks.is_file() else ""))
    table = pd.DataFrame(rows, columns=["path", "class", "video", "split", "landmarks", "landmark_row"])
    if not any(job.split for job in jobs):
        table = table.drop(columns="split")
    return table if (table["landmarks"] != "").any() else table.drop(columns=["landmarks", "landmark_row"])


def tool_version() -> str:
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
