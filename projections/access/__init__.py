"""The access log for auditors: who read or wrote which patient's data, and every refusal."""

from projections.access.view import AccessLogQuery, AccessLogView, AccessRow

__all__ = ["AccessLogQuery", "AccessLogView", "AccessRow"]
