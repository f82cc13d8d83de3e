"""Every model, one module per aggregate; importing this registers every table."""

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
