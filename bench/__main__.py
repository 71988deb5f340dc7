"""`python -m bench`: every benchmark, in one run."""

from bench import ingest, replay, validator

validator.main([])
ingest.main()
replay.main([])
