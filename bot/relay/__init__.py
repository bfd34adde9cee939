"""The relay (issue 10): direct messages between people on different platforms."""
