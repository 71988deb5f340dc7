"""FHIR R4 writes: resources translated into carelog's commands, and the routes that take them."""
