"""The matfold store: one API over the matfold service, the hub's or one of your own."""

from .records import MaterialRecord, PredictionRecord, Project
from .store import Store, connect
from .transport import StoreError

__all__ = ["MaterialRecord", "PredictionRecord", "Project", "Store", "StoreError", "connect"]
