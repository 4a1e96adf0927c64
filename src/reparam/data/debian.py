"""Files inside a Debian package (``.deb``), read without installing it.

A ``.deb`` is an ``ar`` archive: the magic ``!<arch>\\n``, then members, each a 60-byte header
(name 16 bytes, four numeric fields, the size in bytes 48–58, the end mark ``\\x60\\n``) and
its data padded to an even length. The installed files are the tar archive ``data.tar.xz``
among them (``.gz`` and ``.bz2`` are read too, ``.zst`` is not). :func:`download` fetches a
package's file with ``apt-get download``.
"""

from __future__ import annotations

import io
import lzma
import shutil
import subprocess
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path

MAGIC = b"!<arch>\n"
HEADER = 60


def ar_members(archive: bytes, label: str) -> dict[str, bytes]:
    """The members of the ``ar`` archive ``archive`` by name; ``label`` names it in errors.

    Example:
        >>> body = b"hello!"
        >>> header = b"data.txt/".ljust(48) + str(len(body)).encode().ljust(10) + b"`\\n"
        >>> ar_members(MAGIC + header + body, "toy.deb")
        {'data.txt': b'hello!'}
    """
    if not archive.startswith(MAGIC):
        raise ValueError(f"{label} is not a Debian package (no ar archive header)")
    members, at = {}, len(MAGIC)
    while at < len(archive):
        header = archive[at : at + HEADER]
        if len(header) < HEADER or header[58:60] != b"`\n":
            raise ValueError(f"{label} is truncated or corrupt (bad ar header at byte {at})")
        size = int(header[48:58])
        name = header[:16].decode("ascii").strip().rstrip("/")
        data = archive[at + HEADER : at + HEADER + size]
        if len(data) < size:
            raise ValueError(f"{label} is truncated ({name}: {len(data)} of {size} bytes)")
        members[name] = data
        at += HEADER + size + size % 2
    return members


def read_deb(path: Path, wanted: Iterable[str]) -> dict[str, bytes]:
    """The installed files ``wanted`` (paths such as ``usr/lib/...``) of the package ``path``.

    Raises ``ValueError`` naming ``path`` when it is truncated or corrupt, or lacks a file.
    """
    members = ar_members(path.read_bytes(), str(path))
    name = next((n for n in members if n.startswith("data.tar")), None)
    if name is None:
        raise ValueError(f"{path} is not a Debian package (no data.tar member)")
    wanted = list(wanted)
    try:
        with tarfile.open(fileobj=io.BytesIO(members[name])) as tar:
            found = {
                member.name.removeprefix("./"): tar.extractfile(member).read()
                for member in tar.getmembers()
                if member.isfile() and member.name.removeprefix("./") in wanted
            }
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as error:
        reason = " ".join(str(error).split())
        raise ValueError(f"{path} is corrupt ({name}: {reason})") from error
    missing = [file for file in wanted if file not in found]
    if missing:
        raise ValueError(f"{path} does not hold {', '.join(missing)}")
    return found


def newest_deb(package: str, folders: Iterable[Path]) -> Path | None:
    """The newest ``package_*.deb`` of the first of ``folders`` that holds one, else None."""
    for folder in folders:
        debs = sorted(folder.glob(f"{package}_*.deb"))
        if debs:
            return debs[-1]
    return None


def download(package: str, folder: Path) -> Path:
    """Download the Debian package ``package`` into ``folder`` with ``apt-get download``, and
    return its path (the newest ``<package>_*.deb`` there).

    Raises ``FileNotFoundError`` when there is no ``apt-get`` or the download fails, saying
    where to put the file by hand.
    """
    by_hand = f"download {package}_*.deb from https://packages.debian.org/{package} into {folder}"
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise FileNotFoundError(f"apt-get not found (not a Debian system?): {by_hand}")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [apt_get, "download", package], cwd=folder, capture_output=True, text=True, check=False
    )
    debs = sorted(folder.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not debs:
        reason = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise FileNotFoundError(
            f"apt-get download {package} failed ({reason}); try apt-get update, or {by_hand}"
        )
    return debs[-1]
