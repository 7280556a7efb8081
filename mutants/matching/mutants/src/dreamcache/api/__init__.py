"""HTTP layer: schemas, errors and routes."""
