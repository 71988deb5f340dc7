"""`python -m bench` (`make bench`): every benchmark against its peers, into docs/benchmarks.md.

``--quick`` for a short run; see bench/report.py.
"""

from bench.report import main

main()
