"""One typed input per command (see inputs.base for why pydantic, and how callers parse)."""
from trace.domain.inputs.base import KG, G, Input, parse
from trace.domain.inputs.batches import (
    CorrectInput,
    GradeInput,
    HarvestInput,
    InspectInput,
    MergeInput,
    MergePart,
    PackInput,
    ProcessInput,
    RecallActionInput,
    RecallInput,
    ReceiveInput,
    ResultInput,
    SellInput,
    ShipInput,
    SplitInput,
    StoreInput,
)
from trace.domain.inputs.field import (
    BatchCodeInput,
    CertificateInput,
    CertificationInput,
    CertificationRevokeInput,
    DivisionInput,
    FertiliseInput,
    GIAuthoriseInput,
    GIRevokeInput,
    LateApproveInput,
    PartyCodeInput,
    PesticideInput,
    SprayInput,
    WorkInput,
)
from trace.domain.inputs.registry import (
    BindInput,
    CreditInput,
    PartyInput,
    PlotInput,
    ProductInput,
    UserInput,
)

__all__ = [
    "G", "KG", "Input", "parse", "CorrectInput", "GradeInput", "HarvestInput", "InspectInput", "MergeInput", "MergePart",
    "PackInput", "ProcessInput", "ReceiveInput", "RecallInput", "RecallActionInput", "ResultInput", "SellInput", "ShipInput", "SplitInput",
    "StoreInput", "BindInput", "CreditInput", "PartyInput", "PlotInput", "ProductInput", "UserInput",
    "BatchCodeInput", "CertificateInput", "CertificationInput", "CertificationRevokeInput", "DivisionInput",
    "FertiliseInput", "GIAuthoriseInput", "GIRevokeInput", "LateApproveInput", "PartyCodeInput", "PesticideInput",
    "SprayInput", "WorkInput",
]
