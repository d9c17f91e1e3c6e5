"""kymaprov: a self-hostable implementation of the SAP BTP Provisioning Service for Kyma runtimes."""

__version__ = "0.1.0"
