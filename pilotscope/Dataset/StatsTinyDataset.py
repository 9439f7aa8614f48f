"""PilotScope's `StatsTinyDataset`: the registry's `stats_tiny` dataset."""
from pilotscope.Dataset.BaseDataset import BaseDataset


class StatsTinyDataset(BaseDataset):
    """Random per-table sample of STATS (STATS-CEB), timestamps as integer epoch seconds."""

    dataset_name = "stats_tiny"
