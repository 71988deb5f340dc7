"""The Kafka worker keeps faust's data directory under var/, not beside wherever it starts."""

from __future__ import annotations

from pathlib import Path

from adapters.kafka.worker import create_worker_app


def test_faust_datadir_is_under_var_not_the_group_name(tmp_path: Path) -> None:
    app = create_worker_app(
        servers="127.0.0.1:9", topic="t", group="carelog-test", partitions=1, applier=None
    )
    assert Path(app.conf.datadir) == Path("var/kafka-worker")
    assert "carelog-test" not in str(app.conf.tabledir)  # faust's default is "<group>-data"

    chosen = create_worker_app(
        servers="127.0.0.1:9",
        topic="t",
        group="g",
        partitions=1,
        applier=None,
        datadir=str(tmp_path / "w"),
    )
    assert Path(chosen.conf.tabledir).is_relative_to(tmp_path / "w")
