"""Data: class folders or the FF++ tree -> a split, audited dataset (suite -> **data** -> plan)."""
