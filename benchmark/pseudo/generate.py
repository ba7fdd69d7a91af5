"""`benchmark generate NAME IMAGES... --out DIR`: example pseudo-fakes of a generator, as a run would
make them (the same fixed blends a frozen-feature detector trains on), each beside its mask, plus
one figure of the first few: what a user looks at before a long run."""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import BenchmarkError

SHOWN = 6  # rows of the overview figure


def add_generate(commands, positive) -> None:
    generate = commands.add_parser("generate", help="write example pseudo-fakes (sbi, blended, ...) of images, each "
                                   "beside its blend mask, and an overview figure")
    generate.add_argument("generator", help="a registered generator, e.g. sbi or blended")
    generate.add_argument("images", nargs="+", help="real face images, or folders of them (recursive)")
    generate.add_argument("--out", required=True, help="folder for <n>_<image>_<k>_fake.png, _mask.png and <generator>.png")
    generate.add_argument("--count", type=positive, default=2, help="blends per image (default 2)")
    generate.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                          help="a generator option (repeatable), value parsed as YAML")
    generate.add_argument("--cache-dir", help="where landmarks are remembered (default as for run)")
    generate.add_argument("--workers", type=int, default=0, help="face-search processes (default 0: inline)")


def _images(inputs: list[str]) -> list[str]:
    from benchmark.data.images import IMAGE_SUFFIXES, natural_key

    found = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found += sorted((str(p) for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        elif path.is_file():
            found.append(str(path))
        else:
            raise BenchmarkError(f"{given}: no such image or folder")
    if not found:
        raise BenchmarkError(f"no .png/.jpg/.jpeg images in {', '.join(inputs)}")
    return list(dict.fromkeys(found))


def run_generate(args, console) -> int:
    # imported here: the parser is built for every command, and a bad suite is refused before torch loads
    import numpy as np
    import yaml
    from PIL import Image

    from benchmark.data.facts import sha256_file
    from benchmark.data.images import load_rgb
    from benchmark import plugins
    from benchmark.features.cache import default_cache_dir
    from benchmark.pseudo.fakes import PseudoFakes
    from benchmark.pseudo.figure import example_figure
    from benchmark.pseudo.landmarks import find_landmarks
    from benchmark.pseudo.resolve import build_generator

    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BenchmarkError(f"--option {item!r}: expected KEY=VALUE (a generator option, value as YAML)")
        options[key] = yaml.safe_load(value)
    resolved = build_generator(args.generator, {**options, "per_image": args.count}, plugins.collect().generators,
                               "benchmark generate")
    paths = _images(args.images)
    out = Path(args.out)
    digests = {p: sha256_file(p) for p in paths}
    landmarks = find_landmarks(paths, digests.__getitem__, Path(args.cache_dir) if args.cache_dir else default_cache_dir(),
                               args.workers)
    fakes = PseudoFakes({args.generator: resolved})
    fakes.add_part(args.generator, "train", paths, landmarks, digests.__getitem__, {p: p for p in paths})
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, path in enumerate(paths):
        real = np.asarray(load_rgb(path))  # as the generator read it (EXIF rotation included)
        for k in range(args.count):
            name = f"{path}#{args.generator}:{k}"
            if name not in fakes:
                continue
            fake, mask = fakes.make(name)
            stem = f"{n:03d}_{Path(path).stem}_{k}"
            Image.fromarray(fake).save(out / f"{stem}_fake.png")
            Image.fromarray(np.rint(mask * 255).astype(np.uint8)).save(out / f"{stem}_mask.png")
            if len(rows) < SHOWN:
                rows.append((Path(path).name, real, fake, mask))
    figure = example_figure(rows, out / f"{args.generator}.png", f"{args.generator}: {resolved.identity['options']}")
    part = fakes.parts[args.generator, "train"]
    console.print(f"{args.generator}: {part['blended']} of {part['real']} images blended x {args.count}; "
                  f"examples in {out}, overview {figure}", highlight=False)
    for skipped in part["examples"]:
        console.print(f"  not blended: {skipped['path']} ({skipped['why']})", highlight=False)
    return 0
