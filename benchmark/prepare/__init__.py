"""`benchmark prepare`: videos -> the frame folders the harness reads (decode, sample, crop faces)."""
