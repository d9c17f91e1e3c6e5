"""Service instances and bindings of the ``cis`` offering, as ``btp`` manages them."""
