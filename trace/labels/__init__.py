"""Package labels and certificates of conformity: PNG images and streamed, print-ready PDFs.

Plain data in (LabelInfo, CertificateInfo), bytes out; knows nothing of Flask or the database.
Chinese is drawn with Noto Sans CJK SC from the `noto-cjk-sans-otc` wheel, or a system CJK font
(see _fonts.py); LabelFontError names what to install when there is none.
"""
from ._fonts import LabelFontError, cjk_font
from .pdf import PdfStreamWriter, write_certificate_pdf, write_label_pdf, write_label_sheets_pdf
from .render import (
    CertificateInfo,
    LabelInfo,
    certificate_png,
    format_weight,
    label_fields,
    label_png,
    printed_code,
    qr_matrix,
    render_certificate,
    render_label,
    short_serial,
)

__all__ = [
    "CertificateInfo",
    "LabelFontError",
    "LabelInfo",
    "certificate_png",
    "cjk_font",
    "format_weight",
    "label_fields",
    "label_png",
    "printed_code",
    "qr_matrix",
    "render_certificate",
    "render_label",
    "short_serial",
    "PdfStreamWriter",
    "write_certificate_pdf",
    "write_label_pdf",
    "write_label_sheets_pdf",
]
