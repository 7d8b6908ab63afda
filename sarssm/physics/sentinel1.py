"""Sentinel-1 Level-0 packet fields and orbit state vectors as physical quantities.

Plain functions, no I/O: `sarssm.data.maya4` decodes a product's metadata with them and
`sarssm.sim.maya4_layout` inverts them to write products that decode to a chosen geometry.

Symbols: F_ref reference frequency, PRI pulse repetition interval, SWST sampling window start
time, rank the number of PRIs between a pulse and its echo window, f_s range sampling rate,
TXPRR chirp ramp rate, TXPL pulse length, H |ECEF position|, Vs |ECEF velocity|, Re the Earth
radius under the platform, R slant range, beta the angle at the Earth's centre between the
platform and the target, Vg = Re (Vs / H) cos(beta) the beam's ground speed, Vr = sqrt(Vs Vg).

    PRF    = 1 / PRI,                      PRI  = code / F_ref            (section 3.2.5.10)
    R_near = c/2 (rank PRI + SWST + dt_suppr), SWST = code / F_ref,
             dt_suppr = 320 / (8 F_ref)                         (sections 3.2.5.9, 3.2.5.11)
    f_s    = (L / M) 4 F_ref, (L, M) from the range decimation code      (section 3.2.5.4)
    dR     = c / (2 f_s)
    B      = |TXPRR| TXPL,  TXPRR = +-m F_ref^2 / 2^21 (bit 15: 1 up), TXPL = code / F_ref
                                                                (sections 3.2.5.6, 3.2.5.8)
    lambda = c / 5.405 GHz (the carrier is a mission constant, not a packet field)

Sections are those of S1-IF-ASD-PL-0007 "Sentinel-1 SAR Space Packet Protocol Data Unit"
(issue 13), as cited by s1isp (github.com/avalentino/s1isp, `descriptors.py`, `enums.py`,
`luts.py`); the decimation table and constants agree with sentinel1decoder
(github.com/Rich-Hall/sentinel1decoder, `enums.py`, `constants.py`); dt_suppr, the slant range
of a sample and the effective velocity follow the sarpyx focuser
(github.com/ESA-PhiLab/sarpyx, `processor/core/focus.py`).

Effective velocity: Vr = sqrt(Vs Vg) is the standard approximation (Cumming & Wong, "Digital
Processing of Synthetic Aperture Radar Data", 2005). On a spherical Earth and a
circular orbit it is exact to second order: R(t)^2 = H^2 + Re^2 - 2 H Re cos(beta)
cos(Vs t / H) = R0^2 + Vs Vg t^2 + O(t^4). The state vectors are ECEF, so Vs is relative to the
rotating Earth, on which the targets are at rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from sarssm.physics.geometry import C_LIGHT

F_REF_HZ = 37.53472224e6  # F_ref (S1-IF-ASD-PL-0007)
CARRIER_HZ = 5.405e9  # Sentinel-1 C-band carrier (mission constant, not in the packets)
ANTENNA_LENGTH_M = 12.3  # Sentinel-1 antenna length (mission constant)
ALTITUDE_M = 693_000.0  # Sentinel-1 mean orbit altitude
DELTA_T_SUPPR_S = 320.0 / (8.0 * F_REF_HZ)  # decimation filter transient (section 3.2.5.11)
TXPRR_SCALE = F_REF_HZ**2 / 2**21  # Hz/s per TXPRR magnitude unit (section 3.2.5.6)
TXPSF_SCALE = F_REF_HZ / 2**14  # Hz per TXPSF magnitude unit (section 3.2.5.7)
FINE_TIME_SCALE = 2.0**-16  # s per fine-time unit: t = (code + 0.5) 2^-16 (section 3.2.1.2)
TIME_STAMP_SCALE = 2.0**-24  # s per unit of a raw PVT / attitude time stamp
WGS84_A_M = 6_378_137.0
WGS84_B_M = 6_356_752.314245
GPS_EPOCH = datetime(1980, 1, 6)
GPS_UTC_OFFSET_S = 18  # leap seconds GPS - UTC since 2017-01-01
# fmt: off
# Range decimation code -> (L, M): f_s = L / M * 4 F_ref (section 3.2.5.4)
RANGE_DECIMATION = {0: (3, 4), 1: (2, 3), 3: (5, 9), 4: (4, 9), 5: (3, 8), 6: (1, 3),
                    7: (1, 6), 8: (3, 7), 9: (5, 16), 10: (3, 26), 11: (4, 11)}
# ECC number -> stripmap beam (table 3.2-4: 1-4 S1-S4, 5 S5-N, 6 S6, 10 S5-S, 11-14 S1-S4
# without interleaved calibration, 25/26 S5-N/S and 27 S6 likewise); other modes: none
ECC_SWATH = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 10: 5, 11: 1, 12: 2, 13: 3, 14: 4,
             25: 5, 26: 5, 27: 6}
# fmt: on


def seconds_from_code(value: float) -> float:
    """A PRI / SWST / SWL / TXPL value in seconds: below 1 it is one, else a count of 1/F_ref."""
    return value if abs(value) < 1.0 else value / F_REF_HZ


def sample_rate_hz(code: float) -> float:
    """Range sampling rate f_s [Hz] of a range decimation code (or f_s itself above 1 MHz)."""
    if code > 1e6:
        return float(code)
    if code != int(code) or int(code) not in RANGE_DECIMATION:
        raise ValueError(
            f"unknown range decimation code {code!r} (codes {sorted(RANGE_DECIMATION)})"
        )
    num, den = RANGE_DECIMATION[int(code)]
    return num / den * 4.0 * F_REF_HZ


def ramp_rate_hz_per_s(value: float) -> float:
    """TXPRR [Hz/s]: a raw 16-bit code (bit 15 sign, 1 = up-chirp; 15-bit magnitude) when an
    integer in [0, 65535], else already in Hz/s."""
    if value == int(value) and 0 <= value <= 0xFFFF:
        code = int(value)
        sign = 1.0 if code >> 15 else -1.0
        return sign * (code & 0x7FFF) * TXPRR_SCALE
    return value


def near_range_m(rank: int, pri_s: float, swst_s: float) -> float:
    """Slant range of the first sample: c/2 (rank PRI + SWST + dt_suppr) [m]."""
    return 0.5 * C_LIGHT * (rank * pri_s + swst_s + DELTA_T_SUPPR_S)


def earth_radius_m(position: np.ndarray) -> np.ndarray:
    """WGS84 radius Re at the geocentric latitude of ECEF `position` [..., 3] (as sarpyx)."""
    p = np.asarray(position, dtype=np.float64)
    lat = np.arctan2(p[..., 2], np.hypot(p[..., 0], p[..., 1]))
    c2, s2 = np.cos(lat) ** 2, np.sin(lat) ** 2
    a, b = WGS84_A_M, WGS84_B_M
    return np.sqrt((a**4 * c2 + b**4 * s2) / (a**2 * c2 + b**2 * s2))


def effective_velocity(position: np.ndarray, velocity: np.ndarray, slant_range_m: Any) -> Any:
    """Vr = sqrt(Vs Vg) [m/s] at slant range R of a platform at ECEF `position` [3] moving at
    `velocity` [3]; ValueError when R is shorter than the platform's height above Re."""
    p, v = np.asarray(position, np.float64), np.asarray(velocity, np.float64)
    H, Vs, Re = float(np.linalg.norm(p)), float(np.linalg.norm(v)), float(earth_radius_m(p))
    R = np.asarray(slant_range_m, dtype=np.float64)
    cos_beta = (Re**2 + H**2 - R**2) / (2.0 * Re * H)
    if np.any(R <= H - Re) or np.any(cos_beta <= 0.0):
        raise ValueError(
            f"slant range {float(np.min(R)):.1f} m does not reach the ground from "
            f"{(H - Re) / 1e3:.1f} km altitude (or passes the horizon)"
        )
    vg = Re * (Vs / H) * cos_beta
    out = np.sqrt(Vs * vg)
    return float(out) if out.ndim == 0 else out


