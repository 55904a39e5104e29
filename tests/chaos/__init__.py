"""Randomized histories under faults: browsers, two app processes, fault-injecting proxies, and a checker."""
