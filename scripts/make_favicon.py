"""Draws static/orca/favicon.ico (32x32 PNG inside an ICO) from the same shapes as
favicon.svg: a dark-blue rounded square with a white dorsal fin. Run once; the output is
committed. Only the standard library, so it needs no imaging package."""

import struct
import zlib
from pathlib import Path

SIZE = 32
BACKGROUND = (11, 61, 92, 255)
FIN = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def inside_rounded_square(x: float, y: float, radius: float = 7.0) -> bool:
    cx = min(max(x, radius), SIZE - radius)
    cy = min(max(y, radius), SIZE - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def inside_fin(x: float, y: float) -> bool:
    # A fin: the area under a curved back edge from (9, 25) up to the tip (20, 6),
    # down the straight trailing edge to (24, 25).
    if not 6 <= y <= 25:
        return False
    t = (25 - y) / 19  # 0 at the base, 1 at the tip
    front = 9 + 11 * t**1.8
    back = 24 - 4 * t
    return front <= x <= back


def pixel(x: int, y: int) -> tuple[int, int, int, int]:
    samples = [
        (x + dx / 4, y + dy / 4) for dx in (0.5, 1.5, 2.5, 3.5) for dy in (0.5, 1.5, 2.5, 3.5)
    ]
    colour = [0.0, 0.0, 0.0, 0.0]
    for sx, sy in samples:
        value = (
            FIN if inside_fin(sx, sy) else BACKGROUND if inside_rounded_square(sx, sy) else CLEAR
        )
        for i in range(4):
            colour[i] += value[i] / len(samples)
    return tuple(round(c) for c in colour)  # type: ignore[return-value]


def png() -> bytes:
    rows = b"".join(b"\0" + b"".join(bytes(pixel(x, y)) for x in range(SIZE)) for y in range(SIZE))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def ico(image: bytes) -> bytes:
    directory = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(image), 6 + 16)
    return directory + entry + image


if __name__ == "__main__":
    target = Path(__file__).resolve().parents[1] / "static" / "orca"
    (target / "favicon.ico").write_bytes(ico(png()))
