"""PID's person details as FHIR Patient elements, both ways (v2-to-FHIR IG, PID -> Patient).

Read: ``person_elements`` gives the ``name`` entries after the first,
``address``, ``telecom`` and ``deceased[x]`` of a record's PatientDetails.
Write: ``details_from`` reads them back from a Patient, so a FHIR write and a
v2 PID with the same content give the same events. The concept maps:

- XPN-7 (table 0200) <-> name.use: L official, D usual, A usual (alias),
  M maiden, N nickname, S anonymous, B old (name at birth); back: the first.
- XAD-7 (table 0190) <-> address.use/type: H home, B work, O work, C temp,
  BA old, BI billing, M type postal; back: by use, else by type.
- XTN-2 (table 0201) / XTN-3 (table 0202) <-> telecom.use/system: PRN home,
  ORN home, VHN temp, WPN work; PH phone, CP phone with use mobile, FX fax,
  BP pager, Internet email, X.400 email. Back: e-mail is NET/Internet, a
  mobile phone CP, a fax FX, a pager BP, other phones PH.
- PID-30 Y/N -> deceasedBoolean, PID-29 -> deceasedDateTime (which wins when both).
- PID-15 -> communication[0].language (preferred), PID-16 -> maritalStatus, both
  as sent (code, text, coding system as for other coded values).
- PID-24 Y/N -> multipleBirthBoolean; PID-25 (a number) -> multipleBirthInteger,
  which wins when both. Back: an integer is PID-24 Y with PID-25.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from adapters.http.fhir_codes import codeable
from adapters.http.fhir_output import instant
from engine.domain.values import Address, Coded, ContactPoint, PatientDetails, PersonName

__all__ = ["NAME_USE", "NAME_USE_BACK", "details_from", "name_from", "person_elements"]

NAME_USE = {
    "L": "official",
    "D": "usual",
    "A": "usual",
    "M": "maiden",
    "N": "nickname",
    "S": "anonymous",
    "B": "old",
}
NAME_USE_BACK = {"official": "L", "usual": "D", "maiden": "M", "nickname": "N", "anonymous": "S"}
NAME_USE_BACK["old"] = "B"

_ADDRESS = {
    "H": ("home", ""),
    "B": ("work", ""),
    "O": ("work", ""),
    "C": ("temp", ""),
    "BA": ("old", ""),
    "BI": ("billing", ""),
    "M": ("", "postal"),
}
_ADDRESS_USE_BACK = {"home": "H", "work": "B", "temp": "C", "old": "BA", "billing": "BI"}
_TELECOM_USE = {"PRN": "home", "ORN": "home", "VHN": "temp", "WPN": "work"}
_TELECOM_USE_BACK = {"home": "PRN", "work": "WPN", "temp": "VHN"}
_SYSTEM = {"PH": "phone", "CP": "phone", "FX": "fax", "BP": "pager", "INTERNET": "email"}
_SYSTEM["X.400"] = "email"


def name_element(name: PersonName) -> dict[str, Any] | None:
    """One XPN as a HumanName (None when empty)."""
    out: dict[str, Any] = {}
    if use := NAME_USE.get(name.use):
        out["use"] = use
    if name.family:
        out["family"] = name.family
    given = [g for g in (name.given, name.middle) if g]
    if given:
        out["given"] = given
    if name.prefix:
        out["prefix"] = [name.prefix]
    if name.suffix:
        out["suffix"] = [name.suffix]
    return out or None


def name_from(name: dict[str, Any]) -> PersonName:
    """A HumanName as an XPN (given[0] the given name, the rest the middle names)."""
    given = [str(g) for g in name.get("given", [])]
    return PersonName(
        family=str(name.get("family", "")),
        given=given[0] if given else "",
        middle=" ".join(given[1:]),
        suffix=str((name.get("suffix") or [""])[0]),
        prefix=str((name.get("prefix") or [""])[0]),
        use=NAME_USE_BACK.get(str(name.get("use", "")), ""),
    )


def _address(a: Address) -> dict[str, Any]:
    use, kind = _ADDRESS.get(a.type.upper(), ("", ""))
    lines = [x for x in (a.street, a.other) if x]
    out: dict[str, Any] = {"use": use, "type": kind, "line": lines}
    out.update(city=a.city, state=a.state, postalCode=a.postal_code, country=a.country)
    return {k: v for k, v in out.items() if v}


def _address_from(data: dict[str, Any]) -> Address:
    lines = [str(x) for x in data.get("line", [])] + ["", ""]
    use = str(data.get("use", ""))
    kind = "M" if data.get("type") == "postal" else ""
    return Address(
        street=lines[0],
        other=" ".join(x for x in lines[1:] if x),
        city=str(data.get("city", "")),
        state=str(data.get("state", "")),
        postal_code=str(data.get("postalCode", "")),
        country=str(data.get("country", "")),
        type=_ADDRESS_USE_BACK.get(use, kind),
    )


def _telecom(t: ContactPoint) -> dict[str, Any]:
    equipment = t.equipment.upper()
    system = _SYSTEM.get(equipment) or ("email" if t.use.upper() == "NET" else "phone")
    use = "mobile" if equipment == "CP" else _TELECOM_USE.get(t.use.upper(), "")
    return {k: v for k, v in {"system": system, "value": t.value, "use": use}.items() if v}


def _telecom_from(data: dict[str, Any]) -> ContactPoint:
    system, use = str(data.get("system", "")), str(data.get("use", ""))
    value = str(data.get("value", ""))
    if system == "email":
        return ContactPoint(value, "NET", "Internet")
    equipment = {"fax": "FX", "pager": "BP"}.get(system, "CP" if use == "mobile" else "PH")
    return ContactPoint(value, _TELECOM_USE_BACK.get(use, "PRN"), equipment)


def person_elements(details: PatientDetails) -> dict[str, Any]:
    """The Patient elements PatientDetails fill: ``other_names`` (to append to
    ``name``), ``address``, ``telecom``, ``deceasedBoolean``/``deceasedDateTime``."""
    out: dict[str, Any] = {}
    names = [n for n in (name_element(x) for x in details.other_names) if n]
    if names:
        out["other_names"] = names
    if details.addresses:
        out["address"] = [_address(a) for a in details.addresses]
    if details.telecom:
        out["telecom"] = [_telecom(t) for t in details.telecom]
    if details.deceased_at is not None:
        out["deceasedDateTime"] = instant(details.deceased_at)
    elif details.deceased in ("Y", "N"):
        out["deceasedBoolean"] = details.deceased == "Y"
    if details.marital_status is not None:
        out["maritalStatus"] = codeable(details.marital_status)
    if details.birth_order.isdigit():
        out["multipleBirthInteger"] = int(details.birth_order)
    elif details.multiple_birth in ("Y", "N"):
        out["multipleBirthBoolean"] = details.multiple_birth == "Y"
    if details.language is not None:
        out["communication"] = [{"language": codeable(details.language), "preferred": True}]
    return out


def details_from(
    data: dict[str, Any],
    other_names: list[dict[str, Any]],
    coded: Callable[[dict[str, Any] | None], Coded],
) -> PatientDetails:
    """A Patient's other names, address, telecom, deceased[x], language, marital status
    and multipleBirth[x] as PatientDetails; ``coded`` reads a CodeableConcept."""
    deceased_at: datetime | None = None
    deceased = ""
    if data.get("deceasedDateTime"):
        value = data["deceasedDateTime"]
        deceased_at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        deceased = "Y"
    elif data.get("deceasedBoolean") is not None:
        deceased = "Y" if data["deceasedBoolean"] else "N"
    multiple, order = "", ""
    if data.get("multipleBirthInteger") is not None:
        multiple, order = "Y", str(data["multipleBirthInteger"])
    elif data.get("multipleBirthBoolean") is not None:
        multiple = "Y" if data["multipleBirthBoolean"] else "N"
    communication = data.get("communication") or []
    preferred = [c for c in communication if c.get("preferred")] or communication
    language = coded(preferred[0].get("language")) if preferred else None
    marital = coded(data["maritalStatus"]) if data.get("maritalStatus") else None
    return PatientDetails(
        other_names=tuple(name_from(n) for n in other_names),
        addresses=tuple(_address_from(a) for a in data.get("address", [])),
        telecom=tuple(_telecom_from(t) for t in data.get("telecom", []) if t.get("value")),
        deceased=deceased,
        deceased_at=deceased_at,
        language=language if language is not None and language.code else None,
        marital_status=marital if marital is not None and marital.code else None,
        multiple_birth=multiple,
        birth_order=order,
    )
