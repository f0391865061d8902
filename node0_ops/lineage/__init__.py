"""Lineage and registry database (DuckDB) that every stage writes.

    from node0_ops.lineage.db import LineageDB
    db = LineageDB(path)              # creates tables on first use
    with db.write() as con: ...       # serialized across processes
    rows = db.query("select * from examples where role = ?", ["polecat"])
"""
