"""Third-party submissions: bundles (``bench submit``), their safety rules, the independent
reference scorer and verification (``bench verify``)."""
