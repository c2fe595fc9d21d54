"""Block type numbers of the .scap capture format.

From falcosecurity/libs ``userspace/libscap/scap_savefile.h``: each block is
``type u32, total_length u32, body, total_length u32``, little-endian.
"""

from __future__ import annotations

SHB = 0x0A0D0D0A
SHB_MAGIC = 0x1A2B3C4D

MI = 0x201
MI_INT = 0x8002ABCD

PL_V1 = 0x202
PL_V1_INT = 0x8000ABCD
PL_V2 = 0x207
PL_V2_INT = 0x8013ABCD
PL_V3 = 0x209
PL_V3_INT = 0x8014ABCD
PL_V4 = 0x210
PL_V5 = 0x211
PL_V6 = 0x212
PL_V7 = 0x213
PL_V8 = 0x214
PL_V9 = 0x215

FDL = 0x203
FDL_INT = 0x8001ABCD
FDL_V2 = 0x218

EV = 0x204
EV_INT = 0x8010ABCD
EV_V2 = 0x216
EV_V2_LARGE = 0x221
EVF = 0x208
EVF_V2 = 0x217
EVF_V2_LARGE = 0x222

IL = 0x205
IL_INT = 0x8011ABCD
IL_V2 = 0x219

UL = 0x206
UL_INT = 0x8012ABCD
UL_V2 = 0x220

PROCLIST_VERSION: dict[int, int] = {
    PL_V1: 1,
    PL_V1_INT: 1,
    PL_V2: 2,
    PL_V2_INT: 2,
    PL_V3: 3,
    PL_V3_INT: 3,
    PL_V4: 4,
    PL_V5: 5,
    PL_V6: 6,
    PL_V7: 7,
    PL_V8: 8,
    PL_V9: 9,
}
"""Process-list block type -> layout version."""

FDLIST_TYPES = frozenset({FDL, FDL_INT, FDL_V2})
IFLIST_TYPES = frozenset({IL, IL_INT, IL_V2})
USERLIST_TYPES = frozenset({UL, UL_INT, UL_V2})
MACHINE_INFO_TYPES = frozenset({MI, MI_INT})

# Event blocks: type -> (header carries nparams, body starts with 32-bit dump flags)
EVENT_TYPES: dict[int, tuple[bool, bool]] = {
    EV: (False, False),
    EV_INT: (False, False),
    EVF: (False, True),
    EV_V2: (True, False),
    EV_V2_LARGE: (True, False),
    EVF_V2: (True, True),
    EVF_V2_LARGE: (True, True),
}
LARGE_EVENT_TYPES = frozenset({EV_V2_LARGE, EVF_V2_LARGE})
MAX_SMALL_EVENT_BLOCK = 1 << 16
