"""A run: resolve the suite, plan the work, carry it out (executor), record it (store).

suite -> plan (pure) -> executor -> store (the run dir) -> report
"""
