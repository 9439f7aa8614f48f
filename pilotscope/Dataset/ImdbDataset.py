"""PilotScope's `ImdbDataset`: the registry's `imdb` dataset."""
from pilotscope.Dataset.BaseDataset import BaseDataset


class ImdbDataset(BaseDataset):
    """The full IMDB (JOB) database, from upstream's release tarball."""

    dataset_name = "imdb"
