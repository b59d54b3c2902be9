"""atheris harness for `capxml`: alerts.capxml.import_cap."""

from fuzz.harness import main

if __name__ == "__main__":
    main("capxml")
