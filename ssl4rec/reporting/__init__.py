"""Reporting: run records and their store, leaderboards (Markdown / CSV / HTML), reproduction reports, exports."""
