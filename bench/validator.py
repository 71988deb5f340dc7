"""The validator against its peers, in one run on one corpus (`python -m bench.validator`).

Corpus: bench/validator_corpus.py, ~1.1 KB messages, a third each ADT^A01/A04/A08,
ORU^R01 (6 OBX) and DFT^P03 (3 FT1), all valid against carelog's profiles.
Rows, each on the same bytes and in the same process:

- carelog batch / single: NativeMessageValidator.validate_many (one C call per
  128 messages) and validate() per message, every rule on (tolerant; the
  strict level for comparison), results converted to Python values;
- hl7apy parse_message in its TOLERANT and STRICT validation levels;
- python-hl7 hl7.parse;
- plain split: bytes.split on CR then on "|", the floor any Python parser pays
  (and the same on str after decode, the floor of the str-based peers above).

Each row runs for at least --seconds of CPU time (whole passes over the
corpus or a slice of it for the slow peers); the rows take turns, --repeat
rounds, and each reports its best round, so that a load change on a shared
machine hits every row alike. Read the ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from bench.validator_corpus import corpus
from native import NativeMessageValidator

__all__ = ["main", "measure", "rounds"]


def measure(
    work: Callable[[Sequence[bytes]], Any], messages: Sequence[bytes], *, seconds: float
) -> float:
    """Messages/s of one run of at least ``seconds`` of this process's CPU time.

    CPU time, not wall time: on a shared machine the other processes' load
    then stretches no row's clock (it still costs caches, for every row alike).
    """
    done = 0
    started = time.process_time()
    while True:
        work(messages)
        done += 1
        elapsed = time.process_time() - started
        if elapsed >= seconds:
            return done * len(messages) / elapsed


def _peers(slow: int, medium: int) -> list[tuple[str, Callable[[Sequence[bytes]], Any], int]]:
    """(name, work on a list of messages, how many of the corpus it gets)."""
    import hl7
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    def hl7apy_parse(level: Any) -> Callable[[Sequence[bytes]], Any]:
        def work(ms: Sequence[bytes]) -> int:
            refused = 0
            for m in ms:
                try:
                    parse_message(m.decode(), validation_level=level, find_groups=True)
                except Exception:  # strict hl7apy refuses some messages: counted, still timed
                    refused += 1
            return refused

        return work

    def python_hl7(ms: Sequence[bytes]) -> None:
        for m in ms:
            hl7.parse(m.decode())

    def split(ms: Sequence[bytes]) -> None:
        for m in ms:
            [s.split(b"|") for s in m.split(b"\r")]

    def split_text(ms: Sequence[bytes]) -> None:
        for m in ms:
            [s.split("|") for s in m.decode().split("\r")]

    return [
        ("hl7apy parse (tolerant)", hl7apy_parse(VALIDATION_LEVEL.TOLERANT), slow),
        ("hl7apy parse (strict)", hl7apy_parse(VALIDATION_LEVEL.STRICT), slow),
        ("python-hl7 hl7.parse", python_hl7, medium),
        ("plain split, str (decode first)", split_text, 0),
        ("plain split (CR, |)", split, 0),
    ]


def rounds(messages: Sequence[bytes], *, repeat: int, seconds: float) -> dict[str, list[float]]:
    """Messages/s of every row in each of ``repeat`` rounds (the rows take turns)."""
    tolerant = NativeMessageValidator()
    strict = NativeMessageValidator(strict=True)
    assert all(not f for f in tolerant.validate_many(messages)), "the corpus must be valid"
    assert all(not f for f in strict.validate_many(messages)), "the corpus must be valid"
    rows: list[tuple[str, Callable[[Sequence[bytes]], Any], int]] = [
        ("carelog batch (validate_many)", tolerant.validate_many, 0),
        ("carelog batch, strict level", strict.validate_many, 0),
        ("carelog single (validate)", lambda ms: [tolerant.validate(m) for m in ms], 0),
    ]
    rows += _peers(slow=30, medium=600)
    rates: dict[str, list[float]] = {name: [] for name, _work, _take in rows}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hl7apy warns on every tolerated deviation
        for _ in range(repeat):
            for name, work, take in rows:
                subset = messages[:take] if take else messages
                rates[name].append(measure(work, subset, seconds=seconds))
    return rates


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000, help="corpus size")
    parser.add_argument("--seconds", type=float, default=0.5, help="minimum time per run")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (best kept per row)")
    args = parser.parse_args(argv)
    messages = corpus(args.count)
    size = sum(map(len, messages)) / len(messages)
    print(f"corpus: {len(messages)} messages, {size:.0f} bytes each on average (ADT, ORU, DFT)")
    print(f"| {'what':<31} | {'msg/s':>10} | {'MB/s':>8} | {'vs split':>8} |")
    print(f"|{'-' * 33}|{'-' * 12}|{'-' * 10}|{'-' * 10}|")
    best = {
        name: max(r)
        for name, r in rounds(messages, repeat=args.repeat, seconds=args.seconds).items()
    }
    floor = best["plain split (CR, |)"]
    for name, rate in best.items():
        mbps = rate * size / 1e6
        print(f"| {name:<31} | {rate:>10,.0f} | {mbps:>8.1f} | {rate / floor:>7.2f}x |")


if __name__ == "__main__":
    main()
