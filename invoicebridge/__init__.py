"""The composition root: the CLI, the demo and sample data; the only package that imports
both handlers and worker."""
