"""atheris harness for `verify`: authority.verify_* on any decodable message."""

from fuzz.harness import main

if __name__ == "__main__":
    main("verify")
