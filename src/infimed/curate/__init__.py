"""Data curation: a pipeline of small registered steps that turns a dirty pool into a clean SFT set."""
