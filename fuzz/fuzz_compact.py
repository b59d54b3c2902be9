"""atheris harness for `compact`: alerts.compact.decode_alert."""

from fuzz.harness import main

if __name__ == "__main__":
    main("compact")
