"""Global accounts, subaccounts and platform users: who owns what."""
