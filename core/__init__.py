"""The pure functional core of cogw.

Nothing in this package touches the disk, the network, the environment, the
clock or randomness, and nothing prints. Every function takes values and
returns values; the imperative shell (``cogw.shell``) gathers those values and
carries out the plans computed here. ``tests/test_architecture.py`` enforces it.
"""
