"""Image sets for the Wasserstein comparison: natural photographs, image folders, rendered ECGs.

ImageNet is not reachable offline, so the natural-image set is made of random square crops
(resized to ``size``) of photographs shipped inside installed packages: scikit-learn's
sample images (``china.jpg``, ``flower.jpg``) and, when scikit-image is installed, its
bundled colour photographs — or of the photographs in a user folder. Every set comes with
a description saying exactly what it was made from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Crops cover between this fraction and all of the photograph's shorter side.
MIN_CROP_FRACTION = 0.25
#: scikit-image photographs used when that package is installed.
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field")


def _packaged_photos() -> tuple[list[np.ndarray], list[str]]:
    """Photographs from scikit-learn (always) and scikit-image (if installed)."""
    from sklearn.datasets import load_sample_images

    sample = load_sample_images()
    photos = list(sample.images)
    names = [f"scikit-learn:{Path(f).name}" for f in sample.filenames]
    try:
        from skimage import data as skdata
    except ImportError:
        return photos, names
    for name in SKIMAGE_PHOTOS:
        loader = getattr(skdata, name, None)
        if loader is not None:
            photos.append(np.asarray(loader()))
            names.append(f"scikit-image:{name}")
    return photos, names


def list_images(folder: Path) -> list[Path]:
    """Image files (PNG/JPG/BMP/TIFF) directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist or is not a directory")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"image folder {folder} holds no {'/'.join(IMAGE_SUFFIXES)} files")
    return files


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def natural_image_set(
    n: int = 1000, size: int = 224, seed: int = 0, folder: Path | None = None
) -> tuple[np.ndarray, str]:
    """``n`` random crops of natural photographs, resized to ``size``: ``(n, size, size, 3)``.

    Photographs come from ``folder`` when given, otherwise from installed packages.
    Returns the images and a description naming the photographs used.
    """
    if n < 1 or size < 1:
        raise ValueError(f"natural_image_set needs n >= 1 and size >= 1, got n={n}, size={size}")
    if folder is not None:
        files = list_images(folder)
        photos, names = [_read_rgb(p) for p in files], [p.name for p in files]
        origin = f"photographs in {folder}"
    else:
        photos, names = _packaged_photos()
        origin = "photographs shipped with installed packages"
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for k, which in enumerate(rng.integers(0, len(photos), n)):
        photo = photos[which]
        short = min(photo.shape[:2])
        side = int(rng.integers(max(1, int(short * MIN_CROP_FRACTION)), short + 1))
        top = int(rng.integers(0, photo.shape[0] - side + 1))
        left = int(rng.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[top : top + side, left : left + side])
        out[k] = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR))
    description = (
        f"{n} random square crops ({MIN_CROP_FRACTION:.0%}–100 % of the shorter side, seed "
        f"{seed}) resized to {size}×{size} from {len(photos)} {origin}: {', '.join(names)}"
    )
    return out, description


def folder_image_set(folder: Path, n: int = 1000, size: int = 224) -> tuple[np.ndarray, str]:
    """The first ``n`` images of ``folder`` (sorted by name), each resized to ``size × size``."""
    files = list_images(folder)[:n]
    images = np.stack(
        [
            np.asarray(
                Image.fromarray(_read_rgb(p)).resize((size, size), Image.Resampling.BILINEAR)
            )
            for p in files
        ]
    )
    return images, f"{len(files)} images from {folder} resized to {size}×{size}"


def task_image_set(
    task: str, source: str, n: int = 1000, size: int = 224, seed: int = 0
) -> tuple[np.ndarray, str]:
    """``n`` ECGs of ``task``'s ``source`` cohort (random records), preprocessed and rendered."""
    from bench.api import RenderConfig, get_host, preprocess_batch, render_batch

    spec = get_host().registries.tasks.get(task)
    if source not in spec.loaders:
        raise ValueError(
            f"task {task!r} has no source {source!r}; choose from {sorted(spec.loaders)}"
        )
    cohort = spec.loaders[source]({"seed": seed})
    ids = cohort.manifest["record_id"].to_numpy()
    rng = np.random.default_rng(seed)
    chosen = rng.choice(ids, size=min(n, len(ids)), replace=False)
    signals = preprocess_batch([cohort.load_signal(str(r)) for r in chosen])
    images = render_batch(signals, RenderConfig(size=size))
    return images, (
        f"{len(chosen)} ECGs of task {task} from source {source} (cohort {cohort.name}, "
        f"{cohort.source_version}, seed {seed}) rendered at {size}×{size}"
    )


def load_image_set(
    spec: str, n: int = 1000, size: int = 224, seed: int = 0
) -> tuple[np.ndarray, str]:
    """Resolve a set name: ``natural``, a folder of images, or ``task:source`` (e.g. ``stemi:synthetic``)."""
    if spec == "natural":
        return natural_image_set(n=n, size=size, seed=seed)
    if Path(spec).is_dir():
        return folder_image_set(Path(spec), n=n, size=size)
    if ":" in spec:
        task, source = spec.split(":", 1)
        return task_image_set(task, source, n=n, size=size, seed=seed)
    raise ValueError(
        f"image set {spec!r} is neither 'natural', an existing folder, nor 'task:source'"
    )
