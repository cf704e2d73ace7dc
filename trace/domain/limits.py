"""Every limit of the domain, defined once: the typed inputs and the typed events both use these."""
from __future__ import annotations

MAX_ID = 2**31 - 1  # ids are 32-bit integers in every engine
MAX_GRAMS = 10**12  # a million tonnes: anything bigger is a typo
MAX_TEXT = 200  # a name, a lab, a facility
MAX_REASON = 500  # a recall or credit reason, a correction's why
MAX_SHORT = 60  # report and certificate numbers
MAX_PLACE = 40  # a township or a village
MAX_VEHICLE = 40
MAX_RESULTS = 50  # result rows of one inspection
MAX_PACK = 5000  # packages in one pack event
MAX_SPLIT = 500  # new batches in one split
MAX_MERGE = 100  # batches in one merge
MAX_SELL = 5000  # packages in one sale
MAX_RECEIVE = 50_000  # packages counted in one receipt
MAX_CODES = 5000  # lines of scanned package codes in one form
MAX_CENTIMU = 100_000_00  # 100,000 mu
TEMPERATURE_TENTHS = (-400, 400)  # -40 to 40 °C
YEARS = (2000, 2100)
PRODUCT_ID = r"[a-z0-9-]{1,40}"
LOT_PREFIX = r"[A-Z0-9]{2,8}"
FORM = r"[a-z_]{2,20}"
HEX64 = r"[0-9a-f]{64}"
MAX_DIVISIONS = 1000  # divisions in one definition
MAX_INTERVAL_DAYS = 365
PESTICIDE_REG = r"[A-Z]{2,4}\d{6,10}"  # 农药登记证号: PD20080123, WP20090001, LS20120001 ...
PLATFORM_CODE = r"[0-9A-Za-z-]{4,40}"  # codes of the national traceability platform (format not published here)
LATE_DAYS = 7  # an event may be recorded at most this many days after it happened, unless approved
LATE_MARK_HOURS = 24  # recorded more than this after it happened: 补录 on the public page
MAX_APPROVAL_DAYS = 60  # how long an approval of late entries may stay open
MAX_SHELF_DAYS = 3650  # a shelf life of ten years is a typo
