"""The Provisioning Service API v1 of SAP BTP's Cloud Management service (cis)."""
