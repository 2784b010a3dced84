"""The matfold service's tables (SQLAlchemy 2, Postgres + pgvector)."""

from .accounts import Classroom, Organization, User
from .base import Base
from .billing import PLANS, ClassroomUsageCounter, Plan, StripeEvent, Subscription, UsageCounter, UsageRecord
from .idempotency import IdempotentRequest
from .materials import MATERIAL_EMBEDDING_DIM, BatchJob, ExperimentalResult, Material, ModelVersion, Prediction
from .projects import Project, ProjectMember, Role
from .proteins import PROTEIN_EMBEDDING_DIM, Annotation, Comment, ProteinStructure

__all__ = [
    "MATERIAL_EMBEDDING_DIM", "PLANS", "PROTEIN_EMBEDDING_DIM",
    "Annotation", "Base", "BatchJob", "Classroom", "ClassroomUsageCounter", "Comment", "ExperimentalResult", "IdempotentRequest", "Material",
    "ModelVersion", "Organization", "Plan", "Prediction", "Project", "ProjectMember",
    "ProteinStructure", "Role", "StripeEvent", "Subscription", "UsageCounter", "UsageRecord", "User",
]
