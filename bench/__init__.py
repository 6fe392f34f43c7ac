"""Benchmarks: each prints a table, writes JSON to bench/results/ and draws a PNG."""
