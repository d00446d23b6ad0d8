"""The burndown: per-module counts, the baseline file and the ratchet that lets counts only go down."""
