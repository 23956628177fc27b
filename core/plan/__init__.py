"""Snapshots, steps, plans, saved plans, outcomes, events and their words."""
