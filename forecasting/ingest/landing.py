"""Which landing files a source-day has, and their bytes: every entry read or refused.

Every entry of a day folder but the ``_SUCCESS`` marker is a data file, whatever its name (``_part-001.csv``,
``part-001.csv.gz``, ``part-001.txt``); ``reader.read_file`` reads it or refuses it.
Entries that cannot be a landing file are refused here, naming the entry, the reason and
the fix: a symbolic link (it could point anywhere, outside the landing area included), a
folder, a named pipe, socket or device (reading one could block or never end), a day folder
that resolves outside the landing root, an unreadable file. A day "folder" or a source
"folder" that is a file is refused the same way (``refuse_not_folder``): one line for that
source-day, the other sources are ingested.
"""

from __future__ import annotations

import os
import stat

from forecasting.core.errors import InputError, StorageError
from forecasting.core.lake import Lake, join
from forecasting.core.layout import SUCCESS_MARKER


def day_files(landing: Lake, folder: str, rel: str) -> tuple[list[tuple[str, str]], list[str]]:
    """[(landing-relative name, uri)] of every entry in a day ``folder``, sorted, and warnings."""
    refuse_not_folder(landing, folder, rel)
    _refuse_outside(landing, folder, rel)
    files = []
    for name in landing.ls(folder):
        if name == SUCCESS_MARKER:  # the source's "drop complete" flag, not data
            continue
        uri = join(folder, name)
        _refuse_special(landing, uri, f"{rel}/{name}")
        files.append((f"{rel}/{name}", uri))
    return files, ([] if files else [f"{rel}: no data files, 0 rows"])


def reference_files(landing: Lake, source: str, folder: str) -> list[tuple[str, str]]:
    """The one ``<landing>/<source>.*`` reference file as [(name, uri)]."""
    names = [n for n in landing.ls(landing.uri) if n.startswith(source + ".")]
    if not names:
        raise StorageError(
            f"no {source} reference data: neither {folder}/ nor "
            f"{join(landing.uri, source)}.csv (or .parquet, .jsonl, compressed .gz / .zst) exists"
        )
    if len(names) > 1:
        raise StorageError(f"{source}: several reference files {names} in {landing.uri}; keep one")
    uri = join(landing.uri, names[0])
    _refuse_special(landing, uri, names[0])
    return [(names[0], uri)]


def read_landing(landing: Lake, name: str, uri: str) -> bytes:
    """The bytes of one landing file; an OS error (permissions, vanished) names the file."""
    try:
        return landing.read_bytes(uri)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(
            f"{name}: cannot be read ({reason}); make the file readable by the ingest user "
            "or deliver it again"
        ) from exc


def _local_path(uri: str) -> str | None:
    if "://" not in uri:
        return uri
    return uri[len("file://") :] if uri.startswith("file://") else None


def refuse_not_folder(landing: Lake, folder: str, rel: str) -> None:
    """Raise InputError when the source's folder or its day ``folder`` (``rel``:
    ``<source>/date=D``) exists as something other than a folder (a plain file, a pipe)."""
    source_rel = rel.split("/", 1)[0]
    for uri, name in ((folder.rsplit("/", 1)[0], source_rel), (folder, rel)):
        path = _local_path(uri)
        if path is not None and not os.path.lexists(path):
            return
        if path is None and not landing.exists(uri):
            return
        if (os.path.isdir(path) if path is not None else landing.fs.isdir(uri)):
            continue
        kind = _kind(path) if path is not None else "a file"
        inside = "date=YYYY-MM-DD folders" if name == source_rel else "the day's data files"
        raise InputError(
            f"{name}: is {kind}, not a folder; it must be a folder holding {inside}: rename it "
            f"or remove it, make {name} a folder and deliver the files into it "
            f"(e.g. {rel}/part-000.csv)"
        )


def _kind(path: str) -> str:
    """What a local entry that is no folder is, in words."""
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISLNK(mode):
        return "a symbolic link to a file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device or other special file"


def _refuse_special(landing: Lake, uri: str, name: str) -> None:
    path = _local_path(uri)
    if path is not None and os.path.islink(path):
        raise InputError(
            f"{name}: is a symbolic link; landing files must be plain files (a link may point "
            "outside the landing area): copy the file itself into the folder"
        )
    if landing.fs.isdir(uri):
        raise InputError(
            f"{name}: is a folder, not a file; move its files up into the day folder or remove it"
        )
    if path is not None and not os.path.isfile(path):
        raise InputError(
            f"{name}: is {_kind(path)}, not a plain file (reading it could block or never end); "
            "landing files must be plain files: remove it and deliver the data as a file"
        )


def _refuse_outside(landing: Lake, folder: str, rel: str) -> None:
    path, root = _local_path(folder), _local_path(landing.uri)
    if path is None or root is None:
        return  # object stores have no links
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, real_root]) != real_root:
        raise InputError(
            f"{rel}: resolves outside the landing area ({landing.uri}); day folders must be "
            "plain folders under it: replace the link by the folder itself"
        )
