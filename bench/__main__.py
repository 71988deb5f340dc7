"""`python -m bench`: every benchmark, in one run."""

from bench import read_models
from bench.ingest import main

main()
read_models.main([])  # read latency with 100k patients loaded
