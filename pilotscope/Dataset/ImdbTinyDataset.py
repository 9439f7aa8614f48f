"""PilotScope's `ImdbTinyDataset`: the registry's `imdb_tiny` dataset."""
from pilotscope.Dataset.BaseDataset import BaseDataset


class ImdbTinyDataset(BaseDataset):
    """Random per-table sample of IMDB, with the JOB workloads."""

    dataset_name = "imdb_tiny"
