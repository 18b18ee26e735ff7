"""The broken corpus is read by the validator's tests; it is not a set of replay tests."""

collect_ignore_glob = ["*.jsonl"]
