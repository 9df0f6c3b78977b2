"""Base model: the embedded tiny default and the loading code for a hub id or local path."""
