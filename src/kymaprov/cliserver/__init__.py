"""The BTP CLI-server protocol (``/login``, ``/command``) of SAP's ``btp`` and terraform-provider-btp."""
