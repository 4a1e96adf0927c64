"""Where dataset files live: the data folder, finding, reading and downloading files."""

from __future__ import annotations

import codecs
import gzip
import os
import shutil
import urllib.request
import zlib
from pathlib import Path

DOWNLOAD_TIMEOUT_S = 30.0


def data_dir(data_dir: str | Path | None = None) -> Path:
    """The data folder: ``data_dir`` when given, else ``$REPARAM_DATA``, else ``~/.cache/reparam``.

    >>> data_dir("/tmp/somewhere")
    PosixPath('/tmp/somewhere')
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("REPARAM_DATA"):
        return Path(os.environ["REPARAM_DATA"]).expanduser()
    return Path.home() / ".cache" / "reparam"


def locate(folder: Path, name: str) -> Path | None:
    """``folder / name``, or its gzip twin (``name.gz``, or ``name`` without ``.gz``), if present."""
    twin = name.removesuffix(".gz") if name.endswith(".gz") else f"{name}.gz"
    for candidate in (folder / name, folder / twin):
        if candidate.is_file():
            return candidate
    return None


def read_bytes(path: Path) -> bytes:
    """The contents of ``path``, decompressed when its name ends in ``.gz``."""
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is not a valid gzip file: {error}") from error


def download(url: str, destination: Path) -> None:
    """Copy ``url`` to ``destination`` through a ``.part`` file, so no partial file is left.

    Raises ``OSError`` (``urllib.error.URLError`` included) when the download fails. Tests
    replace this function to simulate a machine without network.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response,
            partial.open("wb") as out,
        ):
            shutil.copyfileobj(response, out)
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)


def read_text(path: Path, label: str) -> str:
    """The UTF-8 text of ``path``, refusing a byte-order mark or other encodings with an error
    that starts with ``label`` (the file, or the option that named it)."""
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        raise ValueError(
            f"{label}: the file starts with a byte-order mark (saved as 'UTF-8 with BOM'); save "
            f"it as plain UTF-8 or ASCII"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{label}: not a UTF-8 text file ({error.reason})") from error
