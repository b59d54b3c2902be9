"""atheris harness for `wire`: wire.decode_message + decode_body."""

from fuzz.harness import main

if __name__ == "__main__":
    main("wire")
