"""Example ECG Bench plugin package."""
