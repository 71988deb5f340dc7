"""`python -m bench`: every benchmark, in one run."""

from bench.ingest import main

main()
