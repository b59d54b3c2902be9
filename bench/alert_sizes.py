"""Compact body size of every real CAP 1.2 alert in tests/data/cap and of the example NL-Alert.

    python bench/alert_sizes.py
"""

from __future__ import annotations

from pathlib import Path

from meshnode.alerts.capxml import CapError, CapLimitError, CapVersionError, import_cap
from meshnode.alerts.compact import encode_alert
from meshnode.alerts.examples import example_nl_alert

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "cap"
NOW = 1_790_000_000


def main() -> None:
    print(f"{'file':<50} {'XML B':>7} {'compact B':>9}  note")
    for path in sorted(p for p in DATA.iterdir() if p.suffix in (".xml", ".cap")):
        xml = path.read_bytes()
        try:
            result, note = import_cap(xml), ""
        except CapVersionError as exc:
            print(f"{path.name:<50} {len(xml):>7} {'-':>9}  refused: CAP {exc.version}")
            continue
        except CapLimitError as exc:
            result, note = import_cap(xml, trim=True), f"trimmed ({exc.problems[0].where})"
        except CapError as exc:
            print(f"{path.name:<50} {len(xml):>7} {'-':>9}  refused: {exc}")
            continue
        print(f"{path.name:<50} {len(xml):>7} {len(encode_alert(result.alert)):>9}  {note}")
    example = example_nl_alert(NOW)
    chars = ", ".join(f"{i.language} {i.text_chars} chars" for i in example.infos)
    print(f"{'example_nl_alert (' + chars + ')':<50} {'':>7} {len(encode_alert(example)):>9}")


if __name__ == "__main__":
    main()
