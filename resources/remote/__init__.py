"""Scale-out pieces: artifacts in object storage (object_store.py) and training pods on Kubernetes (kubernetes.py)."""
