"""Tests for ganeti-rapi, run with trial."""
