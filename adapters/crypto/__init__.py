"""Data at rest: per-patient envelope encryption of stored events, erasure, backups.

See docs/data-at-rest.md. Domain, application and projection code never
import this package: Ingestion finds the mapper factory by topic
(``AT_REST_MAPPER_TOPIC``), projections decode through ``OpensStoredState``.
"""
