"""Readers and writers of the TOL export files (layouts in ``mappings/legacy/README.md``)."""
