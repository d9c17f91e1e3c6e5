"""Command-line entry points: ``kymaprov`` and the ``btp`` stand-in."""
