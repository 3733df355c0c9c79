"""Leaderboard: tables, figures and a static page generated from result records."""
