"""Test-only handlers, seed files and helpers shared by the engine suite."""
