"""Text that a compressed pixel stream can carry in its headers: JPEG/JPEG-LS COM and APPn segments, JPEG 2000
COM markers. The pixel data must stay byte-identical, so ``infimed.privacy.dicom`` scans these texts with the
PHI scrubber and refuses the file when one holds an identifier (an encoder banner such as "Created by
OpenJPEG" passes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

JPEG_SOI, JPEG_SOS = b"\xff\xd8", 0xDA
J2K_SOC, J2K_SOT, J2K_COM = b"\xff\x4f", 0x90, 0x64
JPEG_TEXT = {0xFE} | set(range(0xE1, 0xF0))  # COM, APP1-APP15 (EXIF, XMP, IPTC, ...); not APP0 (JFIF)


def _segments(data: bytes, start: int, stop_marker: int) -> Iterator[tuple[int, bytes]]:
    """(marker, payload) of the length-prefixed marker segments from ``start`` up to ``stop_marker``."""
    i = start
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == stop_marker:
            return
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if length < 2:
            return
        yield marker, data[i + 4:i + 2 + length]
        i += 2 + length


def header_texts(fragment: bytes) -> list[str]:
    """Printable texts in the header of one compressed frame (JPEG family or JPEG 2000)."""
    found = []
    if fragment[:2] == JPEG_SOI:
        found = [payload for marker, payload in _segments(fragment, 2, JPEG_SOS) if marker in JPEG_TEXT]
    elif fragment[:2] == J2K_SOC:
        found = [payload[2:] for marker, payload in _segments(fragment, 2, J2K_SOT) if marker == J2K_COM]
    texts = [p.decode("latin-1") for p in found]
    return [" ".join("".join(c if c.isprintable() else " " for c in t).split()) for t in texts if t.strip("\0 ")]


def stream_texts(ds: Any) -> list[str]:
    """Header texts of every fragment of encapsulated Pixel Data (empty for native pixels)."""
    from pydicom.encaps import generate_fragments

    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if "PixelData" not in ds or syntax is None or not syntax.is_encapsulated:
        return []
    texts: list[str] = []
    for fragment in generate_fragments(ds.PixelData):
        texts.extend(header_texts(fragment))
    return texts
