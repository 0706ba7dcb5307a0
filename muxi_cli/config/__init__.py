"""The formation file (``muxi.yaml``): schema, loading, validation."""
