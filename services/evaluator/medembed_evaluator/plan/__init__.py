"""The evaluator's plan: models x datasets, the probe protocol, and what else to run, from YAML.

- `plan.schema`: every class a plan is made of (Plan, ModelEntry, DatasetEntry, *Settings).
- `plan.typed`: the one typed parser, a YAML mapping read into a schema class by its type hints.
- `plan.load`: `load_plan(path)` / `parse_plan(document)`, the one validation path.

Nothing is re-exported here: the schema sits below `datasets` (which reads its entries) and
`load` above it (which asks each dataset kind about its options), so importing them through
this package would make the two import each other.
"""
