"""QLoRA training: config, data (chat tokens, packing), loop, checkpoints, and the process that runs it."""
