"""Deterministic workflow code only (sandbox-safe)."""
