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

    def allows(self, township: str, village: str, division: str | None = None) -> bool:
        """Whether a plot in this township and village (and division) lies inside the protected area."""
        return area_allows([(a.township, a.village, a.code) for a in self.area], township, village, division)


def area_allows(area: list[tuple[str, str, str | None]], township: str, village: str, division: str | None) -> bool:
    """Whether a plot lies inside an area of (township, village, code) places. A place with a
    code takes a plot with a code by the code alone (a village's exact code, a township's first 9
    digits, a county's first 6), so that neither a spelling nor the township a village is listed
    under refuses it; otherwise names decide, village '*' standing for the whole township."""
    for t, v, code in area:
        if code and division:
            if code.endswith("000000"):
                if division[:6] == code[:6]:
                    return True
            elif code.endswith("000"):
                if division[:9] == code[:9]:
                    return True
            elif division == code:
                return True
        elif t == township and v in (village, "*"):
            return True
    return False


class ProductArea(Base):
    """One village (or a whole township, village '*') of a product's protected area."""

    __tablename__ = "product_areas"
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    township: Mapped[str] = mapped_column(String(40), primary_key=True)
    village: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str | None] = mapped_column(String(12))  # from version 3: its division code
