"""matfold_services: the matfold hub service (projects, quotas, billing, search).

Empty until the hub-service issue lands; the package exists so the layout and the
import name are fixed from the start.
"""

__all__: list[str] = []
