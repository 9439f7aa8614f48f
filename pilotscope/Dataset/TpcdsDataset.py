"""PilotScope's `TpcdsDataset`: the registry's `tpcds` dataset."""
from pilotscope.Dataset.BaseDataset import BaseDataset


class TpcdsDataset(BaseDataset):
    """TPC-DS: not in the registry unless a data directory holds a tpcds dataset."""

    dataset_name = "tpcds"
