"""The DuckDB provenance store: connections sealed against hostile files, the check of a store before it is read, the
recorder that turns items into rows, export, import and merge. The tables themselves are declared in
:mod:`audit.schema`.
"""
