"""Multi-stage training recipes built from the public functions of the data, curate, train and eval commands."""
