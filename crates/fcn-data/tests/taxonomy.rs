// Tests not written yet.
