"""The matfold store: projects, materials and predictions, the same API everywhere."""

from __future__ import annotations

from .. import config
from .records import MaterialRecord, PredictionRecord, Project
from .transport import HTTPTransport, StoreError

__all__ = ["Store", "connect"]


def _id(obj) -> int:
    return obj if isinstance(obj, int) else obj.id


class Store:
    """Projects, materials (as pymatgen structures) and predictions.

    Get one with :func:`connect`. Every call checks your role in the project, in a
    hub as on a laptop: both are the matfold service, reached over HTTP.

    Attributes
    ----------
    service : LocalService or None
        The service process this kernel started (outside a hub), else None.
    """

    def __init__(self, transport, service=None):
        self._t = transport
        self.service = service

    def __repr__(self) -> str:
        return f"Store({self._t.url!r}{', local' if self.service is not None else ''})"

    # the service ---------------------------------------------------------------------
    def health(self) -> dict:
        """The service's status: ``{"status": "ok", "version": ..., "database": {...}, "auth": ...}``."""
        return self._t.send("GET", "health")

    def whoami(self) -> dict:
        """Who the service takes you for: ``{"name", "kind", "admin", "groups"}``."""
        return self._t.send("GET", "whoami")

    # projects ----------------------------------------------------------------------
    def projects(self) -> list[Project]:
        """Projects you are a member of, with your role."""
        return [Project.from_json(p) for p in self._t.request("GET", "projects")]

    def create_project(self, name: str, description: str = "", target_properties=()) -> Project:
        """A new project that you own."""
        body = {"name": name, "description": description, "target_properties": list(target_properties)}
        return Project.from_json(self._t.request("POST", "projects", body))

    def add_member(self, project, user: str, role: str = "viewer") -> None:
        """Give `user` a role (``viewer``, ``editor``, ``owner``) in `project` (owners only)."""
        self._t.request("PUT", f"projects/{_id(project)}/members/{user}", {"role": role})

    # materials -------------------------------------------------------------------
    def save_material(self, project, structure, *, source_database=None, source_id=None,
                      embedding=None) -> MaterialRecord:
        """Save a structure (anything :func:`matfold_kernel.read_structure` reads)."""
        from ..crystal import read_structure, structure_to_dict

        s = read_structure(structure)
        body = {"structure": structure_to_dict(s), "source_database": source_database, "source_id": source_id,
                "embedding": None if embedding is None else [float(x) for x in embedding]}
        return MaterialRecord.from_json(self._t.request("POST", f"projects/{_id(project)}/materials", body))

    def materials(self, project, *, formula=None, elements=None, spacegroup=None, property=None,
                  min=None, max=None, limit: int = 100) -> list[MaterialRecord]:
        """A project's materials, filtered (elements: all must be present)."""
        from urllib.parse import urlencode

        query = {"formula": formula, "spacegroup": spacegroup, "property": property, "min": min, "max": max,
                 "limit": limit, "elements": ",".join(elements) if elements else None}
        qs = urlencode({k: v for k, v in query.items() if v is not None})
        return [MaterialRecord.from_json(m) for m in self._t.request("GET", f"projects/{_id(project)}/materials?{qs}")]

    def material(self, material) -> MaterialRecord:
        """One material with its pymatgen ``structure``."""
        return MaterialRecord.from_json(self._t.request("GET", f"materials/{_id(material)}"))

    def similar(self, material, k: int = 20) -> list[tuple[MaterialRecord, float]]:
        """Materials (in projects you can see) nearest to `material` by embedding.

        Returns (record, cosine distance) pairs, nearest first; the material must
        have been saved with an embedding.
        """
        rows = self._t.request("GET", f"materials/{_id(material)}/similar?k={int(k)}")
        return [(MaterialRecord.from_json(r), r["distance"]) for r in rows]

    # predictions -------------------------------------------------------------------
    def save_prediction(self, material, property: str, value: float, unit: str, *, uncertainty=None,
                        model=None, model_version=None) -> PredictionRecord:
        """Record a predicted value (``unit`` as in the prediction, e.g. ``"eV"``)."""
        body = {"property": property, "value": float(value), "unit": unit,
                "uncertainty": None if uncertainty is None else float(uncertainty),
                "model_name": model, "model_version": model_version}
        data = self._t.request("POST", f"materials/{_id(material)}/predictions", body)
        return PredictionRecord.from_json(data | {"model_version": model_version})

    def predictions(self, material, property: str | None = None) -> list[PredictionRecord]:
        """Prediction history of a material, newest first."""
        path = f"materials/{_id(material)}/predictions" + (f"?property={property}" if property else "")
        return [PredictionRecord.from_json(p) for p in self._t.request("GET", path)]

    def usage(self) -> dict:
        """This month's usage and limits of your plan."""
        return self._t.request("GET", "usage")


def connect(*, local: bool | None = None, user: str | None = None) -> Store:
    """The store: the hub's service inside a hub server, a service of your own elsewhere.

    Inside a hub server (:func:`matfold_kernel.config.service_url` and
    :func:`~matfold_kernel.config.service_token` set) the store talks to the hub's
    service with your hub token. Elsewhere it starts the matfold service as a child of
    this kernel (see :mod:`matfold_kernel.store.local`; the first start in a new data
    folder takes some seconds for the database) and stops it when the kernel exits.

    Parameters
    ----------
    local : bool, optional
        Force a local service (True) or the hub's (False).
    user : str, optional
        Who you are in the local store (default: your login name).

    Raises
    ------
    StoreError
        ``local=False`` outside a hub, or the local service could not start (with its log).
    MatfoldDependencyError
        The local store's service is not installed (``pip install 'matfold[hub]'``).
    """
    url, token = config.service_url(), config.service_token()
    in_hub = bool(url and token)
    if local is None:
        local = not in_hub
    if not local:
        if not in_hub:
            raise StoreError("not inside a matfold hub server (MATFOLD_SERVICE_URL / JUPYTERHUB_API_TOKEN "
                             "unset); call connect() for the local store")
        return Store(HTTPTransport(url, token))
    from .local import local_service

    service = local_service(user)
    return Store(HTTPTransport(service.url, service.token), service=service)
