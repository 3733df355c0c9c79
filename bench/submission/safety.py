"""A bundle is data only, and every member is checked before a byte of it is used.

Format: a ZIP archive. Its central directory states every member's name, file type and
declared size before anything is decompressed, so all the rules below are applied to the
whole listing first (a gzipped tar must be decompressed to be listed at all, and carries
links and devices as member types); a member is then read into memory, never extracted to
disk, and Python's ``zipfile`` stops at the declared size and checks the CRC, so a member
cannot decompress to more than the listing said. ``.npz`` files are ZIP archives too and
get the same checks, plus their arrays' headers (no object arrays, which NumPy would
unpickle); they are loaded with ``allow_pickle=False``. Nothing read is ever executed.

Rules (one-line :class:`BundleError` naming the member and the rule):

- member types: regular files (and directory entries) only: no symbolic links or other
  special files; no encrypted members; no duplicate names;
- names: relative, ``/``-separated, no ``..``, ``.`` or empty part, no backslash, no drive
  letter;
- suffixes: ``.json``, ``.jsonl``, ``.csv``, ``.npz`` only (a pickle is refused by name and,
  inside an ``.npz``, by its array header);
- sizes: at most :data:`MAX_MEMBER_BYTES` per member and :data:`MAX_TOTAL_BYTES` in all
  (uncompressed, as declared), at most :data:`MAX_MEMBERS` members, and a compression
  ratio of at most :data:`MAX_RATIO` for any member over :data:`RATIO_FLOOR_BYTES`.
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

#: Largest uncompressed member, and all members together (declared sizes).
MAX_MEMBER_BYTES = 256 * 2**20
MAX_TOTAL_BYTES = 1024 * 2**20
#: Most members in one archive.
MAX_MEMBERS = 100_000
#: Largest uncompressed/compressed size ratio of a member bigger than RATIO_FLOOR_BYTES
#: (CSV and JSONL records compress 5-20x; a bomb of zeros over 1,000x).
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 2**20
#: What a bundle may hold.
ALLOWED_SUFFIXES: tuple[str, ...] = (".json", ".jsonl", ".csv", ".npz")


class BundleError(ValueError):
    """A bundle (or one of its members) breaks a safety or format rule."""


def name_problem(name: str) -> str | None:
    """Why ``name`` is not an acceptable member path (None when it is)."""
    if not name or name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return "absolute or non-POSIX path"
    parts = name.split("/")[: -1 if name.endswith("/") else None]  # "dir/": a directory
    if any(part in ("..", ".", "") for part in parts):
        return "path with a '..', '.' or empty part"
    return None


def _kind_problem(info: zipfile.ZipInfo) -> str | None:
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no type stated (a regular file)
    if kind == stat.S_IFLNK:
        return "symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "special file (not a regular file)"
    if info.flag_bits & 0x1:
        return "encrypted member"
    return None


def check_listing(
    infos: Iterable[zipfile.ZipInfo], label: str, suffixes: tuple[str, ...] = ALLOWED_SUFFIXES
) -> list[zipfile.ZipInfo]:
    """Apply every rule of the module docstring to an archive's listing; the regular file
    members, in order. Raises :class:`BundleError` at the first member that breaks one."""
    files: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    total = 0
    for count, info in enumerate(infos, start=1):
        name = info.filename

        def refuse(rule: str, name: str = name) -> BundleError:
            return BundleError(f"{label}: member {name!r} refused: {rule}")

        if count > MAX_MEMBERS:
            raise refuse(f"more than {MAX_MEMBERS:,} members")
        problem = name_problem(name) or _kind_problem(info)
        if problem:
            raise refuse(problem)
        if name in seen:
            raise refuse("duplicate member name")
        seen.add(name)
        if info.is_dir():
            continue
        if not name.endswith(suffixes):
            raise refuse(
                f"type not allowed (a bundle holds {', '.join(suffixes)} files only; "
                "pickles and code are never read)"
            )
        if info.file_size > MAX_MEMBER_BYTES:
            raise refuse(f"{info.file_size:,} bytes, over the {MAX_MEMBER_BYTES:,}-byte limit")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise refuse(f"members total over the {MAX_TOTAL_BYTES:,}-byte limit")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR_BYTES and ratio > MAX_RATIO:
            raise refuse(f"compression ratio {ratio:,.0f}, over the limit of {MAX_RATIO}")
        files.append(info)
    return files


_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def check_npz(data: bytes, label: str) -> None:
    """Refuse an ``.npz`` that breaks a listing rule or holds an object (pickled) array,
    reading only its array headers."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BundleError(f"{label}: not a valid .npz (zip) file") from None
    with archive:
        for info in check_listing(archive.infolist(), label, suffixes=(".npy",)):
            with archive.open(info) as handle:
                try:
                    version = np.lib.format.read_magic(handle)
                    if version not in _HEADER_READERS:
                        raise ValueError(f"unsupported .npy format version {version}")
                    _, _, dtype = _HEADER_READERS[version](handle)
                except ValueError as exc:
                    raise BundleError(f"{label}: array {info.filename!r}: {exc}") from None
            if dtype.hasobject:
                raise BundleError(
                    f"{label}: array {info.filename!r} refused: object dtype (NumPy would "
                    "unpickle it); a bundle holds numeric arrays only"
                )


def load_npz(data: bytes, label: str) -> dict[str, np.ndarray]:
    """The arrays of a checked ``.npz`` (``allow_pickle=False``)."""
    check_npz(data, label)
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


class BundleFiles:
    """The members of a bundle: a checked ZIP archive, or the matching files of a run
    directory (its symbolic links refused like an archive's). Members are read into memory
    on demand; nothing is extracted."""

    def __init__(self, path: Path, members: dict[str, zipfile.ZipInfo | Path]) -> None:
        self.path = path
        self._members = members

    @classmethod
    def open(cls, path: Path, run_patterns: tuple[str, ...] = ()) -> BundleFiles:
        """Open a ``.zip`` bundle, checking its whole listing (and every ``.npz`` member's
        headers) first; or a run directory, taking the files matching ``run_patterns``."""
        path = Path(path)
        if path.is_dir():
            found: dict[str, zipfile.ZipInfo | Path] = {}
            for pattern in run_patterns:
                for file in sorted(path.glob(pattern)):
                    name = file.relative_to(path).as_posix()
                    if file.is_symlink():
                        raise BundleError(f"{path}: {name!r} refused: symbolic link")
                    found[name] = file
            return cls(path, found)
        if not zipfile.is_zipfile(path):
            raise BundleError(f"{path}: not a bundle (expected a .zip made by `bench submit`)")
        with zipfile.ZipFile(path) as archive:
            infos = check_listing(archive.infolist(), str(path))
        files = cls(path, {info.filename: info for info in infos})
        for name in files.names:
            if name.endswith(".npz"):
                check_npz(files.read(name), f"{path}: {name}")
        return files

    @property
    def names(self) -> list[str]:
        """Member names, in archive (or sorted) order."""
        return list(self._members)

    def read(self, name: str) -> bytes:
        """The bytes of member ``name`` (at most its checked declared size)."""
        member = self._members.get(name)
        if member is None:
            raise BundleError(f"{self.path}: no member {name!r}")
        if isinstance(member, Path):
            return member.read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            try:
                data = archive.read(member)
            except (zipfile.BadZipFile, OSError) as exc:
                raise BundleError(f"{self.path}: member {name!r}: {exc}") from None
        if len(data) != member.file_size:
            raise BundleError(f"{self.path}: member {name!r}: size differs from its listing")
        return data