def polarization_from_codes(pol_code: int, rx_channel: int | None) -> str:
    """'hh' / 'hv' / 'vh' / 'vv' from the POL code (0-3 Tx H, 4-7 Tx V; 1/5 Rx H, 2/6 Rx V,
    0/3/4/7 Rx from the channel) and the Rx channel id (0 V, 1 H)."""
    if pol_code not in range(8):
        raise ValueError(f"polarisation code {pol_code} is not in 0-7")
    tx = "h" if pol_code < 4 else "v"
    rx = {1: "h", 2: "v"}.get(pol_code % 4)
    if rx is None:
        if rx_channel not in (0, 1):
            raise ValueError(f"Rx channel id {rx_channel!r} is not 0 (V) or 1 (H)")
        rx = "v" if rx_channel == 0 else "h"
    return tx + rx


def fine_time_s(value: float) -> float:
    """Fine time [s]: below 1 it is seconds, else a raw 16-bit code, (code + 0.5) 2^-16."""
    return value if value < 1.0 else (value + 0.5) * FINE_TIME_SCALE


def time_stamp_s(value: Any) -> Any:
    """An ephemeris time stamp [s]: raw (units of 2^-24 s, as sarpyx's focuser divides it) above
    2^40, else already seconds; scalar or array."""
    t = np.asarray(value, dtype=np.float64)
    out = np.where(t > 2.0**40, t * TIME_STAMP_SCALE, t)
    return float(out) if out.ndim == 0 else out


def gps_seconds(when: datetime) -> float:
    """GPS time [s] of a UTC datetime (18 leap seconds: valid after 2017-01-01)."""
    return (when - GPS_EPOCH).total_seconds() + GPS_UTC_OFFSET_S
