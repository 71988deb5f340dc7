"""The Kafka knobs: read from the environment, refused when malformed, and the worker's guards."""

from __future__ import annotations

import pytest

from adapters.bootstrap import run_worker
from adapters.cli import _parser
from engine.config import Settings
from engine.errors import ConfigError


def test_kafka_settings_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "CARELOG_KAFKA": "k1:9092,k2:9092",
            "CARELOG_KAFKA_TOPIC": "events",
            "CARELOG_KAFKA_PARTITIONS": "12",
            "CARELOG_KAFKA_GROUP": "g",
            "CARELOG_WORKER_HEARTBEAT": "/tmp/hb",
        }
    )
    assert (s.kafka, s.kafka_topic, s.kafka_partitions, s.kafka_group, s.worker_heartbeat) == (
        "k1:9092,k2:9092",
        "events",
        12,
        "g",
        "/tmp/hb",
    )
    assert Settings().kafka == "" and Settings().kafka_partitions == 8


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_bad_partition_count_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="CARELOG_KAFKA_PARTITIONS"):
        Settings.from_env({"CARELOG_KAFKA_PARTITIONS": value})


@pytest.mark.parametrize("value", ["a topic", "x/y", "..", "t" * 250])
def test_a_bad_topic_name_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="CARELOG_KAFKA_TOPIC"):
        Settings.from_env({"CARELOG_KAFKA_TOPIC": value})


def test_worker_needs_kafka_and_a_durable_store() -> None:
    # run_worker, not main(): main configures logging once per process, for good.
    with pytest.raises(ConfigError, match="--store must be postgresql://"):
        run_worker(Settings(store="memory:", kafka="127.0.0.1:1"))
    with pytest.raises(ConfigError, match="--kafka SERVERS"):
        run_worker(Settings(store="postgresql://u@h/db"))
    assert _parser().parse_args(["worker", "--kafka", "k:1"]).kafka == "k:1"
