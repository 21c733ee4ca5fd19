"""Checks every uploaded file passes before anything reads or stores it: size and type.

A file over ``settings.MAX_UPLOAD_BYTES`` (``QUALITYLOOP_MAX_UPLOAD_MB``) is not even kept while
the request is read (``SizeLimitHandler``); a file whose content is not what its name says is
refused by ``checked_upload``. Each refusal is one message naming the file and what was expected.
The content checks are by signature, not by name alone:

- ``.csv``: UTF-8 text (an optional byte order mark), no NUL bytes;
- ``.xlsx``: a zip archive holding an Excel workbook (``[Content_Types].xml`` naming a
  spreadsheet, ``xl/workbook.xml``), which does not unpack to more than
  ``EXPANSION_LIMIT`` times the upload limit (a "zip bomb");
- ``.parquet``: starts and ends with the Parquet magic bytes ``PAR1``.
"""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

TABLE_SUFFIXES = (".csv", ".xlsx", ".parquet")
EXPANSION_LIMIT = 20
PARQUET_MAGIC = b"PAR1"
XLSX_PARTS = ("[Content_Types].xml", "xl/workbook.xml")
XLSX_CONTENT_TYPE = b"spreadsheetml"
PAYLOAD_TOO_LARGE = 413
UNSUPPORTED_MEDIA_TYPE = 415
_TOO_LARGE = "_qualityloop_uploads_too_large"


class UploadRefused(ValueError):
    """An uploaded file is too large or not of the type expected; ``str()`` says which file and
    what was expected, ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = UNSUPPORTED_MEDIA_TYPE) -> None:
        super().__init__(message)
        self.status = status


class SizeLimitHandler(FileUploadHandler):
    """Stop keeping an uploaded file once it passes the size limit; the rest of it is read and
    dropped, and the file is reported by ``checked_upload`` as too large.

    First in ``FILE_UPLOAD_HANDLERS``, so a huge upload fills neither memory nor disk.
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.MAX_UPLOAD_BYTES:
            too_large = getattr(self.request, _TOO_LARGE, {})
            too_large[self.field_name] = self.file_name
            setattr(self.request, _TOO_LARGE, too_large)
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def checked_upload(
    request: HttpRequest, field: str = "file", suffixes: tuple[str, ...] = TABLE_SUFFIXES
) -> UploadedFile | None:
    """The file uploaded in ``field`` once it passed the size and type checks; None if no file.

    Parameters
    ----------
    request
        The POST request carrying the upload.
    field
        The form field's name.
    suffixes
        The file types this upload accepts, as lower-case suffixes.

    Raises
    ------
    UploadRefused
        The file is over the size limit, has a suffix not in ``suffixes``, or its content is not
        what its suffix says.
    """
    upload = request.FILES.get(field)  # reads the request, through SizeLimitHandler
    too_large = getattr(request, _TOO_LARGE, {})
    if field in too_large:
        raise _too_large(Path(too_large[field] or "the file").name)
    if upload is None:
        return None
    check_file(upload, suffixes)
    return upload


def check_file(upload: UploadedFile, suffixes: tuple[str, ...] = TABLE_SUFFIXES) -> None:
    """Refuse ``upload`` (UploadRefused) when it is too large or not of an expected type."""
    name = Path(upload.name or "").name or "the file"
    suffix = Path(name).suffix.lower()
    if suffix not in suffixes:
        raise UploadRefused(f"{name}: files of type {suffix or '(none)'!r} are not accepted; "
                            f"expected {_listed(suffixes)}")
    if (upload.size or 0) > settings.MAX_UPLOAD_BYTES:
        raise _too_large(name)
    content_check = _CONTENT_CHECKS.get(suffix)
    problem = content_check(upload) if content_check else None
    upload.seek(0)
    if problem:
        raise UploadRefused(f"{name}: {problem}")


def _too_large(name: str) -> UploadRefused:
    limit = settings.MAX_UPLOAD_BYTES / 1024 / 1024
    return UploadRefused(f"{name}: the file is larger than the upload limit of {limit:g} MB; "
                         "expected a smaller file (split it, or ask the administrator about "
                         "QUALITYLOOP_MAX_UPLOAD_MB)", status=PAYLOAD_TOO_LARGE)


def _listed(suffixes: tuple[str, ...]) -> str:
    return " or ".join(f"a {suffix} file" for suffix in suffixes)


def _csv_problem(upload: UploadedFile) -> str | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    upload.seek(0)
    try:
        for chunk in upload.chunks():
            nul = chunk.find(b"\x00")
            if nul >= 0:
                return (f"a NUL byte at byte offset {offset + nul}: this is not a text file; "
                        "expected a .csv file of UTF-8 text")
            decoder.decode(chunk)
            offset += len(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as problem:
        return (f"not UTF-8 text (byte offset {offset + problem.start}); expected a .csv file "
                "saved as UTF-8 (in Excel: 'CSV UTF-8')")
    return None


def _xlsx_problem(upload: UploadedFile) -> str | None:
    expected = "expected an Excel workbook (.xlsx)"
    upload.seek(0)
    if not zipfile.is_zipfile(upload):
        return f"not an Excel workbook (not a zip archive); {expected}"
    upload.seek(0)
    with zipfile.ZipFile(upload) as archive:
        names = set(archive.namelist())
        if not all(part in names for part in XLSX_PARTS):
            return f"a zip archive without a workbook in it; {expected}"
        if XLSX_CONTENT_TYPE not in archive.read(XLSX_PARTS[0]):
            return f"a zip archive of another kind of document; {expected}"
        unpacked = sum(entry.file_size for entry in archive.infolist())
    if unpacked > EXPANSION_LIMIT * settings.MAX_UPLOAD_BYTES:
        return (f"unpacks to {unpacked / 1024 / 1024:.0f} MB, more than {EXPANSION_LIMIT} times "
                f"the upload limit; {expected} of ordinary size")
    return None


def _parquet_problem(upload: UploadedFile) -> str | None:
    upload.seek(0)
    head = upload.read(len(PARQUET_MAGIC))
    upload.seek(max(0, (upload.size or 0) - len(PARQUET_MAGIC)))
    tail = upload.read(len(PARQUET_MAGIC))
    if head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
        return "not a Parquet file (no PAR1 signature); expected a .parquet file"
    return None


_CONTENT_CHECKS = {".csv": _csv_problem, ".xlsx": _xlsx_problem, ".parquet": _parquet_problem}
