"""The local cache: its location, known projects, gc, verify."""
