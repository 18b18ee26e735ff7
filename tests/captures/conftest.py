"""Captures of dockerd for the inference and emulator tests (``scripts/record_bursts.py``).
Some were made with the probe plugin, whose pool ids and answers are not the reference
allocator's, so they are not a set of replay tests."""

collect_ignore_glob = ["*.jsonl", "*/*.jsonl"]
