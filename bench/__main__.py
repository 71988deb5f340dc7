"""`python -m bench`: every benchmark, in one run."""

from bench import ingest, read_models, replay, validator

validator.main([])
ingest.main()
replay.main([])
read_models.main([])  # read latency with 100k patients loaded
