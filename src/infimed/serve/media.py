"""Turn a validated chat request into backend messages: text parts as sent, images decoded and re-encoded.

Images arrive only as ``data:`` URIs (or ``file:`` URIs under the operator's image root); nothing is
ever fetched. Each is decoded by ``infimed.io.images`` under the pixel cap (decompression bombs), a DICOM
file is de-identified by ``infimed.privacy.dicom`` first, and what the model gets is a fresh PNG of the
pixels alone (no metadata) in a private temp folder that the caller deletes with the request.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from infimed.serve.limits import Refused
from infimed.serve.settings import Limits


def to_backend_messages(
    messages: list[Any], workdir: Path, limits: Limits, image_root: Path | None
) -> list[dict[str, Any]]:
    """HF chat messages (content: text and ``{"type": "image", "path"}`` parts). Raises ``Refused``."""
    out = []
    n_image = 0
    for i, msg in enumerate(messages):
        content = msg.content
        if content is None or isinstance(content, str):
            out.append({"role": msg.role, "content": [{"type": "text", "text": content or ""}]})
            continue
        parts: list[dict[str, Any]] = []
        for j, part in enumerate(content):
            if part.type == "text":
                parts.append({"type": "text", "text": part.text})
                continue
            where = f"messages.{i}.content.{j}"
            src = _image_source(part.image_url.url, workdir / f"upload-{n_image}", image_root, where)
            png = workdir / f"image-{n_image}.png"
            _decode_to_png(src, png, workdir, limits, where)
            parts.append({"type": "image", "path": str(png)})
            n_image += 1
        out.append({"role": msg.role, "content": parts})
    return out


def has_images(messages: list[Any]) -> bool:
    return any(isinstance(m.content, list) and any(p.type == "image_url" for p in m.content) for m in messages)


def _image_source(url: str, dest: Path, image_root: Path | None, where: str) -> Path:
    if url[:5].lower() == "data:":
        header, sep, payload = url[5:].partition(",")
        if not sep or not header.lower().endswith(";base64"):
            raise Refused(422, f"{where}: a data: URI image must be base64 (data:image/png;base64,...)")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(422, f"{where}: the data: URI is not valid base64") from None
        dicom = len(raw) > 132 and raw[128:132] == b"DICM"
        path = dest.with_suffix(".dcm" if dicom else ".img")
        path.write_bytes(raw)
        return path
    if image_root is None:
        raise Refused(422, f"{where}: file: images are not enabled on this deployment; send a data: URI")
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise Refused(422, f"{where}: a file: URI must name a local file")
    try:
        path = Path(unquote(parts.path)).resolve(strict=True)
    except (OSError, RuntimeError):
        raise Refused(422, f"{where}: the image file does not exist under the allowed folder") from None
    if not path.is_relative_to(image_root.resolve()) or not path.is_file():
        raise Refused(422, f"{where}: the image file does not exist under the allowed folder")
    return path


def _decode_to_png(src: Path, png: Path, workdir: Path, limits: Limits, where: str) -> None:
    from infimed.io.images import ImageLoadError, is_dicom, load_image

    if is_dicom(src):
        src = _deidentified(src, workdir / f"deid-{png.stem}.dcm", limits, where)
    try:
        image = load_image(src, max_pixels=limits.max_pixels)
    except ImageLoadError as exc:
        if "pixel limit" in str(exc) or "bomb" in str(exc):
            raise Refused(413, f"{where}: the image exceeds the {limits.max_pixels} pixel limit") from None
        raise Refused(422, f"{where}: the image cannot be decoded (PNG, JPEG or DICOM expected)") from None
    image.save(png, format="PNG")


def _deidentified(src: Path, dst: Path, limits: Limits, where: str) -> Path:
    import pydicom

    from infimed.privacy.dicom import DicomDeidError, deidentify_file

    try:
        header = pydicom.dcmread(str(src), stop_before_pixels=True)
        pixels = int(header.get("Rows", 0) or 0) * int(header.get("Columns", 0) or 0)
        pixels *= int(header.get("NumberOfFrames", 1) or 1)
    except Exception:
        raise Refused(422, f"{where}: the DICOM file cannot be read") from None
    if pixels > limits.max_pixels:
        raise Refused(413, f"{where}: the image exceeds the {limits.max_pixels} pixel limit")
    try:
        deidentify_file(src, dst)
    except DicomDeidError as exc:
        reason = "identifiers are burned into the pixels" if "burn" in str(exc).lower() else "it cannot be de-identified"
        raise Refused(422, f"{where}: the DICOM file is refused: {reason}") from None
    return dst


def text_parts(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The text parts of backend messages, in order (the PHI policy reads and rewrites them in place)."""
    return [p for m in messages for p in m["content"] if p["type"] == "text"]
