"""PilotScope's `StatsDataset`: the registry's `stats` dataset."""
from pilotscope.Dataset.BaseDataset import BaseDataset


class StatsDataset(BaseDataset):
    """The full STATS (STATS-CEB) database, from upstream's release tarball."""

    dataset_name = "stats"
