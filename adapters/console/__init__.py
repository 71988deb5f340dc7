"""The operator console under /console: server-rendered pages over the read models."""
