"""What goes to a registry: inventories, tar bytes, layer packing, OCI blobs and tags."""
