"""HL7 v2 text handling the engine needs: reading messages, building ACKs.

Pure functions over text; no I/O. The native validator has already checked a
message's structure before these read it, so they favour speed over diagnosis.
"""

from engine.hl7.ack import AckCode, build_ack, build_reject_ack
from engine.hl7.message import Message, Separators, parse_message
from engine.hl7.stream import split_messages

__all__ = [
    "AckCode",
    "Message",
    "Separators",
    "build_ack",
    "build_reject_ack",
    "parse_message",
    "split_messages",
]
