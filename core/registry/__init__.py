"""Registry references, the OCI distribution protocol's rules, mirrors, pulls by reference."""
