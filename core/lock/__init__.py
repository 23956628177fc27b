"""weights.lock: the model, its reader, checks, canonical bytes and set digest."""
