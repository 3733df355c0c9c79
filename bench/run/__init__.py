"""A run: configuration, preparation of each task's data, cell identity, execution of one
cell, scoring from saved predictions, the crash-safe store and its result records, and the
grid runner that orders cells and resumes."""
