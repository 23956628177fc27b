"""cog.yaml's weights section: schema, semantic checks, source URIs, include/exclude filters."""
