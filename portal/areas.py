"""Areas form a tree (district → street → community grid); what lies within one is asked of SQL."""

import uuid

from sqlmodel import select
from sqlmodel.sql.expression import SelectOfScalar

from portal.models import Area


def areas_within(area_id: uuid.UUID) -> SelectOfScalar[uuid.UUID]:
    """The ids of an area and every area below it (a district's streets and their grids)."""
    tree = select(Area.id).where(Area.id == area_id).cte("area_tree", recursive=True)
    tree = tree.union_all(select(Area.id).where(Area.parent_id == tree.c.id))
    return select(tree.c.id)


def areas_containing(area_id: uuid.UUID) -> SelectOfScalar[uuid.UUID]:
    """The ids of an area and every area above it (a grid's street and district): the areas whose
    supervisors oversee it."""
    tree = select(Area.id, Area.parent_id).where(Area.id == area_id).cte("area_path", recursive=True)
    tree = tree.union_all(select(Area.id, Area.parent_id).where(Area.id == tree.c.parent_id))
    return select(tree.c.id)
