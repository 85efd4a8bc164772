"""Frames as other people's code and Shure's documents show them, with what the daemon
must make of them (``test_frames_shure.py`` replays each case through a real daemon).

Every frame names its source next to it. Where a source gives only a shape (a template
such as ``REPORT x CHAN_NAME vvvvvvvv``) the values are ours and the note says so. Facts
carry over, code does not: nothing here is anyone's code, only their frame strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------- sources

MICBOARD_DOC = "Shure Micboard, karlcswanson/micboard docs/shurecontrol.md"
MICBOARD_MIC = "Micboard py/mic.py (SAMPLE field positions; TX_BAT 'U'; peak at 40)"
MICBOARD_CFG = "Micboard py/device_config.py (command strings per family)"
MICBOARD_IEM = "Micboard py/iem.py (AUDIO_IN_LVL bucket thresholds)"
COMPANION_TEST = ("bitfocus/companion-module-shure-wireless tests/regression.test.mjs "
                  "@04d905e")
COMPANION_SLXD_PLUS = ("bitfocus/companion-module-shure-wireless docs/SLXDplus-protocol.md "
                       "@04d905e (captured from an SLXD4QDAN+, firmware 2.0.38.9)")
COMPANION_API = "bitfocus/companion-module-shure-wireless src/internalAPI.js (value formats)"
COMPANION_PSM = ("bitfocus/companion-module-shure-psm1000 src/index.js (REPORT verb, CR LF) "
                 "and src/internalAPI.js (value formats)")
RFDECK = ("schplay/RFDeck apps/server/src/hardware/shure/protocol.test.ts @0a34587 "
          "(strings quoted from Shure's Axient Digital command strings)")
HA_SLXD = "scgreenhalgh/homeassistant_shure_slxd pyslxd/tests/conftest.py"
HA_SLXD_RSSI = ("scgreenhalgh/homeassistant_shure_slxd commit 30314e1 "
                "(RSSI per antenna 'RSSI 1 083' or combined 'RSSI 068')")
QLXD_SIM = ("third-party 'Shure QLXD receiver simulator for micboard development' "
            "(Python; answers only GET n ALL, bare names, device values on channel 1)")
SHURE_SLXD = "Shure SLX-D command strings, SAMPLE example (pubs.shure.com/command-strings/SLXD)"
SHURE_ULXD = "Shure ULX-D command strings (pubs.shure.com/command-strings/ULXD)"
SHURE_PSM = "Shure PSM1000 command strings, example messages (pubs.shure.com)"
SHURE_MD_UHFR = "shure.md section 6 (Shure's UHF-R AMX/Crestron strings)"
OURS = "; values ours"


@dataclass(frozen=True, slots=True)
class F:
    """One frame and where it was seen."""

    wire: bytes
    source: str


@dataclass(frozen=True, slots=True)
class Case:
    """A device that answers commands with frames, and what /api/state must then show
    (``"dev:model"`` device fields, ``"1:rf.rssi_dbm"`` channel fields)."""

    id: str
    driver: str
    answers: Mapping[str, Sequence[F]]
    expect: Mapping[str, Any]
    stream: Sequence[F] = ()
    device: Mapping[str, Any] = field(default_factory=dict)
    udp: bool = False
    #: every frame is followed by CR LF on the wire (PSM1000 peers)
    crlf: bool = False
    #: commands the daemon must have sent by the time the values hold
    asked: Sequence[str] = ()

    def wire(self, frames: Sequence[F]) -> list[bytes]:
        return [f.wire + (b"\r\n" if self.crlf else b"") for f in frames]


# ------------------------------------------------------------------------- ULX-D

ULXD = Case(
    "ulxd-get0-all", "shure-ulxd",
    answers={
        "GET 0 ALL": [
            F(b"< REP 1 CHAN_NAME {Lead Vox} >", RFDECK + " (splitMessages)"),
            F(b"< REP 1 BATT_BARS 004 >", MICBOARD_DOC),
            F(b"< REP 1 FREQUENCY 578350 >", SHURE_ULXD + ", 6-digit kHz as in shure.md"),
            F(b"< REP 1 TX_TYPE ULXD2 >", COMPANION_API + " (TX_TYPE values)"),
        ],
    },
    stream=[F(b"< SAMPLE 1 ALL AX 050 040 >", COMPANION_TEST)],
    device={"model": "ULXD4"},
    expect={
        "dev:link": "online",
        "1:name": "Lead Vox",
        "1:tx.battery_bars": 4,
        "1:tx.model": "ULXD2",
        "1:frequency_khz": 578350,
        "1:rf.antennas": "A",
        "1:audio.dbfs": -10,
        # audio 040 = -10 dBFS: a peak, as Micboard counts it (py/mic.py PEAK_LEVEL 80/2)
        "1:audio.peak": True,
        "1:status": "AUDIO_PEAK",
    },
)

ULXD_MICBOARD_SAMPLE = Case(
    "ulxd-micboard-sample", "shure-ulxd",
    answers={"GET 0 ALL": [F(b"< REP 1 BATT_BARS 004 >", MICBOARD_DOC)]},
    stream=[F(b"< SAMPLE 1 ALL XB 035 098 >", MICBOARD_DOC)],
    device={"model": "ULXD4"},
    expect={
        "1:rf.antennas": "B",
        "1:rf.level_pct": 30,  # 035 of 115
        "1:audio.level_pct": 100,  # 098 is off the 0..50 scale: read as full scale
        "1:audio.peak": True,
        "1:status": "AUDIO_PEAK",
    },
)

# ------------------------------------------------------------------------- QLX-D

_QLXD_GET1 = [
    F(b"< REP 1 CHAN_NAME Choir L >\n", QLXD_SIM + ", CHANNEL_NAMES"),
    F(b"< REP 1 FREQUENCY 470125 >\n", QLXD_SIM),
    F(b"< REP 1 GROUP_CHAN 01,01 >\n", QLXD_SIM),
    F(b"< REP 1 BATT_BARS 005 >\n", QLXD_SIM),
    F(b"< REP 1 BATT_CHARGE 100 >\n", QLXD_SIM),
    F(b"< REP 1 BATT_RUN_TIME 00480 >\n", QLXD_SIM),
    F(b"< REP 1 BATT_TYPE LION >\n", QLXD_SIM),
    F(b"< REP 1 RF_ANTENNA AB >\n", QLXD_SIM),
    F(b"< REP 1 RF_INT_DET NONE >\n", QLXD_SIM),
    F(b"< REP 1 TX_TYPE QLXD2 >\n", QLXD_SIM),
    F(b"< REP 1 TX_OFFSET 012 >\n", QLXD_SIM + OURS + " (it draws 000..021)"),
    F(b"< REP 1 TX_LOCK OFF >\n", QLXD_SIM),
    F(b"< REP 1 ENCRYPTION OFF >\n", QLXD_SIM),
    F(b"< REP 1 FW_VER 2.4.23 >\n", QLXD_SIM),
    F(b"< REP 1 DEVICE_ID QLXD-SIM-1 >\n", QLXD_SIM),
    F(b"< REP 1 AUDIO_OUT_LVL_SW MIC >\n", QLXD_SIM),
]

QLXD = Case(
    # never answers GET 0 ALL nor any device-level GET (the keepalive among them)
    "qlxd-only-get-n-all", "shure-qlxd",
    answers={
        "GET 1 ALL": _QLXD_GET1,
        "SET 1 METER_RATE 00100": [F(b"< REP 1 METER_RATE 00100 >\n", QLXD_SIM)],
    },
    stream=[F(b"< SAMPLE 1 ALL AB 080 030 >\n", QLXD_SIM + " (generate_sample)" + OURS)],
    expect={
        "dev:link": "online",
        "dev:firmware": "2.4.23",
        "dev:device_name": "QLXD-SIM-1",
        "1:name": "Choir L",
        "1:frequency_khz": 470125,
        "1:group_channel": "01,01",
        "1:tx.model": "QLXD2",
        "1:tx.battery_bars": 5,
        "1:tx.battery_percent": 100,
        "1:tx.battery_minutes": 480,
        "1:tx.offset_db": 12,
        "1:rf.antennas": "AB",
        "1:rf.interference": False,
        "1:status": "GOOD",
    },
    asked=["GET 0 ALL", "GET 1 ALL"],
)

# ------------------------------------------------------------------------- SLX-D

_SLXD_DEVICE = {
    "GET MODEL": [F(b"< REP MODEL {SLXD4D                          } >", HA_SLXD)],
    "GET FW_VER": [F(b"< REP FW_VER {2.0.15.2                } >", HA_SLXD)],
    "GET DEVICE_ID": [F(b"< REP DEVICE_ID {SLXD4D01} >", HA_SLXD)],
}

SLXD_REPORTS = Case(
    "slxd-reports", "shure-slxd",
    answers={
        **_SLXD_DEVICE,
        "GET 0 ALL": [
            F(b"< REP RF_BAND {G55     } >", HA_SLXD),
            F(b"< REP LOCK_STATUS ALL >", HA_SLXD),
            F(b"< REP 1 CHAN_NAME {Lead Vox                       } >", HA_SLXD),
            F(b"< REP 1 AUDIO_GAIN 030 >", HA_SLXD),
            F(b"< REP 1 AUDIO_OUT_LVL_SWITCH MIC >", HA_SLXD),
            F(b"< REP 1 FREQUENCY 0578350 >", HA_SLXD),
            F(b"< REP 1 GROUP_CHANNEL {1,1  } >", HA_SLXD),
            F(b"< REP 1 AUDIO_LEVEL_PEAK 102 >", HA_SLXD),
            F(b"< REP 1 AUDIO_LEVEL_RMS 095 >", HA_SLXD),
            F(b"< REP 1 RSSI 1 083 >", HA_SLXD),
            F(b"< REP 1 RSSI 2 064 >", HA_SLXD_RSSI + "; 064 from issue #14's capture"),
            F(b"< REP 1 TX_MODEL SLXD2 >", HA_SLXD),
            F(b"< REP 1 TX_BATT_BARS 004 >", HA_SLXD),
            F(b"< REP 1 TX_BATT_MINS 00125 >", HA_SLXD),
            F(b"< REP 2 RSSI 068 >", HA_SLXD_RSSI),
            F(b"< REP 2 GROUP_CHAN 1,2 >", "homeassistant_shure_slxd pyslxd/mock/protocol.py "
              "(GROUP_CHAN spelling)" + OURS),
        ],
    },
    device={"meter_rate_ms": 0},
    expect={
        "dev:model": "SLXD4D",
        "dev:firmware": "2.0.15.2",
        "dev:device_name": "SLXD4D01",
        "1:name": "Lead Vox",
        "1:audio.gain_db": 12,
        "1:frequency_khz": 578350,
        "1:group_channel": "1,1",
        "1:audio.peak_dbfs": -18,
        "1:audio.dbfs": -25,
        "1:rf.rssi_dbm": -37,  # the stronger antenna, not the last reported
        "1:tx.model": "SLXD2",
        "1:tx.battery_bars": 4,
        "1:tx.battery_minutes": 125,
        "1:status": "GOOD",
        "2:rf.rssi_dbm": -52,
        "2:group_channel": "1,2",
        # SLX-D has no antenna diversity data: null, never zero
        "1:rf.antennas": None,
        "1:rf.quality": None,
    },
)

SLXD_SAMPLE = Case(
    "slxd-sample", "shure-slxd",
    answers={**_SLXD_DEVICE, "GET 0 ALL": [F(b"< REP 1 TX_BATT_BARS 004 >", HA_SLXD)]},
    stream=[F(b"< SAMPLE 1 ALL 102 102 086 >", SHURE_SLXD + " as quoted by "
              + COMPANION_SLXD_PLUS)],
    expect={
        "1:rf.rssi_dbm": -34,
        "1:audio.dbfs": -18,
        "1:audio.peak_dbfs": -18,
        "1:audio.peak": False,
        "1:rf.antennas": None,
    },
)

_P = COMPANION_SLXD_PLUS
SLXD_PLUS_QUAD = Case(
    # refuses GET 0 ALL: all four channels must be asked one by one
    "slxd4qdan-plus", "shure-slxd",
    answers={
        "GET MODEL": [F(b"< REP MODEL {SLXD4QDAN+                      } >",
                        _P + " (model matrix; 32-wide padding per the MODEL row)")],
        "GET FW_VER": [F(b"< REP FW_VER {2.0.38.9                } >", _P)],
        "GET 0 ALL": [F(b"< REP ERR >", _P + " (firmware deviations table)")],
        "GET 1 ALL": [
            F(b"< REP 1 TX_MODEL SLXD1+ >", _P),
            F(b"< REP 1 LINK_STATUS 1 online  >", _P),
            F(b"< REP 1 SLOT_TX_MODEL 1 {SLXD1+    } >", _P),
            F(b"< REP 1 LINK_STATUS 2 offline >", _P),
            F(b"< REP 1 SLOT_TX_MODEL 2 {          } >", _P),
            F(b"< REP 1 LINK_TX_BATT_MINS 1 00494 >", _P),
            F(b"< REP 1 TX_BATT_BARS 004 >", _P),
            F(b"< REP 1 ANTENNA_STATUS XB >", _P),
            F(b"< REP 1 FREQUENCY 0602125 >", _P),
            F(b"< REP 1 GROUP_CHANNEL {6,100} >", _P),
            F(b"< REP 1 RSSI 096 >", _P),
        ],
        "GET 2 ALL": [F(b"< REP 2 CHAN_NAME {Lead Vox                       } >", _P)],
        "GET 3 ALL": [
            F(b"< REP 3 TX_MODEL UNKNOWN >", _P + " (empty channel)"),
            F(b"< REP 3 TX_BATT_BARS 255 >", _P),
            F(b"< REP 3 TX_BATT_MINS 65535 >", _P),
            F(b"< REP 3 SLOT_TX_MODEL 1 {          } >", _P),
            F(b"< REP 3 LINK_STATUS 1 offline >", _P),
            F(b"< REP 3 SLOT_TX_MODEL 2 {          } >", _P),
            F(b"< REP 3 LINK_STATUS 2 offline >", _P),
        ],
        "GET 4 ALL": [
            F(b"< REP 4 TX_MODEL SLXD2+ >", _P),
            F(b"< REP 4 LINK_STATUS 1 offline >", _P),
            F(b"< REP 4 SLOT_TX_MODEL 1 {          } >", _P),
            F(b"< REP 4 LINK_STATUS 2 online  >", _P),
            F(b"< REP 4 SLOT_TX_MODEL 2 {SLXD2+    } >", _P),
            F(b"< REP 4 TX_BATT_BARS 004 >", _P),
        ],
        "GET 1 LINK_TX_MODEL 1": [F(b"< REP ERR >", _P)],
    },
    device={"meter_rate_ms": 0},
    expect={
        "dev:model": "SLXD4QDAN+",
        "dev:firmware": "2.0.38.9",
        "1:tx.model": "SLXD1+",
        "1:tx.battery_minutes": 494,
        "1:rf.antennas": "B",
        "1:frequency_khz": 602125,
        "1:group_channel": "6,100",
        "1:rf.rssi_dbm": -24,
        "1:status": "GOOD",
        "2:name": "Lead Vox",
        "3:tx.model": None,
        "3:tx.present": False,
        "3:tx.battery_bars": None,
        "4:tx.model": "SLXD2+",
        "4:status": "GOOD",
    },
    asked=["GET 0 ALL", "GET 1 ALL", "GET 2 ALL", "GET 3 ALL", "GET 4 ALL"],
)

# ------------------------------------------------------------------------- Axient Digital

AXIENT_SAMPLES = Case(
    "axient-sample-layouts", "shure-axient",
    answers={
        "GET MODEL": [F(b"< REP MODEL {AD4Q                            } >",
                        "shure.md section 4 (MODEL, 32 wide)" + OURS)],
        "GET DEVICE_ID": [F(b"< REP DEVICE_ID {AD4Q-A } >", RFDECK)],
        "GET 0 ALL": [
            F(b"< REP 1 CHAN_NAME {Lead Vox                       } >", RFDECK),
            F(b"< REP 1 TX_BATT_BARS 004 >", RFDECK),
            F(b"< REP 1 TX_DEVICE_ID {  } >", RFDECK),
            F(b"< REP 1 FREQUENCY 0578350 >", RFDECK + " (7-digit kHz)"),
        ],
    },
    stream=[
        F(b"< SAMPLE 1 ALL 005 031 102 102 BB 31 086 31 065 >", RFDECK + " (standard)"),
        F(b"< SAMPLE 2 ALL 005 031 102 102 BBBB 31 083 31 068 31 069 31 072 >",
          RFDECK + " (quadversity)"),
        F(b"< SAMPLE 3 ALL 005 031 102 102 BB 31 082 31 060 BB 31 082 31 060 >",
          RFDECK + " (frequency diversity combined)"),
        F(b"< SAMPLE 4 ALL 255 031 102 102 BB 31 086 31 065 >", RFDECK + " (quality 255)"),
    ],
    expect={
        "dev:model": "AD4Q",
        "dev:device_name": "AD4Q-A",
        "1:name": "Lead Vox",
        "1:tx.battery_bars": 4,
        "1:frequency_khz": 578350,
        "1:rf.antennas": "AB",
        "1:rf.rssi_dbm": -34,
        "1:rf.quality": 5,
        "1:audio.dbfs": -18,
        "2:rf.antennas": "ABCD",
        "2:rf.rssi_dbm": -37,
        "3:rf.antennas": "AB",
        "3:rf.rssi_dbm": -38,
        "3:rf.quality": 5,
        "4:rf.quality": None,
        "4:rf.rssi_dbm": -34,
    },
)

AXIENT_ANTENNA_REPORTS = Case(
    "axient-antenna-reports", "shure-axient",
    answers={
        "GET 0 ALL": [
            F(b"< REP 1 RSSI 1 083 >", RFDECK),
            F(b"< REP 1 RSSI 2 090 >", RFDECK + " (RSSI shape)" + OURS),
            F(b"< REP 1 ANTENNA_STATUS BRXB >", RFDECK),
        ],
    },
    device={"meter_rate_ms": 0},
    expect={
        # B blue, R red (active, flagged), X off, B blue: antennas A, B and D
        "1:rf.antennas": "ABD",
        "1:rf.antenna_warning": True,
        "1:rf.rssi_dbm": -30,
    },
)

# ------------------------------------------------------------------------- UHF-R

_U = MICBOARD_CFG + " and " + SHURE_MD_UHFR + OURS
UHFR = Case(
    "uhfr-star-frames", "shure-uhfr", udp=True,
    answers={
        "GET 1 CHAN_NAME": [F(b"* REPORT 1 CHAN_NAME SAX L *", _U)],
        "GET 1 TX_BAT": [F(b"* REPORT 1 TX_BAT 4 *", _U)],
        "GET 1 GROUP_CHAN": [F(b"* REPORT 1 GROUP_CHAN 01 05 *", SHURE_MD_UHFR + OURS)],
        "GET 1 FREQUENCY": [F(b"* REPORT 1 FREQUENCY 578350 *", SHURE_MD_UHFR + OURS)],
        "GET 2 TX_BAT": [F(b"* REPORT 2 TX_BAT U *", MICBOARD_MIC + " (TX_BAT 'U')")],
    },
    stream=[F(b"* SAMPLE 1 ALL AX 020 100 4 255 *", MICBOARD_MIC + " (positions)" + OURS)],
    device={"model": "UR4D"},
    expect={
        "dev:link": "online",
        "1:name": "SAX L",
        "1:tx.battery_bars": 4,
        "1:group_channel": "01,05",
        "1:frequency_khz": 578350,
        "1:rf.antennas": "A",
        "1:rf.level_pct": 100,  # 20 is the strongest: (100 - 20) * 100 / 80
        "1:audio.peak": True,
        "2:tx.battery_bars": None,
    },
)

# ------------------------------------------------------------------------- PSM1000

_PSM = SHURE_PSM + " / " + COMPANION_PSM + OURS
PSM1000 = Case(
    "psm1000-report-verb", "shure-psm1000", crlf=True,
    answers={
        "GET DEVICE_NAME": [F(b"< REPORT DEVICE_NAME P10T >", _PSM)],
        "GET 1 CHAN_NAME": [F(b"< REPORT 1 CHAN_NAME IEM MARA >", _PSM)],
        "GET 1 GROUP_CHAN": [F(b"< REPORT 1 GROUP_CHAN 01,01 >", _PSM)],
        "GET 1 FREQUENCY": [F(b"< REPORT 1 FREQUENCY 518.250 >",
                              COMPANION_PSM + " (FREQUENCY xxx[.]yyy)" + OURS)],
        "GET 1 RF_MUTE": [F(b"< REPORT 1 RF_MUTE 0 >", _PSM + " (1 = mute, 0 = unmute)")],
    },
    stream=[F(b"< REPORT 1 AUDIO_IN_LVL_L 2502970 >", MICBOARD_IEM + ": top bucket"),
            F(b"< REPORT 1 AUDIO_IN_LVL_R 641928 >", MICBOARD_IEM)],
    expect={
        "dev:device_name": "P10T",
        "1:name": "IEM MARA",
        "1:group_channel": "01,01",
        "1:frequency_khz": 518250,
        "1:tx.muted": False,
        "1:tx.present": True,
        "1:audio.level_pct": 100,
        "1:audio.peak": True,
    },
)

CASES: tuple[Case, ...] = (
    ULXD, ULXD_MICBOARD_SAMPLE, QLXD, SLXD_REPORTS, SLXD_SAMPLE, SLXD_PLUS_QUAD,
    AXIENT_SAMPLES, AXIENT_ANTENNA_REPORTS, UHFR, PSM1000,
)
