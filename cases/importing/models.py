"""Tables of the bulk import: which source row became which petition."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow


class PetitionImportKey(Base):
    """The keyed hash of an imported source row (its source id, or its whole content) and the petition it became.

    Re-importing the same file finds every row here and skips it, so an import can be re-run safely.
    """

    __tablename__ = "petition_import_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id", ondelete="CASCADE"), index=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
