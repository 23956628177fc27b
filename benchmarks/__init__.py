"""Benchmarks for cogw: pull, import, prepare and status against a real local registry.

Run with ``just bench`` (``python -m benchmarks.run``). The harness measures cogw as a
user runs it (the installed ``cogw`` command in a child process) next to its peers
(skopeo, curl) and the machine's physical floor (hashlib plus disk writes), and writes
docs/benchmarks.md. It knows nothing of cogw's internals beyond weights.lock's JSON keys.
"""
