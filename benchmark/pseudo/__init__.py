"""Pseudo-fake training sets: a generator's name (``train: sbi``) is real images of the training
split plus pseudo-fakes made from them. ``resolve`` checks the suite's generators, ``landmarks``
finds (and remembers) each real image's 68 points, ``fakes`` names and makes the pseudo-fakes,
``setup`` builds a run's, ``figure`` draws examples (``benchmark generate``, the report)."""
