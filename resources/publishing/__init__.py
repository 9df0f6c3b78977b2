"""Publishing: merge the adapter into the base, verify it, describe it, and keep versions in a registry."""
