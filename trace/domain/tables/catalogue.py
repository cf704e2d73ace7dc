"""GI products as data: names, protected area, harvest months, yield ceiling, GTIN."""
from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trace.db import Base


class Product(Base):
    """A GI product. A regulator defines or changes one with a logged event, not a code change."""

    __tablename__ = "products"
    __table_args__ = (CheckConstraint("yield_g_per_mu > 0", name="yield_positive"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    gi_ref: Mapped[str] = mapped_column(String(40), default="")
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True)
    harvest_months: Mapped[str] = mapped_column(String(40))  # "9,10": months in China time
    yield_g_per_mu: Mapped[int] = mapped_column(BigInteger)
    lot_prefix: Mapped[str] = mapped_column(String(8), unique=True)
    area: Mapped[list[ProductArea]] = relationship(
        order_by="(ProductArea.township, ProductArea.village)", cascade="all, delete-orphan"
    )

    @property
    def months(self) -> list[int]:
        """Harvest months as integers."""
        return [int(m) for m in self.harvest_months.split(",") if m]

    def allows(self, township: str, village: str) -> bool:
        """Whether a plot in this township and village lies inside the protected area."""
        return any(a.township == township and a.village in (village, "*") for a in self.area)


class ProductArea(Base):
    """One village (or a whole township, village '*') of a product's protected area."""

    __tablename__ = "product_areas"
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    township: Mapped[str] = mapped_column(String(40), primary_key=True)
    village: Mapped[str] = mapped_column(String(40), primary_key=True)
