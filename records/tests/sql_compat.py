#!/usr/bin/env python3
"""Runs a Switchyard SQL plan on a current ClickHouse engine (chdb-core, embedded).

    python3 records/tests/sql_compat.py PLAN.json

PLAN.json is written by records/tests/sql_compat.rs: {"steps": [{"name", "sql", "query"}]}.
Every step runs in order in one chdb session (a temporary on-disk database, so
MergeTree tables, FINAL and system.parts behave as on a server). Statements with
"query": true are answered in TabSeparated; the answers are printed as one JSON object
{name: text} on stdout. The Rust test runs the same plan on ClickHouse 18.16 and
compares.

Exit status: 0 ok; 1 a statement failed (the statement and the engine's message on
stderr); 3 chdb-core is not installed (run scripts/python-test-deps.sh).
"""

import json
import sys
import tempfile


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        from chdb import session  # noqa: PLC0415 (import late to report its absence)
    except ImportError as e:
        print(f"sql_compat.py: chdb-core is not installed ({e}); run scripts/python-test-deps.sh", file=sys.stderr)
        return 3
    import chdb

    with open(sys.argv[1], encoding="utf-8") as f:
        plan = json.load(f)
    answers = {}
    with tempfile.TemporaryDirectory(prefix="switchyard-chdb-") as path:
        sess = session.Session(path)
        try:
            version = str(sess.query("SELECT version()", "TabSeparated")).strip()
            answers["__engine__"] = f"chdb {getattr(chdb, '__version__', '?')}, ClickHouse {version}"
            for step in plan["steps"]:
                try:
                    if step.get("query"):
                        res = sess.query(step["sql"], "TabSeparated")
                        answers[step["name"]] = res.bytes().decode("utf-8") if hasattr(res, "bytes") else str(res)
                    else:
                        sess.query(step["sql"])
                except Exception as e:  # noqa: BLE001 (chdb raises its own error types)
                    print(f"sql_compat.py: step {step['name']!r} failed on ClickHouse {version}:", file=sys.stderr)
                    print(step["sql"], file=sys.stderr)
                    print(f"-> {e}", file=sys.stderr)
                    return 1
        finally:
            sess.close()
    json.dump(answers, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
