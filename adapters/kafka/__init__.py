"""Kafka transport: the outbox relay (store -> topic) and the projection worker (topic -> views).

Kafka is a transport here, never the event store: the relay publishes what the
store already committed, and workers deduplicate on the tracking position.
"""

from adapters.kafka.codec import EventRecord, decode_record, encode_notification
from adapters.kafka.relay import OutboxRelay, RelayPosition

__all__ = ["EventRecord", "OutboxRelay", "RelayPosition", "decode_record", "encode_notification"]
