"""Process measurements of the demo manufacturer: two characteristics per production unit,
measured weekly in subgroups of 5, for the SPC charts (see docs/demo-model.md, "Process
measurements").

Each characteristic is normal around its target with a within-process sigma that shrinks with the
unit's TQM practice (sigma * exp(-0.15 q_u)). One characteristic, the shaft diameter at the
Augsburg plant, has a planted shift: its mean moves up by 2 sigma over the last
``SHIFT_SUBGROUPS`` weeks (spindle wear), so its x-bar chart signals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qualityloop.records.quality.models import ProcessMeasurement
from qualityloop.services.demo.calendar import Calendar
from qualityloop.services.demo.causal_model import World
from qualityloop.services.demo.organisation import OPERATING_UNITS, Organisation
from qualityloop.services.demo.writer import stamp

SUBGROUPS = 60  # weeks
SUBGROUP_SIZE = 5
SHIFT_SUBGROUPS = 10
SHIFT_SIGMAS = 2.0
SIGMA_TQM_SLOPE = -0.15
# unit name -> (characteristic, unit of measure, target, sigma, lsl, usl)
Spec = tuple[str, str, float, float, float | None, float | None]
CHARACTERISTICS: dict[str, tuple[Spec, ...]] = {
    "Augsburg Plant": (("Shaft diameter", "mm", 12.0, 0.004, 11.985, 12.015),
                       ("Housing bore depth", "mm", 35.0, 0.02, 34.92, 35.08)),
    "Brno Plant": (("Gear backlash", "arcmin", 6.0, 0.35, 4.5, 7.5),
                   ("Bearing press-fit force", "kN", 8.0, 0.25, 7.0, 9.0)),
    "Gearbox Assembly": (("Output torque", "Nm", 40.0, 0.8, 37.0, 43.0),
                         ("Assembly cycle time", "s", 95.0, 3.0, None, 108.0)),
    "Eindhoven Plant": (("Solder paste height", "um", 120.0, 4.0, 105.0, 135.0),
                        ("Encoder disc runout", "um", 8.0, 1.2, None, 13.0)),
    "Porto Plant": (("Crimp height", "mm", 1.85, 0.012, 1.81, 1.89),
                    ("Coating thickness", "um", 25.0, 1.5, 20.0, 30.0)),
    "Encoder Line": (("Signal amplitude", "V", 1.0, 0.015, 0.95, 1.05),
                     ("Index pulse width", "us", 2.0, 0.05, 1.85, 2.15)),
}
SHIFTED = ("Augsburg Plant", "Shaft diameter")

Write = Callable[[type, dict, str], int]


def build_process_measurements(rng, write: Write, cal: Calendar, org: Organisation,
                               world: World) -> int:
    """Weekly subgroups of 5 for every characteristic of ``CHARACTERISTICS``, the last
    ``SUBGROUPS`` weeks before the demo's today; returns the number of measurements."""
    weeks = cal.today - 7 * np.arange(SUBGROUPS, 0, -1)
    columns: dict[str, list] = {name: [] for name in (
        "org_unit_id", "characteristic", "subgroup", "value", "unit_of_measure", "lsl", "usl")}
    days: list[np.datetime64] = []
    for index, (unit_name, _kind, _division) in enumerate(OPERATING_UNITS):
        for spec in CHARACTERISTICS.get(unit_name, ()):
            sigma = spec[3] * float(np.exp(SIGMA_TQM_SLOPE * world.units.tqm[index]))
            values = _values(rng, spec[2], sigma, (unit_name, spec[0]) == SHIFTED)
            _add(columns, days, int(org.unit_ids[index]), spec, weeks, values)
    n = len(days)
    dates = np.array(days, dtype="datetime64[D]")
    return write(ProcessMeasurement, {
        "id": np.arange(1, n + 1), "external_id": [f"PM-{i:06d}" for i in range(1, n + 1)],
        **columns, "measured_at": stamp(dates, hour=10), "created_at": stamp(dates, hour=11),
    }, "Process measurements")


def _values(rng, target: float, sigma: float, shifted: bool) -> np.ndarray:
    values = rng.normal(target, sigma, size=(SUBGROUPS, SUBGROUP_SIZE))
    if shifted:
        values[-SHIFT_SUBGROUPS:] += SHIFT_SIGMAS * sigma
    return values


def _add(columns: dict[str, list], days: list, unit_id: int, spec: tuple, weeks: np.ndarray,
         values: np.ndarray) -> None:
    name, uom, _target, _sigma, lsl, usl = spec
    decimals = max(0, 3 - int(np.floor(np.log10(spec[3]))))  # about 3 significant digits of sigma
    for week, subgroup in zip(weeks, values, strict=True):
        label = f"{name[:3].upper()}-{week.astype('datetime64[D]')}"
        for value in subgroup:
            columns["org_unit_id"].append(unit_id)
            columns["characteristic"].append(name)
            columns["subgroup"].append(label)
            columns["value"].append(round(float(value), decimals))
            columns["unit_of_measure"].append(uom)
            columns["lsl"].append(lsl)
            columns["usl"].append(usl)
            days.append(week)
