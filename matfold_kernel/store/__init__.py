"""The matfold store: one API over the hub service or the embedded database."""

from .records import MaterialRecord, PredictionRecord, Project
from .store import Store, connect
from .transport import StoreError

__all__ = ["MaterialRecord", "PredictionRecord", "Project", "Store", "StoreError", "connect"]
