"""`python -m bench`: every benchmark, in one run."""

from bench import ingest, validator

validator.main([])
ingest.main()
