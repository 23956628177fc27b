"""The imperative shell of cogw: gathers snapshots, runs plans, records outcomes.

Decisions belong in ``cogw.core``; this package reads and writes the disk,
talks to registries and sources, and draws progress.
"""
