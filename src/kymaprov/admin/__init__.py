"""Emulator controls: the service clock, failure injection, tenancy and reset."""
