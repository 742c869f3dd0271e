"""Readers and writers: JSONL sample files, images (PNG/JPEG/DICOM), MedMNIST archives."""
