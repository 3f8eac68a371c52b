"""Image dimensions from a PNG or JPEG header, without decoding a single pixel.

Lets a caller refuse a decompression bomb (a small file declaring a huge image) before any decoder allocates
the image. Only PNG (IHDR) and baseline/progressive JPEG (SOFn) are recognised; anything else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (not DHT C4, JPG C8, DAC CC), which carry the image size.
SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field


@dataclass(frozen=True)
class ImageHeader:
    format: str  # png | jpeg
    width: int
    height: int
    channels: int


def read_image_header(data) -> ImageHeader:
    """The size of the PNG or JPEG in ``data`` (any bytes-like object); ValueError when there is none."""
    buf = memoryview(data).cast("B")
    if bytes(buf[:8]) == PNG_SIGNATURE:
        return _png(buf)
    if bytes(buf[:2]) == b"\xff\xd8":
        return _jpeg(buf)
    raise ValueError(f"neither PNG nor JPEG (starts with {bytes(buf[:8]).hex()})")


def _png(buf: memoryview) -> ImageHeader:
    if len(buf) < 33 or bytes(buf[12:16]) != b"IHDR":
        raise ValueError("PNG without an IHDR chunk")
    width, height = int.from_bytes(buf[16:20], "big"), int.from_bytes(buf[20:24], "big")
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(buf[25])
    if channels is None:
        raise ValueError(f"PNG with unknown colour type {buf[25]}")
    return _checked(ImageHeader("png", width, height, channels))


def _jpeg(buf: memoryview) -> ImageHeader:
    i = 2
    while i + 4 <= len(buf):
        if buf[i] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {i}")
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in STANDALONE_MARKERS:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            break
        length = int.from_bytes(buf[i + 2:i + 4], "big")
        if length < 2:
            raise ValueError(f"JPEG segment with length {length}")
        if marker in SOF_MARKERS:
            if i + 10 > len(buf):
                break
            height, width = int.from_bytes(buf[i + 5:i + 7], "big"), int.from_bytes(buf[i + 7:i + 9], "big")
            return _checked(ImageHeader("jpeg", width, height, int(buf[i + 9])))
        i += 2 + length
    raise ValueError("JPEG without a frame header (SOF) before the image data")


def _checked(header: ImageHeader) -> ImageHeader:
    if header.width <= 0 or header.height <= 0 or header.channels <= 0:
        raise ValueError(f"{header.format.upper()} declares an empty image ({header.width}x{header.height}, "
                         f"{header.channels} channels)")
    return header
