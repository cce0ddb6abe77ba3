"""MIME type from a file's first bytes: a small magic table, puremagic for the rest, text rules.

The client's declared type and filename are never consulted: what the server later labels a
download with must follow from the bytes themselves.
"""

from __future__ import annotations

import puremagic

SNIFF_BYTES = 4096
OCTET = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"

# (offset, magic, type), checked in order; the common formats, decided without guessing.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"\x00asm", "application/wasm"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"OggS", "audio/ogg"),
    (0, b"#!AMR", "audio/amr"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"%!PS", "application/postscript"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
)
# Two-byte magics also begin ordinary text, so they count only for content that is not text.
_WEAK_MAGIC = ((b"BM", "image/bmp"), (b"MZ", "application/vnd.microsoft.portable-executable"))
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_FTYP = {
    b"avif": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
}
_ZIP_KINDS = (
    (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    (b"mimetypeapplication/epub+zip", "application/epub+zip"),
    (b"AndroidManifest.xml", "application/vnd.android.package-archive"),
)
_CONTROL = frozenset(range(0, 32)) - {9, 10, 12, 13, 27}


def sniff(head: bytes) -> str:
    """The MIME type of content starting with ``head`` (its first ``SNIFF_BYTES`` or fewer)."""
    if not head:
        return TEXT
    for offset, magic, mime in _MAGIC:
        if head.startswith(magic, offset):
            return mime
    if head.startswith(b"RIFF") and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        return _FTYP.get(head[8:12], "video/mp4")
    if head.startswith(b"PK\x03\x04"):
        return next((m for key, m in _ZIP_KINDS if key in head), "application/zip")
    text = _as_text(head)
    if text is not None:
        return _text_kind(text)
    for magic, mime in _WEAK_MAGIC:
        if head.startswith(magic):
            return mime
    return _puremagic(head)


def _as_text(head: bytes) -> str | None:
    """The head decoded as UTF-8 (a character cut at the end is fine), or None for binary."""
    if any(b in _CONTROL for b in head[:1024]):
        return None
    for cut in range(4):
        try:
            return head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _text_kind(text: str) -> str:
    """HTML, SVG and XML are told apart because browsers run them; everything else is text."""
    t = text.lstrip("\ufeff \t\r\n").lower()
    if t.startswith(("<!doctype html", "<html", "<head", "<body", "<script", "<iframe")):
        return "text/html"
    if "<svg" in t[:1024] and t.startswith(("<svg", "<?xml", "<!doctype svg", "<!--")):
        return "image/svg+xml"
    if t.startswith("<?xml"):
        return "application/xml"
    if t.startswith("<") and ("<html" in t or "<script" in t or "<body" in t):
        return "text/html"
    return TEXT


def _puremagic(head: bytes) -> str:
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return OCTET
    for m in matches:
        if m.mime_type and m.confidence >= 0.5:
            return str(m.mime_type)
    return OCTET
