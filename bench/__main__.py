"""`python -m bench`: every benchmark, in one run."""

from bench import ingest, replay

ingest.main()
replay.main([])
