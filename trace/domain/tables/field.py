"""The field end's state tables: the division list, the bureau's pesticides, farming records,
certificates of conformity and their receipts, what tests a batch passed, platform codes, GI
logo authorisations, certifications, approved late entries, GI registrations and the identity
of parties. Like every state table, a projection of the log (verify rebuilds and compares them);
the `*_private` ones hold what the log only commits to (operators' and persons' names)."""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trace.db import Base


class Division(Base):
    """An administrative division (统计用区划代码): 12 digits; level county, township or village."""

    __tablename__ = "divisions"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(10))


class Pesticide(Base):
    """A pesticide of the bureau's list; `intervals` is 'product:days' per crop, comma-separated."""

    __tablename__ = "pesticides"
    reg_no: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    active_ingredient: Mapped[str] = mapped_column(String(200))
    intervals: Mapped[str] = mapped_column(String(1000), default="")
    banned: Mapped[bool] = mapped_column(Boolean, default=False)


class FarmRecord(Base):
    """A farming record on a plot (kind: spray, fertilise, or a kind of work), by its entry."""

    __tablename__ = "farm_records"
    entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[str] = mapped_column(String(30))
    season: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[str | None] = mapped_column(String(40))  # the crop sprayed
    pesticide: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(200), default="")  # dose, fertiliser, or note
    source: Mapped[str] = mapped_column(String(200), default="")  # pest targeted, or where a fertiliser came from
    amount_g_per_mu: Mapped[int | None] = mapped_column(BigInteger)
    area_centimu: Mapped[int | None] = mapped_column(BigInteger)
    operator: Mapped[str | None] = mapped_column(String(64))  # a commitment to the operator's name
    alerts: Mapped[str] = mapped_column(String(100), default="")


class FarmOperator(Base):
    """Who sprayed: a person's name, private (the log holds a salted commitment to it)."""

    __tablename__ = "farm_operators_private"
    entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(60))
    salt: Mapped[str] = mapped_column(String(32))


class Certificate(Base):
    """A 承诺达标合格证 of one batch; `sources` are the certificates it replaced, comma-separated."""

    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    basis: Mapped[str] = mapped_column(String(20))
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[str] = mapped_column(String(30))
    entry: Mapped[int] = mapped_column(BigInteger)
    sources: Mapped[str] = mapped_column(String(800), default="")


class CertificateReceipt(Base):
    """A certificate collected with a batch (the receive entry), kept by the receiver."""

    __tablename__ = "certificate_receipts"
    entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    received_at: Mapped[str] = mapped_column(String(30))


class BatchTest(Base):
    """Which tests a batch (or the batch it was split from) has passed and not failed since:
    an official one (the bureau's 监督抽检) and/or its holder's own."""

    __tablename__ = "batch_tests"
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True, autoincrement=False)
    official: Mapped[bool] = mapped_column(Boolean, default=False)
    own: Mapped[bool] = mapped_column(Boolean, default=False)


class BatchCode(Base):
    """A lot's 追溯码 on the national traceability platform."""

    __tablename__ = "batch_codes"
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(40))
    entry: Mapped[int] = mapped_column(BigInteger)


class GIAuthorisation(Base):
    """A party's authorisation to use the GI special logo on a product (by the entry that made it)."""

    __tablename__ = "gi_authorisations"
    entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    announcement: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[str] = mapped_column(String(10))
    valid_until: Mapped[str | None] = mapped_column(String(10))
    revoked_entry: Mapped[int | None] = mapped_column(BigInteger)


class Certification(Base):
    """A certification (green food, organic, GAP) of a party, for one plot or all of them."""

    __tablename__ = "certifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    plot_id: Mapped[int | None] = mapped_column(ForeignKey("plots.id"))
    scheme: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(60))
    issuer: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[str] = mapped_column(String(10))
    valid_until: Mapped[str] = mapped_column(String(10))
    entry: Mapped[int] = mapped_column(BigInteger)
    revoked_entry: Mapped[int | None] = mapped_column(BigInteger)


class LateApproval(Base):
    """The bureau's approval of a party's late entries (about a batch, a plot, or anything)."""

    __tablename__ = "late_approvals"
    entry: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    plot_id: Mapped[int | None] = mapped_column(BigInteger)
    earliest: Mapped[str] = mapped_column(String(30))
    until: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(500))


class ProductRegistration(Base):
    """A product's GI registration; None where it is not known (the page says so)."""

    __tablename__ = "product_registrations"
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    kind: Mapped[str | None] = mapped_column(String(20))
    number: Mapped[str | None] = mapped_column(String(40))
    holder: Mapped[str | None] = mapped_column(String(200))
    date: Mapped[str | None] = mapped_column(String(10))
    spec_ref: Mapped[str | None] = mapped_column(String(200))


class PartyIdentity(Base):
    """Whether a party is an organisation or a natural person, the commitment to a person's name
    and identity number, and its 主体码."""

    __tablename__ = "party_identities"
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), primary_key=True, autoincrement=False)
    form: Mapped[str] = mapped_column(String(12))
    person: Mapped[str | None] = mapped_column(String(64))
    platform_code: Mapped[str | None] = mapped_column(String(40))


class PartyPerson(Base):
    """A natural person's name and identity number: private, never in the log (it holds a salted
    commitment); only the last four characters of the number are ever shown."""

    __tablename__ = "party_persons_private"
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"), primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(60))
    id_number: Mapped[str] = mapped_column(String(18))
    salt: Mapped[str] = mapped_column(String(32))


class LogMark(Base):
    """A mark of the whole log: 'demo', from the first entry a demo clock recorded (every page of
    such a log says "demo data")."""

    __tablename__ = "log_marks"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    entry: Mapped[int] = mapped_column(BigInteger)
