"""MLLP block framing: ``0x0B`` message ``0x1C 0x0D``, and nothing else.

Frames may arrive split across reads or several in one read. Bytes outside a
frame are noise, counted and skipped. A frame that grows past the size limit
is cut off: its head is kept (to answer with an AR that names the control id)
and the rest is discarded up to its end block, so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["END_BLOCK", "START_BLOCK", "FrameReader", "Oversize", "frame"]

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
_FS = 0x1C
_HEAD_BYTES = 4096


def frame(payload: bytes) -> bytes:
    """Wraps one message for the wire."""
    return START_BLOCK + payload + END_BLOCK


@dataclass(frozen=True, slots=True)
class Oversize:
    """A frame longer than the limit: only its first bytes are kept."""

    head: bytes
    limit: int


class FrameReader:
    """Turns a byte stream into complete frames (``bytes``) and Oversize markers."""

    def __init__(self, max_frame_bytes: int = 1 << 20) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._in_frame = False
        self._discarding = False
        self.noise_bytes = 0
        self._skip_cr = False  # a frame ended on 0x1C at the end of a read

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | Oversize]:
        """Adds ``data``; returns the frames (and oversize markers) it completed."""
        out: list[bytes | Oversize] = []
        view = memoryview(data)
        pos = 0
        n = len(data)
        if self._skip_cr and n:
            self._skip_cr = False
            if data[0] == 0x0D:
                pos = 1
        while pos < n:
            if not self._in_frame:
                start = data.find(START_BLOCK, pos)
                if start < 0:
                    self.noise_bytes += n - pos
                    break
                self.noise_bytes += start - pos
                pos = start + 1
                self._in_frame = True
                self._discarding = False
                self._buf.clear()
                continue
            end = data.find(bytes((_FS,)), pos)
            chunk_end = n if end < 0 else end
            if not self._discarding:
                self._buf += view[pos:chunk_end]
                if len(self._buf) > self.max_frame_bytes:
                    out.append(Oversize(bytes(self._buf[:_HEAD_BYTES]), self.max_frame_bytes))
                    self._buf.clear()
                    self._discarding = True
            if end < 0:
                break
            # End block: 0x1C, normally followed by 0x0D (consumed when present).
            pos = end + 1
            if pos < n and data[pos] == 0x0D:
                pos += 1
            elif pos == n:
                self._skip_cr = True
            if not self._discarding:
                out.append(bytes(self._buf))
            self._buf.clear()
            self._in_frame = False
            self._discarding = False
        return out
