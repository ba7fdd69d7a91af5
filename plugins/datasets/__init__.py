"""Built-in dataset recipes for `benchmark prepare <dataset>`: one module per public dataset."""
