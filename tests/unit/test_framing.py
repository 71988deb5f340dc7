from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.mllp.framing import FrameReader, Oversize, frame


def test_frames_split_across_reads_and_several_in_one_read() -> None:
    reader = FrameReader()
    stream = frame(b"one") + frame(b"two") + frame(b"three")
    out: list[object] = []
    for i in range(0, len(stream), 4):
        out += reader.feed(stream[i : i + 4])
    assert out == [b"one", b"two", b"three"]
    assert reader.noise_bytes == 0
    assert reader.feed(frame(b"a") + frame(b"b")) == [b"a", b"b"]


def test_noise_outside_frames_is_counted_and_skipped() -> None:
    reader = FrameReader()
    assert reader.feed(b"junk" + frame(b"msg") + b"\r\n") == [b"msg"]
    assert reader.noise_bytes == 6


def test_oversize_frame_is_cut_and_reading_resumes_after_it() -> None:
    reader = FrameReader(max_frame_bytes=10)
    out = reader.feed(b"\x0b" + b"MSH|" + b"x" * 50)
    assert len(out) == 1 and isinstance(out[0], Oversize)
    assert out[0].head.startswith(b"MSH|")
    assert reader.pending == 0  # memory stays bounded while discarding
    assert reader.feed(b"y" * 1000 + b"\x1c\x0d" + frame(b"ok")) == [b"ok"]


@given(
    st.lists(
        st.binary(min_size=0, max_size=50).filter(lambda b: b"\x1c" not in b and b"\x0b" not in b),
        max_size=5,
    ),
    st.integers(1, 7),
)
def test_any_chunking_yields_the_same_frames(payloads: list[bytes], step: int) -> None:
    stream = b"".join(frame(p) for p in payloads)
    reader = FrameReader()
    out: list[object] = []
    for i in range(0, len(stream), step):
        out += reader.feed(stream[i : i + step])
    assert out == payloads
