"""Workflow and activity inputs/results, one module per feature, imported by workflows, activities and use cases alike."""
