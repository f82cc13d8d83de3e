"""Every model, one module per aggregate; importing this registers every table."""

from skillstore.models.retrieval import RetrievalWeights
from skillstore.models.tenancy import (
    Team,
    TeamCreate,
    TeamMembership,
    TeamMembershipRead,
    TeamRead,
    TeamUpdate,
    User,
    UserCreate,
    UserRead,
    UserRole,
    UserUpdate,
)

__all__ = [
    "RetrievalWeights",
    "Team",
    "TeamCreate",
    "TeamMembership",
    "TeamMembershipRead",
    "TeamRead",
    "TeamUpdate",
    "User",
    "UserCreate",
    "UserRead",
    "UserRole",
    "UserUpdate",
]
