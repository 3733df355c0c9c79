"""Tests of the ECG data layer (readers, preprocessing, rendering, caches)."""
