"""Operator tools: audit and benchmarks."""
